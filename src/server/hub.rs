//! The hub: which logged-in connections exist, which user each belongs to, and fan-out.
//!
//! A frame is serialised once by the caller and the same `Bytes` is queued to every
//! recipient. Each connection's queue is bounded; a connection whose queue is full is a slow
//! consumer and is told to close (its history stays in the store for when it comes back).
//! Holds no I/O; the connection tasks own the sockets.

use crate::ids::UserId;
use crate::proto::{ErrorCode, Role, User};
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Frames queued per connection before it counts as a slow consumer.
pub(crate) const QUEUE_FRAMES: usize = 2048;

/// A request, from outside a connection's task, that it close; the first reason given wins
/// and is sent to the client as the connection's last frame when there is room for it.
#[derive(Debug, Clone, Default)]
pub struct Eviction {
    token: CancellationToken,
    reason: Arc<OnceLock<(ErrorCode, String)>>,
}

impl Eviction {
    /// Asks the connection to close, telling the client why.
    pub(crate) fn evict(&self, code: ErrorCode, message: impl Into<String>) {
        let _ = self.reason.set((code, message.into()));
        self.token.cancel();
    }

    /// Resolves once the connection has been asked to close, with the reason.
    pub(crate) async fn evicted(&self) -> (ErrorCode, String) {
        self.token.cancelled().await;
        self.reason.get().cloned().unwrap_or((ErrorCode::Internal, "connection closed".into()))
    }

    /// Whether the connection has been asked to close.
    #[cfg(test)]
    pub(crate) fn is_evicted(&self) -> bool {
        self.token.is_cancelled()
    }
}

/// A connection's place in the hub.
#[derive(Debug, Clone)]
pub struct Member {
    /// Who is logged in on it.
    pub user: User,
    /// Its outgoing frame queue.
    pub outbox: mpsc::Sender<Bytes>,
    /// Closes the connection (slow consumer, password changed elsewhere).
    pub eviction: Eviction,
    /// The address it comes from (for address bans).
    pub peer: std::net::IpAddr,
}

/// Why a logged-in connection could not join the hub.
#[derive(Debug, thiserror::Error)]
pub enum JoinRefused {
    /// `max_users` distinct users are online already.
    #[error(transparent)]
    ServerFull(#[from] ServerFull),
    /// The user already has `server.max_devices_per_account` connections logged in.
    #[error("this account already has its maximum of {0} devices connected; close one of them first")]
    TooManyDevices(usize),
}

impl JoinRefused {
    /// The error code the client gets.
    pub fn code(&self) -> ErrorCode {
        match self {
            JoinRefused::ServerFull(_) => ErrorCode::ServerFull,
            JoinRefused::TooManyDevices(_) => ErrorCode::LimitReached,
        }
    }
}

/// `max_users` distinct users are online already.
#[derive(Debug, thiserror::Error)]
#[error("the server already has its maximum of {0} users online")]
pub struct ServerFull(pub u32);

#[derive(Debug, Default)]
struct Inner {
    connections: HashMap<u64, Member>,
    by_user: HashMap<UserId, Vec<u64>>,
}

/// Shared by every connection of one server.
#[derive(Debug)]
pub struct Hub {
    inner: Mutex<Inner>,
    max_devices: usize,
}

impl Default for Hub {
    /// A hub with no cap on devices per account.
    fn default() -> Self {
        Hub::new(usize::MAX)
    }
}

impl Hub {
    /// A hub that lets each user have at most `max_devices` connections logged in.
    pub fn new(max_devices: usize) -> Self {
        Hub { inner: Mutex::default(), max_devices }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds a logged-in connection. Returns whether its user just came online.
    pub fn join(&self, connection: u64, member: Member, max_users: u32) -> Result<bool, JoinRefused> {
        let mut inner = self.lock();
        let user_id = member.user.id;
        let devices = inner.by_user.get(&user_id).map_or(0, Vec::len);
        let first = devices == 0;
        if first && inner.by_user.len() >= max_users as usize {
            return Err(ServerFull(max_users).into());
        }
        if devices >= self.max_devices {
            return Err(JoinRefused::TooManyDevices(self.max_devices));
        }
        inner.by_user.entry(user_id).or_default().push(connection);
        inner.connections.insert(connection, member);
        Ok(first)
    }

    /// Removes a connection. Returns its user if that user just went offline.
    pub fn leave(&self, connection: u64) -> Option<User> {
        let mut inner = self.lock();
        let member = inner.connections.remove(&connection)?;
        let user_id = member.user.id;
        let remaining = inner.by_user.get_mut(&user_id).map(|ids| {
            ids.retain(|id| *id != connection);
            ids.len()
        });
        if remaining == Some(0) {
            inner.by_user.remove(&user_id);
            return Some(member.user);
        }
        None
    }

    /// The user logged in on `connection`, as of now (roles can change).
    pub fn user(&self, connection: u64) -> Option<User> {
        self.lock().connections.get(&connection).map(|member| member.user.clone())
    }

    /// Whether a user who is not online yet would be refused.
    pub(crate) fn is_full(&self, max_users: u32) -> bool {
        self.lock().by_user.len() >= max_users as usize
    }

    /// Distinct users online.
    pub fn users_online(&self) -> usize {
        self.lock().by_user.len()
    }

    /// Whether a user has at least one connection.
    pub(crate) fn is_online(&self, user_id: UserId) -> bool {
        self.lock().by_user.contains_key(&user_id)
    }

    /// Records a role change on the user's live connections.
    pub fn set_role(&self, user_id: UserId, role: Role) {
        let mut inner = self.lock();
        for member in inner.connections.values_mut().filter(|m| m.user.id == user_id) {
            member.user.role = role;
        }
    }

    /// Closes every connection of `user_id` except `keep`: their sessions have ended.
    pub(crate) fn end_other_sessions(&self, user_id: UserId, keep: u64, reason: &str) {
        let inner = self.lock();
        let others = inner.by_user.get(&user_id).into_iter().flatten().filter(|connection| **connection != keep);
        for member in others.filter_map(|connection| inner.connections.get(connection)) {
            member.eviction.evict(ErrorCode::SessionEnded, reason);
        }
    }

    /// Queues `frame` to one connection.
    pub(crate) fn send_to_connection(&self, connection: u64, frame: &Bytes) {
        if let Some(member) = self.lock().connections.get(&connection) {
            deliver(member, frame);
        }
    }

    /// Queues `frame` to every logged-in connection.
    pub(crate) fn broadcast(&self, frame: &Bytes) {
        let inner = self.lock();
        for member in inner.connections.values() {
            deliver(member, frame);
        }
    }

    /// Queues `frame` to every connection whose user `want`s it.
    pub(crate) fn send_to_matching(&self, frame: &Bytes, want: impl Fn(&User) -> bool) {
        let inner = self.lock();
        for member in inner.connections.values().filter(|member| want(&member.user)) {
            deliver(member, frame);
        }
    }

    /// Closes every connection whose user and address `close` picks, telling them why;
    /// returns how many.
    pub(crate) fn close_where(
        &self,
        close: impl Fn(&User, std::net::IpAddr) -> bool,
        code: ErrorCode,
        reason: &str,
    ) -> usize {
        let inner = self.lock();
        let mut closed = 0;
        for member in inner.connections.values().filter(|member| close(&member.user, member.peer)) {
            member.eviction.evict(code, reason);
            closed += 1;
        }
        closed
    }

    /// The addresses `user_id` is connected from.
    pub(crate) fn addresses_of(&self, user_id: UserId) -> Vec<std::net::IpAddr> {
        let inner = self.lock();
        let mut addresses: Vec<_> =
            inner.connections.values().filter(|member| member.user.id == user_id).map(|member| member.peer).collect();
        addresses.dedup();
        addresses
    }

    /// Queues `frame` to every connection of `user_id` but `except`.
    pub(crate) fn send_to_user_except(&self, user_id: UserId, except: u64, frame: &Bytes) {
        let inner = self.lock();
        for connection in inner.by_user.get(&user_id).into_iter().flatten().filter(|c| **c != except) {
            if let Some(member) = inner.connections.get(connection) {
                deliver(member, frame);
            }
        }
    }

    /// Queues `frame` to every connection of the given users.
    pub(crate) fn send_to_users(&self, user_ids: &[UserId], frame: &Bytes) {
        let inner = self.lock();
        for connection in user_ids.iter().filter_map(|id| inner.by_user.get(id)).flatten() {
            if let Some(member) = inner.connections.get(connection) {
                deliver(member, frame);
            }
        }
    }
}

fn deliver(member: &Member, frame: &Bytes) {
    if let Err(mpsc::error::TrySendError::Full(_)) = member.outbox.try_send(frame.clone()) {
        member.eviction.evict(ErrorCode::SlowConsumer, "the connection could not keep up with events");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: i64, capacity: usize) -> (Member, mpsc::Receiver<Bytes>) {
        let (outbox, inbox) = mpsc::channel(capacity);
        let user = User { id: UserId(id), username: format!("u{id}"), role: Role::Member };
        (Member { user, outbox, eviction: Eviction::default(), peer: std::net::Ipv4Addr::LOCALHOST.into() }, inbox)
    }

    #[tokio::test]
    async fn ending_other_sessions_spares_the_current_one_and_says_why() {
        let hub = Hub::default();
        let (here, _r1) = member(1, 4);
        let (elsewhere, _r2) = member(1, 4);
        let (someone_else, _r3) = member(2, 4);
        let (here_eviction, elsewhere_eviction, other_eviction) =
            (here.eviction.clone(), elsewhere.eviction.clone(), someone_else.eviction.clone());
        hub.join(1, here, 10).expect("room");
        hub.join(2, elsewhere, 10).expect("room");
        hub.join(3, someone_else, 10).expect("room");
        hub.end_other_sessions(UserId(1), 1, "password changed");
        assert!(!here_eviction.is_evicted());
        assert!(!other_eviction.is_evicted());
        assert_eq!(elsewhere_eviction.evicted().await, (ErrorCode::SessionEnded, "password changed".to_string()));
    }

    #[test]
    fn presence_follows_the_first_and_last_connection() {
        let hub = Hub::default();
        let (a1, _r1) = member(1, 4);
        let (a2, _r2) = member(1, 4);
        assert!(hub.join(10, a1, 5).expect("room"));
        assert!(!hub.join(11, a2, 5).expect("room"));
        assert_eq!(hub.users_online(), 1);
        assert_eq!(hub.leave(10), None);
        assert_eq!(hub.leave(11).map(|u| u.id), Some(UserId(1)));
        assert_eq!(hub.users_online(), 0);
        assert_eq!(hub.leave(11), None);
    }

    #[test]
    fn max_users_counts_distinct_users() {
        let hub = Hub::default();
        let (a, _ra) = member(1, 4);
        let (a_again, _rb) = member(1, 4);
        let (b, _rc) = member(2, 4);
        hub.join(1, a, 1).expect("room");
        hub.join(2, a_again, 1).expect("same user needs no room");
        assert!(hub.join(3, b, 1).is_err());
    }

    #[test]
    fn each_user_has_at_most_max_devices_connections() {
        let hub = Hub::new(2);
        let joined: Vec<_> = (0..3).map(|connection| hub.join(connection, member(1, 4).0, 10)).collect();
        assert!(joined[0].is_ok() && joined[1].is_ok());
        let refused = joined[2].as_ref().expect_err("third device");
        assert_eq!(refused.code(), ErrorCode::LimitReached);
        assert!(hub.join(3, member(2, 4).0, 10).is_ok(), "other users are not affected");
        hub.leave(0);
        assert!(hub.join(4, member(1, 4).0, 10).is_ok(), "room again once one left");
        let full = Hub::new(2);
        full.join(0, member(1, 4).0, 1).expect("room");
        assert_eq!(full.join(1, member(2, 4).0, 1).map_err(|e| e.code()), Err(ErrorCode::ServerFull));
    }

    #[test]
    fn fan_out_reaches_only_the_named_users_and_evicts_slow_ones() {
        let hub = Hub::default();
        let (a, mut inbox_a) = member(1, 4);
        let (b, mut inbox_b) = member(2, 1);
        let evict_b = b.eviction.clone();
        hub.join(1, a, 10).expect("room");
        hub.join(2, b, 10).expect("room");
        hub.send_to_users(&[UserId(1)], &Bytes::from_static(b"x"));
        assert_eq!(inbox_a.try_recv().ok(), Some(Bytes::from_static(b"x")));
        assert!(inbox_b.try_recv().is_err());
        hub.broadcast(&Bytes::from_static(b"y"));
        hub.broadcast(&Bytes::from_static(b"z"));
        assert!(evict_b.is_evicted(), "b's queue of one overflowed");
        assert_eq!(inbox_a.try_recv().ok(), Some(Bytes::from_static(b"y")));
    }
}
