//! [`Session`]: a long-lived client for an app. It owns the connection, reconnects by itself
//! after a network drop or a server restart (capped, jittered backoff), resumes with the
//! session token, catches up on what each channel it has seen missed (`history` with `after`),
//! and keeps an outbox: a message typed while offline, or whose acknowledgement was lost, is
//! sent again with the same client id, so the server stores it exactly once.
//!
//! The decisions (backoff, outbox, catch-up bookkeeping) live in the sans-IO `core`; this file
//! is the tokio driver around it. Everything the caller needs to know arrives on one channel of
//! [`Update`]s.

mod core;

pub use self::core::Outgoing;

use self::core::{Backoff, Core};
use super::{Client, ClientError, KnownHosts, Target};
use crate::ids::{ChannelId, MessageId};
use crate::proto::{ErrorCode, Event, Message, Request, SessionInfo, MAX_HISTORY_PAGE};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How often a quiet connection is checked with a `ping`.
const KEEPALIVE: Duration = Duration::from_secs(15);
/// How long a `ping` may take before the connection counts as lost.
const PING_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait before resending when the server says "sending too fast".
const RATE_LIMIT_PAUSE: Duration = Duration::from_millis(250);
/// Updates buffered for a caller that is not reading; then the session waits for it.
const UPDATE_BUFFER: usize = 4096;

/// Where the session stands.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum State {
    /// The first connection attempt is under way.
    Connecting,
    /// Connected, logged in and caught up: the messages missed while away came first (as
    /// [`Update::Event`]s), so a caller that reloads what the server counts (unread numbers)
    /// when it hears this counts each missed message once. Requests through
    /// [`Session::client`] work.
    Connected(SessionInfo),
    /// Not connected; the next attempt (number `attempt`, from 1) starts after `next_try_in`.
    Reconnecting {
        /// How many attempts have failed in a row (a lost connection counts as one).
        attempt: u32,
        /// The wait before the next attempt.
        next_try_in: Duration,
        /// Why the last attempt failed or the connection was lost.
        reason: String,
    },
    /// The token is no longer valid (expired, logged out, password changed): log in again
    /// and start a new session. The session has stopped; unsent messages arrive as
    /// [`Update::NotSent`] first.
    SignedOut {
        /// The server's explanation.
        reason: String,
    },
    /// The session cannot go on (e.g. the server's certificate no longer matches the pinned
    /// one); it has stopped, unsent messages arrive as [`Update::NotSent`] first.
    Failed {
        /// What went wrong.
        reason: String,
    },
}

/// What the session tells its caller.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Update {
    /// The connection state changed.
    State(State),
    /// A server event. Messages missed while disconnected arrive as `message_created` too,
    /// oldest first per channel; a message is passed on once even if it arrives both ways.
    Event(Event),
    /// A message from [`Session::send`] is stored (exactly once), as `message`. Its
    /// `message_created` (carrying the same `client_id`) usually comes first, live or from
    /// catching up: match the two by `client_id`.
    Sent {
        /// The id [`Session::send`] returned.
        client_id: String,
        /// The stored message.
        message: Message,
    },
    /// The server refused a message for good (e.g. the channel is gone, the text too long),
    /// or the session stopped before it could be sent.
    NotSent {
        /// The message.
        message: Outgoing,
        /// Why.
        reason: String,
    },
}

enum Command {
    Send(Outgoing),
    Seen(ChannelId, MessageId),
}

/// A long-lived, reconnecting client. Dropping it closes the connection.
///
/// ```no_run
/// # async fn demo(target: iptincan::client::Target, token: String) {
/// use iptincan::client::session::{Session, State, Update};
/// use iptincan::proto::Event;
///
/// let (session, mut updates) = Session::start(target, None, token);
/// let general = iptincan::proto::ChannelId(1);
/// // Queued at once, sent when connected, stored once however often it is retried.
/// let client_id = session.send(general, "on my way");
/// while let Some(update) = updates.recv().await {
///     match update {
///         Update::State(State::Connected(info)) => {
///             // Load what the view shows, then tell the session what it has seen.
///             if let Some(client) = session.client() {
///                 if let Ok(page) = client.history(general, None, None).await {
///                     if let Some(last) = page.messages.last() {
///                         session.seen(general, last.id);
///                     }
///                 }
///             }
///             println!("signed in as {}", info.user.username);
///         }
///         Update::State(State::Reconnecting { attempt, next_try_in, .. }) => {
///             println!("reconnecting (attempt {attempt}) in {next_try_in:?}")
///         }
///         Update::State(State::SignedOut { .. } | State::Failed { .. }) => break,
///         Update::Sent { client_id: id, message } if id == client_id => println!("stored as {}", message.id),
///         Update::Event(Event::MessageCreated(message)) => println!("{}: {}", message.author, message.body),
///         _ => {}
///     }
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct Session {
    commands: mpsc::UnboundedSender<Command>,
    client: watch::Receiver<Option<Arc<Client>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Session {
    /// Starts the session: connects to `target` (pinned by its code, or by `known_hosts`),
    /// resumes with `token`, and keeps doing so after every drop. Must be called within a
    /// tokio runtime. The receiver gets every [`Update`]; the session stops when the
    /// [`Session`] or the receiver is dropped.
    pub fn start(target: Target, known_hosts: Option<KnownHosts>, token: String) -> (Session, mpsc::Receiver<Update>) {
        Session::spawn(target, known_hosts, token, None)
    }

    /// Like [`Session::start`], but takes over `client`, a connection to `target` that has
    /// just signed in (register, invite, login or resume) with `info`: its first connected
    /// period is that connection (the first update is [`State::Connected`] with `info`), and
    /// later ones resume with `info`'s token. For an app that signs in first to learn the
    /// token and the server's welcome.
    pub fn adopt(
        target: Target,
        known_hosts: Option<KnownHosts>,
        mut client: Client,
        info: SessionInfo,
    ) -> (Session, mpsc::Receiver<Update>) {
        let events = client.take_events();
        let token = info.token.clone();
        Session::spawn(target, known_hosts, token, Some((client, events, info)))
    }

    fn spawn(
        target: Target,
        known_hosts: Option<KnownHosts>,
        token: String,
        adopted: Option<Connection>,
    ) -> (Session, mpsc::Receiver<Update>) {
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (updates, update_rx) = mpsc::channel(UPDATE_BUFFER);
        let (client_tx, client) = watch::channel(None);
        let driver = Driver {
            target,
            known_hosts,
            token,
            core: Core::default(),
            backoff: Backoff::default(),
            commands: command_rx,
            updates,
            client: client_tx,
        };
        (Session { commands, client, task: tokio::spawn(driver.run(adopted)) }, update_rx)
    }

    /// Queues a message for `channel_id` and answers its client id at once. It is sent when
    /// connected, and sent again after a reconnect until the server acknowledges it; then
    /// [`Update::Sent`] carries this id and the stored message. After the session has stopped
    /// ([`State::SignedOut`], [`State::Failed`]) the message goes nowhere.
    pub fn send(&self, channel_id: ChannelId, body: impl Into<String>) -> String {
        self.send_with_files(channel_id, body, Vec::new())
    }

    /// [`Session::send`] for a message carrying files this user uploaded (`attachments`: ids
    /// from `upload_finish`; with files the body may be empty).
    pub fn send_with_files(&self, channel_id: ChannelId, body: impl Into<String>, attachments: Vec<i64>) -> String {
        let client_id = URL_SAFE_NO_PAD.encode(crate::random::random_bytes::<16>());
        let message = Outgoing { client_id: client_id.clone(), channel_id, body: body.into(), attachments };
        // The driver is gone only when the session has stopped; its last update said why.
        let _ = self.commands.send(Command::Send(message));
        client_id
    }

    /// Tells the session the caller has `channel_id`'s messages up to `message_id` (e.g.
    /// after loading history), so a reconnect fetches what comes after. Channels the session
    /// has seen a message in are tracked already.
    pub fn seen(&self, channel_id: ChannelId, message_id: MessageId) {
        let _ = self.commands.send(Command::Seen(channel_id, message_id));
    }

    /// The current connection, for requests (history, channels, `mark_read`, …) while
    /// connected; `None` otherwise. A request on a connection that drops fails with
    /// [`ClientError::Closed`] or [`ClientError::Timeout`]; retry after the next
    /// [`State::Connected`].
    pub fn client(&self) -> Option<Arc<Client>> {
        self.client.borrow().clone()
    }

    /// The current connection, once there is one: waits while the session is connecting or
    /// reconnecting; `None` once it has stopped ([`State::SignedOut`], [`State::Failed`]).
    pub async fn connected(&self) -> Option<Arc<Client>> {
        let mut client = self.client.clone();
        client.wait_for(Option::is_some).await.ok().and_then(|current| (*current).clone())
    }
}

/// A signed-in connection, its events and its session.
type Connection = (Client, mpsc::Receiver<Event>, SessionInfo);

/// Why a connected period ended.
enum Ended {
    /// The caller dropped the session or the update receiver.
    Stopped,
    /// The connection was lost.
    Lost(String),
}

struct Driver {
    target: Target,
    known_hosts: Option<KnownHosts>,
    token: String,
    core: Core,
    backoff: Backoff,
    commands: mpsc::UnboundedReceiver<Command>,
    updates: mpsc::Sender<Update>,
    client: watch::Sender<Option<Arc<Client>>>,
}

impl Driver {
    /// Runs the session, starting with the `adopted` connection if there is one.
    async fn run(mut self, mut adopted: Option<Connection>) {
        if adopted.is_none() && self.emit(Update::State(State::Connecting)).await.is_err() {
            return;
        }
        loop {
            let connection = match adopted.take() {
                Some(connection) => Ok(connection),
                None => self.connect().await,
            };
            let reason = match connection {
                Ok((client, events, info)) => {
                    self.backoff.reset();
                    let client = Arc::new(client);
                    self.client.send_replace(Some(client.clone()));
                    let ended = self.connected(&client, events, info).await;
                    self.client.send_replace(None);
                    match ended {
                        Ended::Stopped => return,
                        Ended::Lost(reason) => reason,
                    }
                }
                Err(err) if err.code() == Some(ErrorCode::InvalidCredentials) => {
                    return self.stop(State::SignedOut { reason: err.to_string() }).await;
                }
                Err(err) if is_fatal(&err) => return self.stop(State::Failed { reason: err.to_string() }).await,
                Err(err) => err.to_string(),
            };
            tracing::info!(%reason, "not connected; will reconnect");
            let (attempt, next_try_in) = self.backoff.failed(jitter());
            let state = State::Reconnecting { attempt, next_try_in, reason };
            if self.emit(Update::State(state)).await.is_err() || self.wait(next_try_in).await.is_err() {
                return;
            }
        }
    }

    async fn connect(&self) -> Result<Connection, ClientError> {
        let mut client = Client::connect(&self.target, self.known_hosts.as_ref()).await?;
        let info = client.resume(&self.token).await?;
        let events = client.take_events();
        Ok((client, events, info))
    }

    /// Waits `delay` while still taking commands.
    async fn wait(&mut self, delay: Duration) -> Result<(), Ended> {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => return Ok(()),
                command = self.commands.recv() => self.take(command)?,
            }
        }
    }

    /// Applies a command; `None` (the [`Session`] was dropped) stops the session.
    fn take(&mut self, command: Option<Command>) -> Result<(), Ended> {
        self.apply(command.ok_or(Ended::Stopped)?);
        Ok(())
    }

    fn apply(&mut self, command: Command) {
        match command {
            Command::Send(message) => self.core.queue(message),
            Command::Seen(channel_id, message_id) => {
                self.core.saw(channel_id, message_id);
            }
        }
    }

    /// One connected period: catch up, say so, send the outbox, then pass events on and send
    /// new messages until the connection is lost or the caller stops.
    async fn connected(&mut self, client: &Client, mut events: mpsc::Receiver<Event>, info: SessionInfo) -> Ended {
        let result = async {
            self.catch_up(client).await?;
            self.emit(Update::State(State::Connected(info))).await?;
            self.flush(client).await?;
            let mut keepalive = tokio::time::interval_at(tokio::time::Instant::now() + KEEPALIVE, KEEPALIVE);
            loop {
                tokio::select! {
                    event = events.recv() => {
                        let event = event.ok_or_else(|| Ended::Lost("the connection closed".into()))?;
                        if self.core.observe(&event) {
                            self.emit(Update::Event(event)).await?;
                        }
                    }
                    command = self.commands.recv() => {
                        self.take(command)?;
                        self.flush(client).await?;
                    }
                    _ = keepalive.tick() => {
                        match tokio::time::timeout(PING_TIMEOUT, client.request(Request::Ping)).await {
                            Ok(Ok(_)) => {}
                            Ok(Err(err)) => return Err(Ended::Lost(err.to_string())),
                            Err(_) => return Err(Ended::Lost("the server stopped answering".into())),
                        }
                    }
                }
            }
        };
        match result.await {
            Ok(never) => never,
            Err(ended) => ended,
        }
    }

    /// Fetches, for every channel seen, the messages after the newest one seen.
    async fn catch_up(&mut self, client: &Client) -> Result<(), Ended> {
        for (channel_id, mut after) in self.core.catch_up_from() {
            loop {
                let page = match client.history_after(channel_id, after, Some(MAX_HISTORY_PAGE)).await {
                    Ok(page) => page,
                    Err(err) if err.code() == Some(ErrorCode::NotFound) => {
                        self.core.forget(channel_id);
                        break;
                    }
                    Err(err) => return Err(Ended::Lost(err.to_string())),
                };
                let more = page.has_more && !page.messages.is_empty();
                for message in page.messages {
                    after = message.id;
                    if self.core.saw(message.channel_id, message.id) {
                        self.emit(Update::Event(Event::MessageCreated(message))).await?;
                    }
                }
                if !more {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Sends the outbox, oldest first, until it is empty.
    async fn flush(&mut self, client: &Client) -> Result<(), Ended> {
        while let Some(next) = self.core.next_to_send().cloned() {
            let sent =
                client.send_once_with_files(next.channel_id, &next.body, &next.client_id, next.attachments.clone());
            match sent.await {
                Ok(message) => {
                    self.core.acknowledged(&message);
                    self.emit(Update::Sent { client_id: next.client_id, message }).await?;
                }
                Err(err) if err.code() == Some(ErrorCode::RateLimited) => tokio::time::sleep(RATE_LIMIT_PAUSE).await,
                Err(err) if is_refusal(&err) => {
                    self.core.refused(&next.client_id);
                    self.emit(Update::NotSent { message: next, reason: err.to_string() }).await?;
                }
                Err(err) => return Err(Ended::Lost(err.to_string())),
            }
        }
        Ok(())
    }

    /// Ends the session: every unsent message, then the final state.
    async fn stop(mut self, state: State) {
        let reason = match &state {
            State::SignedOut { reason } | State::Failed { reason } => reason.clone(),
            _ => String::new(),
        };
        while let Ok(command) = self.commands.try_recv() {
            self.apply(command);
        }
        while let Some(next) = self.core.next_to_send().cloned() {
            self.core.refused(&next.client_id);
            if self.emit(Update::NotSent { message: next, reason: reason.clone() }).await.is_err() {
                return;
            }
        }
        let _ = self.emit(Update::State(state)).await;
    }

    async fn emit(&self, update: Update) -> Result<(), Ended> {
        self.updates.send(update).await.map_err(|_| Ended::Stopped)
    }
}

/// Errors no retry can fix: the session stops.
fn is_fatal(err: &ClientError) -> bool {
    matches!(
        err,
        ClientError::FingerprintMismatch { .. }
            | ClientError::BadTarget(_)
            | ClientError::Code(_)
            | ClientError::KnownHosts { .. }
    )
}

/// Server answers that refuse a message for good (resending it would not help): also a
/// moderator's timeout, slow mode and a keyword filter (§18), and a supervised member's
/// guardian rules and quiet hours (§22), whose words the member must see at once, not a
/// message that goes out by itself later.
fn is_refusal(err: &ClientError) -> bool {
    matches!(
        err.code(),
        Some(
            ErrorCode::InvalidArgument
                | ErrorCode::NotFound
                | ErrorCode::Forbidden
                | ErrorCode::TimedOut
                | ErrorCode::SlowMode
                | ErrorCode::Filtered
                | ErrorCode::Supervised
                | ErrorCode::QuietHours
        )
    )
}

/// Uniform in [0, 1], from the operating system's random source.
fn jitter() -> f64 {
    f64::from(u32::from_le_bytes(crate::random::random_bytes::<4>())) / f64::from(u32::MAX)
}
