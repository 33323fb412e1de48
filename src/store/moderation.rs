//! Permissions and moderation: per-role overrides of channels and categories, slow mode, bans,
//! timeouts, the audit log (which keeps warnings too), keyword filters, registrations waiting
//! for approval and password resets by an admin.

use super::channels::load_channel;
use super::{Store, StoreError};
use crate::ids::{ChannelId, UserId};
use crate::proto::{
    AuditEntry, AuditPage, BanInfo, Channel, KeywordFilter, PendingRegistration, PermissionOverride, Role,
};
use rusqlite::{params, Connection, OptionalExtension};

/// What an override belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// A channel.
    Channel(ChannelId),
    /// A category.
    Category(i64),
}

impl Scope {
    fn parts(self) -> (&'static str, i64) {
        match self {
            Scope::Channel(id) => ("channel", id.get()),
            Scope::Category(id) => ("category", id),
        }
    }
}

/// An override with what it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopedOverride {
    /// Its channel or category.
    pub scope: Scope,
    /// The role and flags.
    pub rule: PermissionOverride,
}

/// A new ban.
#[derive(Debug, Clone)]
pub struct NewBan {
    /// The account.
    pub user_id: Option<UserId>,
    /// The address key.
    pub address: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// Who.
    pub created_by: String,
    /// When.
    pub created_at: i64,
    /// Until.
    pub expires_at: Option<i64>,
}

/// A line for the audit log.
#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    /// Who acted.
    pub actor: String,
    /// What.
    pub action: String,
    /// Whom or what, as shown.
    pub target: Option<String>,
    /// The account acted on (for its moderation history).
    pub target_user_id: Option<UserId>,
    /// Why, or details.
    pub reason: Option<String>,
    /// When.
    pub at: i64,
}

/// A timeout in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveTimeout {
    /// Who.
    pub user_id: UserId,
    /// Until, Unix milliseconds.
    pub until: i64,
}

fn flag(value: Option<bool>) -> Option<i64> {
    value.map(i64::from)
}

const BAN_SELECT: &str = "SELECT b.id, u.username, b.address, b.reason, b.created_by, b.created_at, b.expires_at
     FROM bans b LEFT JOIN users u ON u.id = b.user_id";

fn ban_info(row: &rusqlite::Row<'_>) -> rusqlite::Result<BanInfo> {
    Ok(BanInfo {
        id: row.get(0)?,
        username: row.get(1)?,
        address: row.get(2)?,
        reason: row.get(3)?,
        created_by: row.get(4)?,
        created_at: row.get(5)?,
        expires_at: row.get(6)?,
    })
}

fn audit_entry(row: &rusqlite::Row<'_>) -> rusqlite::Result<AuditEntry> {
    Ok(AuditEntry {
        id: row.get(0)?,
        at: row.get(1)?,
        actor: row.get(2)?,
        action: row.get(3)?,
        target: row.get(4)?,
        reason: row.get(5)?,
    })
}

fn keyword_filter(row: &rusqlite::Row<'_>) -> rusqlite::Result<KeywordFilter> {
    Ok(KeywordFilter {
        id: row.get(0)?,
        word: row.get(1)?,
        timeout_seconds: row.get::<_, Option<i64>>(2)?.map(|s| s.max(0) as u64),
        created_by: row.get(3)?,
        created_at: row.get(4)?,
    })
}

pub(super) fn insert_audit(conn: &Connection, entry: NewAuditEntry) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO audit_log (at, actor, action, target, target_user_id, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![entry.at, entry.actor, entry.action, entry.target, entry.target_user_id, entry.reason],
    )?;
    Ok(())
}

impl Store {
    /// Every override of every channel and category.
    pub async fn permission_overrides(&self) -> Result<Vec<ScopedOverride>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT scope, scope_id, role, can_view, can_send, can_speak, can_manage FROM permission_overrides",
            )?;
            let rows = stmt.query_map([], |row| {
                let id: i64 = row.get(1)?;
                let scope = if row.get::<_, String>(0)? == "channel" {
                    Scope::Channel(ChannelId(id))
                } else {
                    Scope::Category(id)
                };
                let role: Role = row.get::<_, String>(2)?.parse().unwrap_or(Role::Member);
                let rule = PermissionOverride {
                    role,
                    view: row.get(3)?,
                    send: row.get(4)?,
                    speak: row.get(5)?,
                    manage: row.get(6)?,
                };
                Ok(ScopedOverride { scope, rule })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// Sets one role's override on a channel or category (removes it when every flag is none),
    /// with its audit line. `NotFound` when the channel or category does not exist.
    pub(crate) async fn set_permission_override(
        &self,
        scope: Scope,
        rule: PermissionOverride,
        audit: NewAuditEntry,
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            let (kind, id) = scope.parts();
            let exists_sql = match scope {
                Scope::Channel(_) => "SELECT EXISTS (SELECT 1 FROM channels WHERE id = ?1 AND kind != 'direct')",
                Scope::Category(_) => "SELECT EXISTS (SELECT 1 FROM categories WHERE id = ?1)",
            };
            if !conn.query_row(exists_sql, [id], |row| row.get::<_, bool>(0))? {
                return Err(StoreError::NotFound);
            }
            let PermissionOverride { role, view, send, speak, manage } = rule;
            if [view, send, speak, manage].iter().all(Option::is_none) {
                conn.execute(
                    "DELETE FROM permission_overrides WHERE scope = ?1 AND scope_id = ?2 AND role = ?3",
                    params![kind, id, role.as_str()],
                )?;
            } else {
                conn.execute(
                    "INSERT OR REPLACE INTO permission_overrides
                        (scope, scope_id, role, can_view, can_send, can_speak, can_manage)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![kind, id, role.as_str(), flag(view), flag(send), flag(speak), flag(manage)],
                )?;
            }
            insert_audit(conn, audit)
        })
        .await
    }

    /// Sets a channel's slow mode, with its audit line.
    pub(crate) async fn set_slow_mode(
        &self,
        channel_id: ChannelId,
        seconds: u32,
        audit: NewAuditEntry,
    ) -> Result<Channel, StoreError> {
        self.write(move |conn| {
            let changed = conn.execute(
                "UPDATE channels SET slow_mode_seconds = ?1 WHERE id = ?2 AND kind != 'direct'",
                params![seconds, channel_id],
            )?;
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            insert_audit(conn, audit)?;
            load_channel(conn, channel_id)?.ok_or(StoreError::NotFound)
        })
        .await
    }

    /// Writes one audit line on its own.
    pub(crate) async fn audit(&self, entry: NewAuditEntry) -> Result<(), StoreError> {
        self.write(move |conn| insert_audit(conn, entry)).await
    }

    /// A page of the audit log, newest first.
    pub async fn audit_page(&self, before: Option<i64>, limit: u32) -> Result<AuditPage, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT id, at, actor, action, target, reason FROM audit_log WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
            )?;
            let mut entries = stmt
                .query_map(params![before.unwrap_or(i64::MAX), limit + 1], audit_entry)?
                .collect::<Result<Vec<_>, _>>()?;
            let has_more = entries.len() > limit as usize;
            entries.truncate(limit as usize);
            Ok(AuditPage { entries, has_more })
        })
        .await
    }

    /// What was done to one account, newest first (at most `limit` entries).
    pub async fn moderation_history(&self, user_id: UserId, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT id, at, actor, action, target, reason FROM audit_log WHERE target_user_id = ?1
                 ORDER BY id DESC LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![user_id, limit], audit_entry)?.collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// Stores a ban, its audit line, and ends the banned account's sessions.
    pub(crate) async fn create_ban(&self, ban: NewBan, audit: NewAuditEntry) -> Result<BanInfo, StoreError> {
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO bans (user_id, address, reason, created_by, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![ban.user_id, ban.address, ban.reason, ban.created_by, ban.created_at, ban.expires_at],
            )?;
            let id = conn.last_insert_rowid();
            if let Some(user_id) = ban.user_id {
                conn.execute("DELETE FROM sessions WHERE user_id = ?1", [user_id])?;
            }
            insert_audit(conn, audit)?;
            Ok(conn.query_row(&format!("{BAN_SELECT} WHERE b.id = ?1"), [id], ban_info)?)
        })
        .await
    }

    /// Lifts a ban in force, with its audit line (the target filled in here).
    pub(crate) async fn lift_ban(
        &self,
        ban_id: i64,
        now: i64,
        mut audit: NewAuditEntry,
    ) -> Result<BanInfo, StoreError> {
        self.write(move |conn| {
            let ban = conn
                .query_row(
                    &format!("{BAN_SELECT} WHERE b.id = ?1 AND b.lifted_at IS NULL AND (b.expires_at IS NULL OR b.expires_at > ?2)"),
                    params![ban_id, now],
                    ban_info,
                )
                .optional()?
                .ok_or(StoreError::NotFound)?;
            conn.execute("UPDATE bans SET lifted_at = ?1 WHERE id = ?2", params![now, ban_id])?;
            audit.target = ban.username.clone().or_else(|| ban.address.clone());
            audit.target_user_id =
                conn.query_row("SELECT user_id FROM bans WHERE id = ?1", [ban_id], |row| row.get(0))?;
            insert_audit(conn, audit)?;
            Ok(ban)
        })
        .await
    }

    /// The bans in force, newest first.
    pub async fn active_bans(&self, now: i64) -> Result<Vec<BanInfo>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare(&format!(
                "{BAN_SELECT} WHERE b.lifted_at IS NULL AND (b.expires_at IS NULL OR b.expires_at > ?1) ORDER BY b.id DESC"
            ))?;
            let rows = stmt.query_map([now], ban_info)?.collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// The ban in force, if any, on this account or this address key.
    pub async fn ban_on(
        &self,
        user_id: Option<UserId>,
        address: Option<String>,
        now: i64,
    ) -> Result<Option<BanInfo>, StoreError> {
        self.read(move |conn| {
            let sql = format!(
                "{BAN_SELECT} WHERE b.lifted_at IS NULL AND (b.expires_at IS NULL OR b.expires_at > ?1)
                 AND ((?2 IS NOT NULL AND b.user_id = ?2) OR (?3 IS NOT NULL AND b.address = ?3))
                 ORDER BY b.expires_at IS NOT NULL, b.expires_at DESC LIMIT 1"
            );
            Ok(conn.query_row(&sql, params![now, user_id, address], ban_info).optional()?)
        })
        .await
    }

    /// Times an account out until `until` (a time in the past lifts it), with its audit line.
    pub(crate) async fn set_timeout(
        &self,
        user_id: UserId,
        until: i64,
        reason: Option<String>,
        audit: NewAuditEntry,
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            conn.execute(
                "UPDATE users SET timeout_until = ?1, timeout_reason = ?2 WHERE id = ?3",
                params![until, reason, user_id],
            )?;
            insert_audit(conn, audit)
        })
        .await
    }

    /// The timeouts in force.
    pub async fn active_timeouts(&self, now: i64) -> Result<Vec<ActiveTimeout>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare("SELECT id, timeout_until FROM users WHERE timeout_until > ?1")?;
            let rows = stmt.query_map([now], |row| Ok(ActiveTimeout { user_id: row.get(0)?, until: row.get(1)? }))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// Adds a keyword filter, with its audit line.
    pub(crate) async fn add_filter(
        &self,
        word: String,
        timeout_seconds: Option<u64>,
        audit: NewAuditEntry,
    ) -> Result<KeywordFilter, StoreError> {
        self.write(move |conn| {
            let inserted = conn.execute(
                "INSERT INTO keyword_filters (word, timeout_seconds, created_by, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![word, timeout_seconds.map(|s| s.min(i64::MAX as u64) as i64), audit.actor, audit.at],
            );
            match inserted {
                Err(rusqlite::Error::SqliteFailure(err, _)) if err.code == rusqlite::ErrorCode::ConstraintViolation => {
                    return Err(StoreError::Duplicate);
                }
                other => other?,
            };
            let id = conn.last_insert_rowid();
            insert_audit(conn, audit)?;
            Ok(conn.query_row(
                "SELECT id, word, timeout_seconds, created_by, created_at FROM keyword_filters WHERE id = ?1",
                [id],
                keyword_filter,
            )?)
        })
        .await
    }

    /// Removes a keyword filter, with its audit line (the target filled in here).
    pub(crate) async fn remove_filter(&self, filter_id: i64, mut audit: NewAuditEntry) -> Result<(), StoreError> {
        self.write(move |conn| {
            let word: String = conn
                .query_row("SELECT word FROM keyword_filters WHERE id = ?1", [filter_id], |row| row.get(0))
                .optional()?
                .ok_or(StoreError::NotFound)?;
            conn.execute("DELETE FROM keyword_filters WHERE id = ?1", [filter_id])?;
            audit.target = Some(word);
            insert_audit(conn, audit)
        })
        .await
    }

    /// Every keyword filter, oldest first.
    pub async fn keyword_filters(&self) -> Result<Vec<KeywordFilter>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare("SELECT id, word, timeout_seconds, created_by, created_at FROM keyword_filters ORDER BY id")?;
            let rows = stmt.query_map([], keyword_filter)?.collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// Sets a temporary password that must be changed at the next login, ends every session of
    /// the account, and writes the audit line.
    pub(crate) async fn set_temporary_password(
        &self,
        user_id: UserId,
        password_hash: String,
        audit: NewAuditEntry,
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            conn.execute(
                "UPDATE users SET password_hash = ?1, must_change_password = 1 WHERE id = ?2",
                params![password_hash, user_id],
            )?;
            conn.execute("DELETE FROM sessions WHERE user_id = ?1", [user_id])?;
            insert_audit(conn, audit)
        })
        .await
    }

    /// Creates a member account that waits for approval.
    pub(crate) async fn create_pending_user(
        &self,
        username: String,
        password_hash: String,
        now: i64,
    ) -> Result<UserId, StoreError> {
        self.write(move |conn| {
            let user = super::users::insert_user(conn, username, password_hash, Role::Member, now)?;
            conn.execute("UPDATE users SET pending = 1 WHERE id = ?1", [user.id])?;
            Ok(user.id)
        })
        .await
    }

    /// Registrations waiting for approval, oldest first.
    pub async fn pending_registrations(&self) -> Result<Vec<PendingRegistration>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare("SELECT username, created_at FROM users WHERE pending = 1 ORDER BY id")?;
            let rows =
                stmt.query_map([], |row| Ok(PendingRegistration { username: row.get(0)?, requested_at: row.get(1)? }))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// Approves (`true`) or discards (`false`) a waiting registration, with its audit line.
    /// Returns the account's id; `NotFound` when no such registration waits.
    pub(crate) async fn decide_registration(
        &self,
        username: String,
        approve: bool,
        audit: NewAuditEntry,
    ) -> Result<UserId, StoreError> {
        self.write(move |conn| {
            let user_id: UserId = conn
                .query_row("SELECT id FROM users WHERE username = ?1 AND pending = 1", [&username], |row| row.get(0))
                .optional()?
                .ok_or(StoreError::NotFound)?;
            if approve {
                conn.execute("UPDATE users SET pending = 0 WHERE id = ?1", [user_id])?;
            } else {
                conn.execute("DELETE FROM users WHERE id = ?1", [user_id])?;
            }
            insert_audit(conn, NewAuditEntry { target_user_id: approve.then_some(user_id), ..audit })?;
            Ok(user_id)
        })
        .await
    }
}
