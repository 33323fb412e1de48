//! What moderation keeps in memory so that every message and join can be checked without the
//! database: the channel overrides, timeouts, slow-mode clocks, keyword filters (compiled) and
//! the connections waiting for their registration to be approved. The store holds the durable
//! copy; handlers write there first, then here. Times are passed in (Unix milliseconds).

use crate::ids::{ChannelId, UserId};
use crate::proto::{Channel, KeywordFilter, PermissionOverride};
use crate::store::{Scope, ScopedOverride, Store, StoreError};
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use tokio::sync::mpsc;

use super::permissions::ChannelRules;

/// A keyword filter with its compiled whole-word, case-insensitive pattern.
#[derive(Debug)]
struct CompiledFilter {
    filter: KeywordFilter,
    pattern: regex::Regex,
}

/// The pattern for `word` as a whole word or phrase, any case, Unicode-aware.
pub(crate) fn word_pattern(word: &str) -> Result<regex::Regex, regex::Error> {
    regex::Regex::new(&format!(r"(?i)(?:^|[^\w]){}(?:[^\w]|$)", regex::escape(word.trim())))
}

/// Moderation's in-memory state for one running server.
#[derive(Debug, Default)]
pub struct Sanctions {
    overrides: Mutex<Vec<ScopedOverride>>,
    timeouts: Mutex<HashMap<UserId, i64>>,
    last_sent: Mutex<HashMap<(ChannelId, UserId), i64>>,
    filters: Mutex<Vec<CompiledFilter>>,
    waiting: Mutex<HashMap<String, Vec<mpsc::Sender<Bytes>>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Sanctions {
    /// Loads overrides, timeouts in force and filters from the store.
    pub async fn load(store: &Store, now: i64) -> Result<Sanctions, StoreError> {
        let sanctions = Sanctions::default();
        *lock(&sanctions.overrides) = store.permission_overrides().await?;
        *lock(&sanctions.timeouts) =
            store.active_timeouts(now).await?.into_iter().map(|timeout| (timeout.user_id, timeout.until)).collect();
        sanctions.set_filters(store.keyword_filters().await?);
        Ok(sanctions)
    }

    /// The overrides that apply to `channel`.
    pub fn rules(&self, channel: &Channel) -> ChannelRules {
        let overrides = lock(&self.overrides);
        let of = |scope: Scope| overrides.iter().filter(|o| o.scope == scope).map(|o| o.rule.clone()).collect();
        ChannelRules {
            category: channel.category_id.map(|id| of(Scope::Category(id))).unwrap_or_default(),
            channel: of(Scope::Channel(channel.id)),
        }
    }

    /// The overrides of one channel or category.
    pub fn overrides_of(&self, scope: Scope) -> Vec<PermissionOverride> {
        lock(&self.overrides).iter().filter(|o| o.scope == scope).map(|o| o.rule.clone()).collect()
    }

    /// Mirrors a stored override (removed when every flag is none).
    pub fn set_override(&self, scope: Scope, rule: PermissionOverride) {
        let mut overrides = lock(&self.overrides);
        overrides.retain(|o| !(o.scope == scope && o.rule.role == rule.role));
        if [rule.view, rule.send, rule.speak, rule.manage].iter().any(Option::is_some) {
            overrides.push(ScopedOverride { scope, rule });
        }
    }

    /// Until when `user_id` is timed out, if they are at `now`.
    pub fn timed_out_until(&self, user_id: UserId, now: i64) -> Option<i64> {
        lock(&self.timeouts).get(&user_id).copied().filter(|until| *until > now)
    }

    /// Mirrors a stored timeout (a past `until` lifts it; [`Sanctions::take_ended`] then
    /// reports it).
    pub fn set_timeout(&self, user_id: UserId, until: i64) {
        lock(&self.timeouts).insert(user_id, until);
    }

    /// The users whose timeouts have ended by `now`, forgotten here.
    pub fn take_ended(&self, now: i64) -> Vec<UserId> {
        let mut timeouts = lock(&self.timeouts);
        let ended: Vec<UserId> = timeouts.iter().filter(|(_, until)| **until <= now).map(|(user, _)| *user).collect();
        for user in &ended {
            timeouts.remove(user);
        }
        ended
    }

    /// Slow mode: takes `user_id`'s turn in `channel_id` at `now`, or says how many
    /// milliseconds are left before their next one. Races are decided here, under one lock.
    pub fn take_turn(&self, channel_id: ChannelId, user_id: UserId, seconds: u32, now: i64) -> Result<(), i64> {
        let mut last_sent = lock(&self.last_sent);
        let gap = i64::from(seconds) * 1000;
        if let Some(last) = last_sent.get(&(channel_id, user_id)) {
            if now < last + gap {
                return Err(last + gap - now);
            }
        }
        if last_sent.len() > 100_000 {
            last_sent.clear();
        }
        last_sent.insert((channel_id, user_id), now);
        Ok(())
    }

    /// Replaces the keyword filters (a word whose pattern cannot be built is skipped, logged).
    pub fn set_filters(&self, filters: Vec<KeywordFilter>) {
        let compiled = filters
            .into_iter()
            .filter_map(|filter| match word_pattern(&filter.word) {
                Ok(pattern) => Some(CompiledFilter { filter, pattern }),
                Err(err) => {
                    tracing::warn!(id = filter.id, error = %err, "keyword filter skipped");
                    None
                }
            })
            .collect();
        *lock(&self.filters) = compiled;
    }

    /// The first keyword filter `body` matches.
    pub fn matching_filter(&self, body: &str) -> Option<KeywordFilter> {
        lock(&self.filters).iter().find(|f| f.pattern.is_match(body)).map(|f| f.filter.clone())
    }

    /// Remembers a connection that waits for `username`'s registration to be decided.
    pub fn wait_for_approval(&self, username: &str, outbox: mpsc::Sender<Bytes>) {
        lock(&self.waiting).entry(username.to_lowercase()).or_default().push(outbox);
    }

    /// Tells every connection waiting for `username`'s registration, and forgets them.
    pub fn tell_waiting(&self, username: &str, frame: &Bytes) {
        for outbox in lock(&self.waiting).remove(&username.to_lowercase()).into_iter().flatten() {
            let _ = outbox.try_send(frame.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_match_whole_words_in_any_case_and_script() {
        let table = [
            ("darn", "well DARN it", true),
            ("darn", "darn", true),
            ("darn", "darn!", true),
            ("darn", "darned", false),
            ("darn", "undarn", false),
            ("straße", "die STRASSE", false),
            ("straße", "die Straße hier", true),
            ("ñandú", "un Ñandú corre", true),
            ("ñandú", "ñandúes", false),
            ("bad word", "a Bad  word", false),
            ("bad word", "a BAD WORD here", true),
            ("f*ck", "oh f*ck.", true),
        ];
        for (word, body, expected) in table {
            assert_eq!(word_pattern(word).expect("pattern").is_match(body), expected, "{word:?} in {body:?}");
        }
    }

    #[test]
    fn slow_mode_lets_one_message_through_per_gap() {
        let sanctions = Sanctions::default();
        let (channel, ann, bob) = (ChannelId(1), UserId(1), UserId(2));
        assert_eq!(sanctions.take_turn(channel, ann, 5, 1_000), Ok(()));
        assert_eq!(sanctions.take_turn(channel, ann, 5, 2_000), Err(4_000));
        assert_eq!(sanctions.take_turn(channel, bob, 5, 2_000), Ok(()), "each member has their own turn");
        assert_eq!(sanctions.take_turn(ChannelId(2), ann, 5, 2_000), Ok(()), "and each channel");
        assert_eq!(sanctions.take_turn(channel, ann, 5, 6_000), Ok(()));
    }

    #[test]
    fn timeouts_end_on_time() {
        let sanctions = Sanctions::default();
        sanctions.set_timeout(UserId(1), 5_000);
        sanctions.set_timeout(UserId(2), 9_000);
        assert_eq!(sanctions.timed_out_until(UserId(1), 4_999), Some(5_000));
        assert_eq!(sanctions.take_ended(4_999), []);
        assert_eq!(sanctions.timed_out_until(UserId(1), 5_000), None);
        assert_eq!(sanctions.take_ended(5_000), [UserId(1)]);
        assert_eq!(sanctions.take_ended(5_001), [], "reported once");
        sanctions.set_timeout(UserId(2), 2_000);
        assert_eq!(sanctions.timed_out_until(UserId(2), 2_001), None, "lifted");
        assert_eq!(sanctions.take_ended(2_001), [UserId(2)]);
    }
}
