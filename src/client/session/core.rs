//! The sans-IO heart of [`super::Session`]: reconnect backoff, the outbox of messages not yet
//! acknowledged, and the newest message seen per channel (where catching up starts). It does
//! no I/O and reads no clock or random source: the driver passes jitter in and acts on what
//! it answers.

use crate::ids::{ChannelId, MessageId};
use crate::proto::{Event, Message};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// The first reconnect delay (before jitter).
pub(crate) const FIRST_DELAY: Duration = Duration::from_millis(500);
/// The longest reconnect delay (before jitter).
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(30);

/// Exponential backoff with "equal jitter": attempt n waits between half and all of
/// `min(FIRST_DELAY * 2^(n-1), MAX_DELAY)`, so many clients of a restarted server spread out.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    attempts: u32,
}

impl Backoff {
    /// Counts a failed attempt; answers its number (from 1) and how long to wait before the
    /// next. `jitter` is uniform in [0, 1].
    pub(crate) fn failed(&mut self, jitter: f64) -> (u32, Duration) {
        self.attempts = self.attempts.saturating_add(1);
        let doublings = (self.attempts - 1).min(16);
        let full = FIRST_DELAY.saturating_mul(1 << doublings).min(MAX_DELAY);
        let jitter = jitter.clamp(0.0, 1.0);
        (self.attempts, full.mul_f64(0.5 + jitter / 2.0))
    }

    /// A connection succeeded: start again from the first delay.
    pub(crate) fn reset(&mut self) {
        self.attempts = 0;
    }
}

/// A message the user sent that the server has not acknowledged yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The client-chosen id that makes resending it safe.
    pub client_id: String,
    /// Where it goes.
    pub channel_id: ChannelId,
    /// Its text.
    pub body: String,
    /// Files it carries (ids from `upload_finish`, uploaded by this user).
    pub attachments: Vec<i64>,
}

/// Outbox and catch-up bookkeeping.
#[derive(Debug, Default)]
pub(crate) struct Core {
    outbox: VecDeque<Outgoing>,
    newest_seen: BTreeMap<ChannelId, MessageId>,
}

impl Core {
    /// Queues a message; it stays until [`Core::acknowledged`] or [`Core::refused`].
    pub(crate) fn queue(&mut self, message: Outgoing) {
        self.outbox.push_back(message);
    }

    /// The oldest unacknowledged message: the next to (re)send.
    pub(crate) fn next_to_send(&self) -> Option<&Outgoing> {
        self.outbox.front()
    }

    /// The server stored (or had already stored) the message with this client id.
    pub(crate) fn acknowledged(&mut self, message: &Message) {
        if let Some(client_id) = &message.client_id {
            self.outbox.retain(|queued| &queued.client_id != client_id);
        }
        self.saw(message.channel_id, message.id);
    }

    /// The server refused the message for good (e.g. the channel is gone): drop it.
    pub(crate) fn refused(&mut self, client_id: &str) -> Option<Outgoing> {
        let index = self.outbox.iter().position(|queued| queued.client_id == client_id)?;
        self.outbox.remove(index)
    }

    /// Records that the caller has `channel`'s messages up to `message_id`; answers whether it
    /// is newer than anything seen there (a message to pass on rather than a duplicate).
    pub(crate) fn saw(&mut self, channel_id: ChannelId, message_id: MessageId) -> bool {
        match self.newest_seen.get_mut(&channel_id) {
            Some(newest) if message_id <= *newest => false,
            Some(newest) => {
                *newest = message_id;
                true
            }
            None => {
                self.newest_seen.insert(channel_id, message_id);
                true
            }
        }
    }

    /// Whether to pass a server event on: everything but a `message_created` already seen
    /// (a catch-up page and the live event can both carry a message).
    pub(crate) fn observe(&mut self, event: &Event) -> bool {
        match event {
            Event::MessageCreated(message) => self.saw(message.channel_id, message.id),
            Event::ChannelDeleted { channel_id } => {
                self.newest_seen.remove(channel_id);
                self.outbox.retain(|queued| queued.channel_id != *channel_id);
                true
            }
            _ => true,
        }
    }

    /// Where catching up starts after a reconnect: each seen channel and its newest message.
    pub(crate) fn catch_up_from(&self) -> Vec<(ChannelId, MessageId)> {
        self.newest_seen.iter().map(|(channel, message)| (*channel, *message)).collect()
    }

    /// Forgets a channel (it is gone or no longer readable).
    pub(crate) fn forget(&mut self, channel_id: ChannelId) {
        self.newest_seen.remove(&channel_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::UserId;

    fn message(channel: i64, id: i64, client_id: Option<&str>) -> Message {
        Message {
            id: MessageId(id),
            channel_id: ChannelId(channel),
            author_id: UserId(1),
            author: "ann".into(),
            body: "hi".into(),
            created_at: 0,
            edited_at: None,
            thread_id: None,
            thread: None,
            reactions: Vec::new(),
            preview: None,
            client_id: client_id.map(str::to_string),
            attachments: Vec::new(),
        }
    }

    fn outgoing(client_id: &str, channel: i64) -> Outgoing {
        Outgoing {
            client_id: client_id.into(),
            channel_id: ChannelId(channel),
            body: "hi".into(),
            attachments: Vec::new(),
        }
    }

    #[test]
    fn backoff_doubles_is_capped_jittered_and_resets() {
        let mut backoff = Backoff::default();
        assert_eq!(backoff.failed(1.0), (1, FIRST_DELAY));
        assert_eq!(backoff.failed(1.0), (2, FIRST_DELAY * 2));
        assert_eq!(backoff.failed(0.0), (3, FIRST_DELAY * 2), "no jitter is half of 4x");
        for _ in 0..100 {
            let (_, delay) = backoff.failed(1.0);
            assert!(delay <= MAX_DELAY);
        }
        assert_eq!(backoff.failed(1.0).1, MAX_DELAY);
        assert_eq!(backoff.failed(0.0).1, MAX_DELAY / 2);
        assert_eq!(backoff.failed(7.0).1, MAX_DELAY, "jitter is clamped");
        backoff.reset();
        assert_eq!(backoff.failed(0.5), (1, FIRST_DELAY.mul_f64(0.75)));
    }

    #[test]
    fn the_outbox_keeps_order_until_acknowledged_or_refused() {
        let mut core = Core::default();
        core.queue(outgoing("a", 1));
        core.queue(outgoing("b", 1));
        core.queue(outgoing("c", 2));
        assert_eq!(core.next_to_send(), Some(&outgoing("a", 1)));
        core.acknowledged(&message(1, 10, Some("b")));
        assert_eq!(core.next_to_send(), Some(&outgoing("a", 1)));
        core.acknowledged(&message(1, 11, None));
        assert_eq!(core.next_to_send(), Some(&outgoing("a", 1)), "a message without a client id acknowledges nothing");
        assert_eq!(core.refused("a"), Some(outgoing("a", 1)));
        assert_eq!(core.next_to_send(), Some(&outgoing("c", 2)), "b was acknowledged");
        assert_eq!(core.refused("a"), None);
        assert!(core.observe(&Event::ChannelDeleted { channel_id: ChannelId(2) }));
        assert_eq!(core.next_to_send(), None, "a deleted channel's messages cannot be sent");
    }

    #[test]
    fn catch_up_starts_after_the_newest_message_seen_and_duplicates_are_dropped() {
        let mut core = Core::default();
        assert!(core.catch_up_from().is_empty(), "nothing seen, nothing to catch up");
        assert!(core.observe(&Event::MessageCreated(message(1, 5, None))));
        assert!(core.observe(&Event::MessageCreated(message(1, 7, None))));
        assert!(!core.observe(&Event::MessageCreated(message(1, 7, None))), "a duplicate");
        assert!(!core.observe(&Event::MessageCreated(message(1, 6, None))), "older than seen");
        core.saw(ChannelId(2), MessageId(3));
        core.acknowledged(&message(3, 9, Some("x")));
        assert_eq!(
            core.catch_up_from(),
            [(ChannelId(1), MessageId(7)), (ChannelId(2), MessageId(3)), (ChannelId(3), MessageId(9))]
        );
        assert!(core.saw(ChannelId(1), MessageId(8)));
        assert!(!core.saw(ChannelId(1), MessageId(2)));
        core.forget(ChannelId(2));
        assert_eq!(core.catch_up_from().len(), 2);
        assert!(core.observe(&Event::ChannelDeleted { channel_id: ChannelId(1) }));
        assert_eq!(core.catch_up_from(), [(ChannelId(3), MessageId(9))]);
    }
}
