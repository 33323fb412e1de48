//! Chat calls: channels, users and status, messages, history and direct conversations.

use super::exchange::{expect_channel, expect_message, expect_ok, unexpected};
use super::{Client, ClientError};
use crate::ids::{ChannelId, MessageId};
use crate::proto::{
    Channel, ChannelKind, ChannelList, ErrorCode, HistoryPage, Message, ReadState, Reply, Request, UserPresence,
};

impl Client {
    /// Categories and channels.
    pub async fn channels(&self) -> Result<ChannelList, ClientError> {
        match self.request(Request::ListChannels).await? {
            Reply::Channels(list) => Ok(list),
            other => Err(unexpected(other)),
        }
    }

    /// A channel by name (with or without `#`), or by numeric id.
    pub async fn find_channel(&self, name: &str) -> Result<Channel, ClientError> {
        let wanted = name.trim_start_matches('#');
        let list = self.channels().await?;
        list.channels
            .into_iter()
            .find(|c| c.kind != ChannelKind::Direct && (c.name == wanted || c.id.to_string() == wanted))
            .ok_or_else(|| ClientError::Server {
                code: ErrorCode::NotFound,
                message: format!("no channel named #{wanted}"),
            })
    }

    /// Every account with presence.
    pub async fn users(&self) -> Result<Vec<UserPresence>, ClientError> {
        match self.request(Request::ListUsers).await? {
            Reply::Users(users) => Ok(users),
            other => Err(unexpected(other)),
        }
    }

    /// Sets or clears the custom status.
    pub async fn set_status(&self, status: Option<&str>) -> Result<(), ClientError> {
        expect_ok(self.request(Request::SetStatus { status: status.map(str::to_string) }).await?)
    }

    /// Sends a message; returns it as committed by the server.
    pub async fn send(&self, channel_id: ChannelId, body: &str) -> Result<Message, ClientError> {
        self.send_with_files(channel_id, body, Vec::new()).await
    }

    /// Sends a message carrying files this user uploaded (`upload_file`); with files the body
    /// may be empty.
    pub async fn send_with_files(
        &self,
        channel_id: ChannelId,
        body: &str,
        attachments: Vec<i64>,
    ) -> Result<Message, ClientError> {
        let request = Request::SendMessage { channel_id, body: body.into(), client_id: None, attachments };
        expect_message(self.request(request).await?)
    }

    /// Sends a message that is stored at most once however often it is sent again with the same
    /// `client_id` (see [`crate::proto::MAX_CLIENT_ID_CHARS`] for its form): a repeat answers
    /// the stored message. Use it to retry after a lost answer.
    pub async fn send_once(&self, channel_id: ChannelId, body: &str, client_id: &str) -> Result<Message, ClientError> {
        self.send_once_with_files(channel_id, body, client_id, Vec::new()).await
    }

    /// [`Client::send_once`] for a message carrying files this user uploaded.
    pub async fn send_once_with_files(
        &self,
        channel_id: ChannelId,
        body: &str,
        client_id: &str,
        attachments: Vec<i64>,
    ) -> Result<Message, ClientError> {
        let request =
            Request::SendMessage { channel_id, body: body.into(), client_id: Some(client_id.into()), attachments };
        expect_message(self.request(request).await?)
    }

    /// Edits one's own message.
    pub async fn edit(&self, message_id: MessageId, body: &str) -> Result<Message, ClientError> {
        expect_message(self.request(Request::EditMessage { message_id, body: body.into() }).await?)
    }

    /// Deletes a message.
    pub async fn delete(&self, message_id: MessageId) -> Result<(), ClientError> {
        expect_ok(self.request(Request::DeleteMessage { message_id }).await?)
    }

    /// A page of history, oldest first.
    pub async fn history(
        &self,
        channel_id: ChannelId,
        before: Option<MessageId>,
        limit: Option<u32>,
    ) -> Result<HistoryPage, ClientError> {
        expect_history(self.request(Request::History { channel_id, before, after: None, limit }).await?)
    }

    /// A page of the messages after `after`, oldest first; `has_more` says newer ones remain.
    pub async fn history_after(
        &self,
        channel_id: ChannelId,
        after: MessageId,
        limit: Option<u32>,
    ) -> Result<HistoryPage, ClientError> {
        expect_history(self.request(Request::History { channel_id, before: None, after: Some(after), limit }).await?)
    }

    /// Marks `channel_id` read up to `message_id`, on every device of this user; answers the
    /// channel's read state (the marker never moves back).
    pub async fn mark_read(&self, channel_id: ChannelId, message_id: MessageId) -> Result<ReadState, ClientError> {
        match self.request(Request::MarkRead { channel_id, message_id }).await? {
            Reply::ReadState(state) => Ok(state),
            other => Err(unexpected(other)),
        }
    }

    /// The direct conversation with `username`.
    pub async fn open_direct(&self, username: &str) -> Result<Channel, ClientError> {
        expect_channel(self.request(Request::OpenDirect { username: username.into() }).await?)
    }
}

fn expect_history(reply: Reply) -> Result<HistoryPage, ClientError> {
    match reply {
        Reply::History(page) => Ok(page),
        other => Err(unexpected(other)),
    }
}
