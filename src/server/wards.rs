//! Supervised members in memory, so that each direct message and each message a supervised
//! member sends is checked without a database read: who supervises whom, their contacts and
//! quiet hours. The store holds the durable copy; the supervision handlers write there first,
//! then put the stored record here. Times are passed in (Unix milliseconds).

use super::permissions::Contact;
use crate::ids::UserId;
use crate::proto::SupervisionInfo;
use crate::store::{Store, StoreError, SupervisionRecord};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// Every supervised member of one running server.
#[derive(Debug, Default)]
pub struct Wards {
    records: Mutex<HashMap<UserId, SupervisionRecord>>,
}

impl Wards {
    fn lock(&self) -> MutexGuard<'_, HashMap<UserId, SupervisionRecord>> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Loads every supervised member from the store (at start, and after an account was
    /// deleted, which may end a supervision or a guardianship).
    pub async fn reload(&self, store: &Store) -> Result<(), StoreError> {
        let records = store.supervisions().await?;
        *self.lock() = records.into_iter().map(|record| (record.user_id, record)).collect();
        Ok(())
    }

    /// Mirrors a stored change: the member's record now, or none when supervision ended.
    pub fn put(&self, user_id: UserId, record: Option<SupervisionRecord>) {
        let mut records = self.lock();
        match record {
            Some(record) => records.insert(user_id, record),
            None => records.remove(&user_id),
        };
    }

    /// `user_id`'s supervision, if they are supervised.
    pub fn of(&self, user_id: UserId) -> Option<SupervisionRecord> {
        self.lock().get(&user_id).cloned()
    }

    /// Whether `actor` is `ward`'s guardian.
    pub fn is_guardian(&self, actor: UserId, ward: UserId) -> bool {
        self.lock().get(&ward).and_then(|record| record.guardian.as_ref()).is_some_and(|(id, _)| *id == actor)
    }

    /// What supervision makes of a direct conversation between `a` and `b`: each supervised
    /// side may write only to its guardian and the contacts the guardian allowed.
    pub fn contact(&self, a: UserId, b: UserId) -> Contact {
        let records = self.lock();
        let allows = |ward: UserId, other: UserId| {
            records.get(&ward).map(|record| {
                record.guardian.as_ref().is_some_and(|(id, _)| *id == other)
                    || record.contacts.iter().any(|(id, _)| *id == other)
            })
        };
        match (allows(a, b), allows(b, a)) {
            (None, None) => Contact::Unsupervised,
            (Some(false), _) | (_, Some(false)) => Contact::NotAllowed,
            _ => Contact::Allowed,
        }
    }

    /// Whether `user_id` is supervised and in their quiet hours at `now`.
    pub fn quiet(&self, user_id: UserId, now: i64) -> bool {
        self.lock().get(&user_id).and_then(|record| record.quiet_hours).is_some_and(|hours| hours.is_quiet_at(now))
    }
}

/// A stored record as the member, their guardian and admins are shown it at `now`.
pub fn describe(record: &SupervisionRecord, now: i64) -> SupervisionInfo {
    SupervisionInfo {
        username: record.username.clone(),
        guardian: record.guardian.as_ref().map(|(_, name)| name.clone()),
        contacts: record.contacts.iter().map(|(_, name)| name.clone()).collect(),
        quiet_hours: record.quiet_hours,
        quiet_now: record.quiet_hours.is_some_and(|hours| hours.is_quiet_at(now)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::QuietHours;

    fn ward(id: i64, guardian: i64, contacts: &[i64]) -> SupervisionRecord {
        SupervisionRecord {
            user_id: UserId(id),
            username: format!("kid{id}"),
            guardian: Some((UserId(guardian), "mum".into())),
            contacts: contacts.iter().map(|c| (UserId(*c), format!("u{c}"))).collect(),
            quiet_hours: QuietHours::new(0, 60),
        }
    }

    #[test]
    fn supervised_members_write_only_to_their_guardian_and_contacts() {
        let wards = Wards::default();
        wards.put(UserId(10), Some(ward(10, 1, &[2])));
        wards.put(UserId(11), Some(ward(11, 1, &[10])));
        let table = [
            (3, 4, Contact::Unsupervised),
            (10, 1, Contact::Allowed),
            (1, 10, Contact::Allowed),
            (10, 2, Contact::Allowed),
            (2, 10, Contact::Allowed),
            (10, 3, Contact::NotAllowed),
            (3, 10, Contact::NotAllowed),
            (10, 11, Contact::NotAllowed),
            (11, 10, Contact::NotAllowed),
        ];
        for (a, b, expected) in table {
            assert_eq!(wards.contact(UserId(a), UserId(b)), expected, "{a} with {b}");
        }
        wards.put(UserId(10), Some(ward(10, 1, &[2, 11])));
        assert_eq!(wards.contact(UserId(10), UserId(11)), Contact::Allowed, "both guardians allow it");
        wards.put(UserId(10), None);
        assert_eq!(wards.contact(UserId(10), UserId(3)), Contact::Unsupervised);
        assert!(wards.is_guardian(UserId(1), UserId(11)));
        assert!(!wards.is_guardian(UserId(2), UserId(11)));
        assert!(wards.quiet(UserId(11), 30 * 60_000));
        assert!(!wards.quiet(UserId(11), 90 * 60_000));
    }
}
