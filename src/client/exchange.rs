//! The request/response machinery: ids, the map of requests waiting for answers, the reader
//! that routes replies and events, timeouts, and checks of a reply's kind.

use super::ClientError;
use crate::proto::{
    decode_frame, encode_frame, parse_payload, Channel, ClientFrame, Event, Message, Reply, Request, ServerFrame,
    SessionInfo,
};
use crate::transport::Stream;
use bytes::{Bytes, BytesMut};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, oneshot};

/// The request id of the answer to the server's keep-alive `ping` event (requests count from 1).
const KEEPALIVE_ID: u64 = 0;

/// Longest wait for the answer to one request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Requests waiting for their answers, and why the connection closed once it has. One lock
/// guards both, so a request either is answered by the reader or sees that it is gone.
#[derive(Debug, Default)]
pub(super) struct Waiting {
    replies: HashMap<u64, oneshot::Sender<Result<Reply, ClientError>>>,
    closed: Option<String>,
}

pub(super) type Pending = Arc<Mutex<Waiting>>;

fn lock(pending: &Pending) -> std::sync::MutexGuard<'_, Waiting> {
    pending.lock().unwrap_or_else(|p| p.into_inner())
}

pub(super) async fn round_trip(
    outbox: &mpsc::Sender<Bytes>,
    pending: &Pending,
    next_id: &AtomicU64,
    request: Request,
) -> Result<Reply, ClientError> {
    let id = next_id.fetch_add(1, Ordering::Relaxed);
    let (reply_tx, reply_rx) = oneshot::channel();
    {
        let mut waiting = lock(pending);
        if let Some(reason) = &waiting.closed {
            return Err(ClientError::Closed(reason.clone()));
        }
        waiting.replies.insert(id, reply_tx);
    }
    if outbox.send(encode_frame(&ClientFrame { id, request })).await.is_err() {
        lock(pending).replies.remove(&id);
        return Err(ClientError::Closed("the connection is closed".into()));
    }
    match tokio::time::timeout(REQUEST_TIMEOUT, reply_rx).await {
        Ok(answer) => answer.map_err(|_| ClientError::Closed("the connection closed before the answer".into()))?,
        Err(_) => {
            lock(pending).replies.remove(&id);
            Err(ClientError::Timeout(format!("an answer from the server (waited {} s)", REQUEST_TIMEOUT.as_secs())))
        }
    }
}

pub(super) async fn read_frames(
    mut reader: tokio::io::ReadHalf<Box<dyn Stream>>,
    outbox: mpsc::Sender<Bytes>,
    pending: Pending,
    events: mpsc::Sender<Event>,
    dropped: Arc<AtomicU64>,
) {
    let mut buf = BytesMut::with_capacity(16 * 1024);
    let reason = 'read: loop {
        loop {
            let payload = match decode_frame(&mut buf) {
                Ok(Some(payload)) => payload,
                Ok(None) => break,
                Err(err) => break 'read format!("bad frame from server: {err}"),
            };
            match parse_payload::<ServerFrame>(&payload) {
                Ok(ServerFrame::Reply { id, result }) => answer(&pending, id, Ok(result)),
                Ok(ServerFrame::Error { id: Some(id), code, message }) => {
                    answer(&pending, id, Err(ClientError::Server { code, message }))
                }
                Ok(ServerFrame::Error { id: None, code, message }) => break 'read format!("{message} ({code:?})"),
                Ok(ServerFrame::Event { event: Event::Ping }) => {
                    // The keep-alive answer; its `pong` carries id 0, which no request uses.
                    let _ = outbox.try_send(encode_frame(&ClientFrame { id: KEEPALIVE_ID, request: Request::Ping }));
                }
                Ok(ServerFrame::Event { event }) => {
                    let shutdown = matches!(event, Event::ServerShutdown { .. });
                    if events.try_send(event).is_err() {
                        dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    if shutdown {
                        break 'read "the server is shutting down".into();
                    }
                }
                Err(err) => break 'read format!("unreadable frame from server: {err}"),
            }
        }
        match reader.read_buf(&mut buf).await {
            Ok(0) => break "the server closed the connection".into(),
            Ok(_) => {}
            Err(err) => break format!("read failed: {err}"),
        }
    };
    let waiting: Vec<_> = {
        let mut waiting = lock(&pending);
        waiting.closed = Some(reason.clone());
        waiting.replies.drain().collect()
    };
    for (_, reply) in waiting {
        let _ = reply.send(Err(ClientError::Closed(reason.clone())));
    }
}

fn answer(pending: &Pending, id: u64, result: Result<Reply, ClientError>) {
    if let Some(reply) = lock(pending).replies.remove(&id) {
        let _ = reply.send(result);
    }
}

pub(super) fn unexpected(reply: Reply) -> ClientError {
    ClientError::Protocol(format!("unexpected answer: {reply:?}"))
}

pub(super) fn expect_ok(reply: Reply) -> Result<(), ClientError> {
    match reply {
        Reply::Ok => Ok(()),
        other => Err(unexpected(other)),
    }
}

pub(super) fn expect_session(reply: Reply) -> Result<SessionInfo, ClientError> {
    match reply {
        Reply::Session(session) => Ok(session),
        other => Err(unexpected(other)),
    }
}

pub(super) fn expect_message(reply: Reply) -> Result<Message, ClientError> {
    match reply {
        Reply::Message(message) => Ok(message),
        other => Err(unexpected(other)),
    }
}

pub(super) fn expect_channel(reply: Reply) -> Result<Channel, ClientError> {
    match reply {
        Reply::Channel(channel) => Ok(channel),
        other => Err(unexpected(other)),
    }
}
