//! Rich chat calls: threads, reactions, search and mentions.

use super::exchange::{expect_message, unexpected};
use super::{Client, ClientError};
use crate::ids::{ChannelId, MessageId};
use crate::proto::{HistoryPage, MentionPage, Message, MessageReactions, Reply, Request, SearchPage};

impl Client {
    /// Replies in the thread of `message_id`; returns the reply as committed.
    pub async fn reply_thread(&self, message_id: MessageId, body: &str) -> Result<Message, ClientError> {
        expect_message(self.request(Request::ReplyThread { message_id, body: body.into(), client_id: None }).await?)
    }

    /// A page of the replies in the thread of `message_id`, oldest first, back from `before`
    /// (the newest page when `None`).
    pub async fn thread_history(
        &self,
        message_id: MessageId,
        before: Option<MessageId>,
        limit: Option<u32>,
    ) -> Result<HistoryPage, ClientError> {
        match self.request(Request::ThreadHistory { message_id, before, after: None, limit }).await? {
            Reply::History(page) => Ok(page),
            other => Err(unexpected(other)),
        }
    }

    /// Adds this member's reaction; returns the message's reactions.
    pub async fn react(&self, message_id: MessageId, emoji: &str) -> Result<MessageReactions, ClientError> {
        expect_reactions(self.request(Request::AddReaction { message_id, emoji: emoji.into() }).await?)
    }

    /// Takes back this member's reaction; returns the message's reactions.
    pub async fn unreact(&self, message_id: MessageId, emoji: &str) -> Result<MessageReactions, ClientError> {
        expect_reactions(self.request(Request::RemoveReaction { message_id, emoji: emoji.into() }).await?)
    }

    /// Searches the messages this member may read (only `channel_id`'s when given), newest
    /// first, below `before`.
    pub async fn search(
        &self,
        query: &str,
        channel_id: Option<ChannelId>,
        before: Option<MessageId>,
        limit: Option<u32>,
    ) -> Result<SearchPage, ClientError> {
        match self.request(Request::Search { query: query.into(), channel_id, before, limit }).await? {
            Reply::Search(page) => Ok(page),
            other => Err(unexpected(other)),
        }
    }

    /// The messages that mention this member, newest first, below `before`.
    pub async fn mentions(&self, before: Option<MessageId>, limit: Option<u32>) -> Result<MentionPage, ClientError> {
        match self.request(Request::ListMentions { before, limit }).await? {
            Reply::Mentions(page) => Ok(page),
            other => Err(unexpected(other)),
        }
    }
}

fn expect_reactions(reply: Reply) -> Result<MessageReactions, ClientError> {
    match reply {
        Reply::Reactions(reactions) => Ok(reactions),
        other => Err(unexpected(other)),
    }
}
