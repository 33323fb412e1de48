//! Supervised members: who supervises whom, the direct-message contacts a guardian allows,
//! and quiet hours. Every change is written with its audit line in one transaction.

use super::moderation::{insert_audit, NewAuditEntry};
use super::{Store, StoreError};
use crate::ids::UserId;
use crate::proto::QuietHours;
use rusqlite::{params, Connection, OptionalExtension};

/// One supervised member as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupervisionRecord {
    /// The supervised member.
    pub user_id: UserId,
    /// Their name.
    pub username: String,
    /// Their guardian (none once the guardian's account was deleted: admins look after them).
    pub guardian: Option<(UserId, String)>,
    /// The members they may write to besides the guardian, by name.
    pub contacts: Vec<(UserId, String)>,
    /// Their quiet hours.
    pub quiet_hours: Option<QuietHours>,
}

fn load(conn: &Connection, user_id: UserId) -> Result<Option<SupervisionRecord>, StoreError> {
    let row = conn
        .query_row(
            "SELECT u.username, s.guardian_id, g.username, s.quiet_start, s.quiet_end
             FROM supervision s JOIN users u ON u.id = s.user_id LEFT JOIN users g ON g.id = s.guardian_id
             WHERE s.user_id = ?1",
            [user_id],
            |row| {
                let guardian = match (row.get::<_, Option<UserId>>(1)?, row.get::<_, Option<String>>(2)?) {
                    (Some(id), Some(name)) => Some((id, name)),
                    _ => None,
                };
                let quiet = match (row.get::<_, Option<u16>>(3)?, row.get::<_, Option<u16>>(4)?) {
                    (Some(start), Some(end)) => QuietHours::new(start, end),
                    _ => None,
                };
                Ok((row.get::<_, String>(0)?, guardian, quiet))
            },
        )
        .optional()?;
    let Some((username, guardian, quiet_hours)) = row else {
        return Ok(None);
    };
    let contacts = conn
        .prepare_cached(
            "SELECT c.contact_id, u.username FROM supervision_contacts c JOIN users u ON u.id = c.contact_id
             WHERE c.user_id = ?1 ORDER BY u.username COLLATE NOCASE",
        )?
        .query_map([user_id], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(SupervisionRecord { user_id, username, guardian, contacts, quiet_hours }))
}

fn require_supervised(conn: &Connection, user_id: UserId) -> Result<(), StoreError> {
    let supervised: bool =
        conn.query_row("SELECT EXISTS (SELECT 1 FROM supervision WHERE user_id = ?1)", [user_id], |row| row.get(0))?;
    if supervised {
        Ok(())
    } else {
        Err(StoreError::NotFound)
    }
}

impl Store {
    /// Every supervised member.
    pub async fn supervisions(&self) -> Result<Vec<SupervisionRecord>, StoreError> {
        self.read(|conn| {
            let ids = conn
                .prepare("SELECT user_id FROM supervision")?
                .query_map([], |row| row.get::<_, UserId>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            let mut records = Vec::with_capacity(ids.len());
            for id in ids {
                records.extend(load(conn, id)?);
            }
            Ok(records)
        })
        .await
    }

    /// Marks `user_id` supervised by `guardian_id` (or moves their supervision to that guardian,
    /// keeping contacts and quiet hours); answers the record.
    pub(crate) async fn supervise(
        &self,
        user_id: UserId,
        guardian_id: UserId,
        now: i64,
        audit: NewAuditEntry,
    ) -> Result<SupervisionRecord, StoreError> {
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO supervision (user_id, guardian_id, since) VALUES (?1, ?2, ?3)
                 ON CONFLICT (user_id) DO UPDATE SET guardian_id = excluded.guardian_id",
                params![user_id, guardian_id, now],
            )?;
            conn.execute(
                "DELETE FROM supervision_contacts WHERE user_id = ?1 AND contact_id = ?2",
                [user_id, guardian_id],
            )?;
            insert_audit(conn, audit)?;
            load(conn, user_id)?.ok_or(StoreError::NotFound)
        })
        .await
    }

    /// Ends `user_id`'s supervision (with its contacts and quiet hours); `NotFound` if none.
    pub(crate) async fn unsupervise(&self, user_id: UserId, audit: NewAuditEntry) -> Result<(), StoreError> {
        self.write(move |conn| {
            if conn.execute("DELETE FROM supervision WHERE user_id = ?1", [user_id])? == 0 {
                return Err(StoreError::NotFound);
            }
            insert_audit(conn, audit)
        })
        .await
    }

    /// Allows (or stops allowing) `contact_id` as a supervised member's contact; `NotFound`
    /// if `user_id` is not supervised.
    pub(crate) async fn set_contact(
        &self,
        user_id: UserId,
        contact_id: UserId,
        allowed: bool,
        audit: NewAuditEntry,
    ) -> Result<SupervisionRecord, StoreError> {
        self.write(move |conn| {
            require_supervised(conn, user_id)?;
            if allowed {
                let count: i64 =
                    conn.query_row("SELECT COUNT(*) FROM supervision_contacts WHERE user_id = ?1", [user_id], |row| {
                        row.get(0)
                    })?;
                if count as usize >= crate::proto::MAX_CONTACTS {
                    return Err(StoreError::LimitReached(format!(
                        "a supervised member has at most {} contacts",
                        crate::proto::MAX_CONTACTS
                    )));
                }
                conn.execute(
                    "INSERT OR IGNORE INTO supervision_contacts (user_id, contact_id) VALUES (?1, ?2)",
                    [user_id, contact_id],
                )?;
            } else {
                conn.execute(
                    "DELETE FROM supervision_contacts WHERE user_id = ?1 AND contact_id = ?2",
                    [user_id, contact_id],
                )?;
            }
            insert_audit(conn, audit)?;
            load(conn, user_id)?.ok_or(StoreError::NotFound)
        })
        .await
    }

    /// Sets (or, with none, clears) a supervised member's quiet hours.
    pub(crate) async fn set_quiet_hours(
        &self,
        user_id: UserId,
        hours: Option<QuietHours>,
        audit: NewAuditEntry,
    ) -> Result<SupervisionRecord, StoreError> {
        self.write(move |conn| {
            require_supervised(conn, user_id)?;
            conn.execute(
                "UPDATE supervision SET quiet_start = ?2, quiet_end = ?3 WHERE user_id = ?1",
                params![user_id, hours.map(|h| h.start_minute), hours.map(|h| h.end_minute)],
            )?;
            insert_audit(conn, audit)?;
            load(conn, user_id)?.ok_or(StoreError::NotFound)
        })
        .await
    }
}
