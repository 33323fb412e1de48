//! Rich chat's wire types and rules: threads (their summary on the root message), reactions
//! (and the one check of what a reaction may be), search results, mentions (and the one rule
//! of what `@name` mentions) and link previews.

use super::Message;
use crate::ids::{ChannelId, MessageId, UserId};
use serde::{Deserialize, Serialize};

/// Largest page of search results or mentions one request returns.
pub const MAX_SEARCH_PAGE: u32 = 50;
/// Longest search query, in characters.
pub const MAX_SEARCH_CHARS: usize = 200;
/// Longest `:shortcode:` reaction, in characters, colons included.
pub const MAX_SHORTCODE_CHARS: usize = 34;
/// Most Unicode scalar values in an emoji reaction (flags, skin tones and ZWJ sequences fit).
pub const MAX_EMOJI_SCALARS: usize = 8;
/// The character that opens a highlighted term in a search snippet (U+0002).
pub const HIGHLIGHT_START: char = '\u{2}';
/// The character that closes a highlighted term in a search snippet (U+0003).
pub const HIGHLIGHT_END: char = '\u{3}';

/// A root message's thread: how many replies it has and when the last came.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ThreadSummary {
    /// Replies in the thread.
    pub reply_count: u32,
    /// When the newest reply was sent, Unix milliseconds.
    pub last_reply_at: i64,
}

/// One emoji's reactions on a message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ReactionSummary {
    /// A Unicode emoji or a custom `:shortcode:`.
    pub emoji: String,
    /// How many members reacted with it (the length of `users`).
    pub count: u32,
    /// Who reacted, in the order they did.
    pub users: Vec<UserId>,
}

/// A message's reactions (answer to `add_reaction` and `remove_reaction`, and the
/// `reactions_changed` event).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct MessageReactions {
    /// The message's channel.
    pub channel_id: ChannelId,
    /// The message.
    pub message_id: MessageId,
    /// Every emoji with its reactions, the first used first; empty when none are left.
    pub reactions: Vec<ReactionSummary>,
}

/// A reply in a thread and the thread's summary after it (`thread_reply` event).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ThreadReply {
    /// The reply; its `thread_id` is the root message.
    pub message: Message,
    /// The root's thread now.
    pub thread: ThreadSummary,
}

/// One search result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct SearchHit {
    /// The message found.
    pub message: Message,
    /// Up to about 16 words of its text around the matches, each matched term between
    /// [`HIGHLIGHT_START`] and [`HIGHLIGHT_END`], cut parts marked `…`.
    pub snippet: String,
}

/// A page of search results, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct SearchPage {
    /// The results.
    pub hits: Vec<SearchHit>,
    /// Older results exist: ask again with `before` = the last message id here.
    pub has_more: bool,
}

/// A page of messages that mention the caller, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct MentionPage {
    /// The messages.
    pub messages: Vec<Message>,
    /// Older ones exist: ask again with `before` = the last message id here.
    pub has_more: bool,
}

/// What a link in a message shows: from the page's `og:` tags, else its `<title>` and
/// `description` meta tag.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default, utoipa::ToSchema)]
pub struct LinkPreview {
    /// The link as written in the message.
    pub url: String,
    /// The page's title.
    pub title: Option<String>,
    /// Its description.
    pub description: Option<String>,
    /// The absolute URL of its image (not fetched by the server).
    pub image: Option<String>,
}

/// Why a reaction is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a reaction is one emoji (1 to {MAX_EMOJI_SCALARS} characters, no letters) or a :shortcode: of 1 to 32 letters, digits, '_' or '-'")]
pub struct BadReaction;

/// Checks a reaction: a Unicode emoji (1 to [`MAX_EMOJI_SCALARS`] scalar values, at least one
/// outside ASCII, no letters, spaces or control characters; keycaps like `1️⃣` pass) or a custom emoji's `:shortcode:` (1 to 32
/// ASCII letters, digits, `_` or `-` between colons). The one place this rule lives.
pub fn check_reaction(emoji: &str) -> Result<(), BadReaction> {
    if let Some(code) = emoji.strip_prefix(':').and_then(|rest| rest.strip_suffix(':')) {
        let ok = (1..=MAX_SHORTCODE_CHARS - 2).contains(&code.len())
            && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        return if ok { Ok(()) } else { Err(BadReaction) };
    }
    let scalars = emoji.chars().count();
    let ok = (1..=MAX_EMOJI_SCALARS).contains(&scalars)
        && !emoji.is_ascii()
        && emoji.chars().all(|c| !c.is_control() && !c.is_whitespace() && !c.is_alphabetic());
    if ok {
        Ok(())
    } else {
        Err(BadReaction)
    }
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || "_-.".contains(c)
}

/// The names a body mentions as `@name`, in order, each once (compared without regard to ASCII
/// case). The rule: `@` not preceded by a letter, digit, `_`, `-` or `.`, then the longest run of
/// those characters; a name may also match without its trailing dots (a sentence's end), so
/// both forms are returned when they differ.
pub fn mentioned_names(body: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (at, _) in body.match_indices('@') {
        if body[..at].chars().next_back().is_some_and(is_name_char) {
            continue;
        }
        let name: String = body[at + 1..].chars().take_while(|c| is_name_char(*c)).collect();
        for form in [name.as_str(), name.trim_end_matches('.')] {
            if !form.is_empty() && !names.iter().any(|n| n.eq_ignore_ascii_case(form)) {
                names.push(form.to_string());
            }
        }
    }
    names
}

/// Whether `body` mentions `username` by the rule of [`mentioned_names`].
pub fn mentions(body: &str, username: &str) -> bool {
    mentioned_names(body).iter().any(|name| name.eq_ignore_ascii_case(username))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reactions_are_one_emoji_or_a_shortcode() {
        for good in ["👍", "❤️", "🇫🇷", "👍🏽", "👨‍👩‍👧", ":party:", ":a_b-1:", "✅", "1️⃣"]
        {
            assert_eq!(check_reaction(good), Ok(()), "{good}");
        }
        let long_code = format!(":{}:", "a".repeat(33));
        for bad in [
            "",
            "a",
            "ok",
            "12",
            "👍a",
            " 👍",
            "::",
            ":a b:",
            ":a",
            "a:",
            "😀😀😀😀😀😀😀😀😀",
            "\u{7}",
            "é",
            &long_code,
        ] {
            assert_eq!(check_reaction(bad), Err(BadReaction), "{bad:?}");
        }
    }

    #[test]
    fn wire_shapes_are_the_documented_ones() {
        use crate::proto::{parse_payload, ClientFrame, Event, Request};
        let frame: ClientFrame =
            parse_payload(br#"{"id":22,"op":"add_reaction","args":{"message_id":1201,"emoji":"x"}}"#).expect("parses");
        assert_eq!(frame.request, Request::AddReaction { message_id: MessageId(1201), emoji: "x".into() });
        let search: ClientFrame = parse_payload(br#"{"id":24,"op":"search","args":{"query":"a"}}"#).expect("optional");
        assert_eq!(search.request, Request::Search { query: "a".into(), channel_id: None, before: None, limit: None });
        let event = Event::ReactionsChanged(MessageReactions {
            channel_id: ChannelId(1),
            message_id: MessageId(1201),
            reactions: vec![ReactionSummary { emoji: "👍".into(), count: 2, users: vec![UserId(2), UserId(3)] }],
        });
        assert_eq!(
            serde_json::to_value(&event).expect("json"),
            serde_json::json!({"kind": "reactions_changed", "data": {"channel_id": 1, "message_id": 1201,
                "reactions": [{"emoji": "👍", "count": 2, "users": [2, 3]}]}})
        );
        let plain: Message = serde_json::from_value(serde_json::json!({"id": 1, "channel_id": 1, "author_id": 2,
            "author": "ann", "body": "hi", "created_at": 5, "edited_at": null}))
        .expect("a message of before");
        let json = serde_json::to_value(&plain).expect("json");
        for absent in ["thread_id", "thread", "reactions", "preview"] {
            assert!(json.get(absent).is_none(), "{absent} is left out when unset");
        }
    }

    #[test]
    fn mentions_follow_the_documented_rule() {
        for body in ["@ann", "hi @Ann!", "@ann: dinner", "(@ann)", "thanks @ann.", "thanks @ann...", "x @bob @ann"] {
            assert!(mentions(body, "ann"), "{body}");
        }
        for body in ["ann", "@anna", "me@ann", "@ann_b", "@an", "@ ann", "@ann-x"] {
            assert!(!mentions(body, "ann"), "{body}");
        }
        assert!(mentions("ask @j.r.", "j.r."), "a name ending in a dot");
        assert!(mentions("@Zoë hi", "Zoë"));
        assert_eq!(mentioned_names("@bob and @Ann. and @ann again, me@carl"), ["bob", "Ann.", "Ann"]);
    }
}
