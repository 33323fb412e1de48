//! The live connection to one family server: signs in (invite, password or a kept session
//! token), then hands the connection to the engine's reconnecting session
//! ([`session::Session`] of `iptincan::client`: backoff, `resume` with the session token,
//! catching up on what was missed, and an outbox that sends a message again with the same
//! client-chosen id until the server has stored it, once). This file adapts it to the app:
//! its updates become the [`Sink`]'s calls (a visible "reconnecting" state, server events),
//! requests made while it reconnects wait for the connection, and [`Session::send`] answers
//! when the message is stored.
//!
//! A voice call ([`Talk`], the engine's live voice) runs on the adapter's task, as it needs
//! the session's events in order (key exchange); it ends when the connection drops.

use super::FamilyError;
use iptincan::client::session::{self, State, Update};
use iptincan::client::talk::{Controls, Talk, TalkEvent, TalkOptions};
use iptincan::client::{Client, ClientError, Target};
use iptincan::proto::{ChannelId, Event, Message, MessageId, Reply, Request, SessionInfo, Welcome};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Jobs for the session's task waiting to be taken (sending, joining, leaving a call).
const QUEUE: usize = 256;

/// How to sign in.
#[derive(Debug)]
pub enum SignIn {
    /// Create an account with an invite.
    Invite {
        /// The invite's text.
        invite: String,
        /// The chosen name.
        username: String,
        /// The chosen password.
        password: String,
    },
    /// Name and password of an existing account.
    Password {
        /// The account.
        username: String,
        /// Its password.
        password: String,
    },
    /// A session token kept from an earlier sign-in.
    Token(String),
}

/// The connection's state, as the app shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Link {
    /// Connected and signed in.
    Connected,
    /// The connection dropped; trying again.
    Reconnecting {
        /// Attempts so far.
        attempt: u32,
        /// Seconds until the next one.
        retry_in_seconds: u64,
    },
    /// The server no longer accepts the session (signed out elsewhere, or it expired).
    SignedOut,
}

/// Where the session reports to (the app: the window and notifications).
pub trait Sink: Send + Sync + 'static {
    /// The connection's state changed.
    fn link(&self, link: &Link);
    /// The server pushed an event.
    fn event(&self, event: &Event);
    /// Signed in again after a drop (with the session's token).
    fn resumed(&self, session: &SessionInfo);
    /// The voice call ended by itself (the connection dropped, or its audio failed).
    fn call_ended(&self, reason: &str);
}

/// A voice call just joined: the handles the window's voice view needs.
#[derive(Debug)]
pub struct Joined {
    /// Mute, deafen, volumes, devices, processing.
    pub controls: Controls,
    /// Level, who talks, who joins and leaves, device trouble.
    pub events: mpsc::Receiver<TalkEvent>,
    /// The call's safety number, for comparing.
    pub safety_number: String,
}

/// Work for the session's task.
enum Job {
    /// Send a message with its files (through the outbox) and say when it is stored.
    Send(ChannelId, String, Vec<i64>, oneshot::Sender<Result<Message, FamilyError>>),
    /// Join a voice channel (or a direct conversation's call) with the audio devices.
    Join(ChannelId, TalkOptions, oneshot::Sender<Result<Joined, ClientError>>),
    /// Leave the call.
    Leave(oneshot::Sender<Result<(), ClientError>>),
}

/// A signed-in session; dropping it disconnects.
#[derive(Debug)]
pub struct Session {
    engine: Arc<session::Session>,
    jobs: mpsc::Sender<Job>,
    task: tauri::async_runtime::JoinHandle<()>,
    /// Who is signed in, and the token.
    pub info: SessionInfo,
    /// The server's welcome (its name).
    pub welcome: Welcome,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Session {
    /// Connects to `target`, signs in and starts the session's task.
    pub async fn open(target: Target, how: SignIn, sink: Arc<dyn Sink>) -> Result<Session, FamilyError> {
        let client = Client::connect(&target, None).await?;
        let info = match how {
            SignIn::Invite { invite, username, password } => {
                client.redeem_invite(&invite, &username, &password).await?
            }
            SignIn::Password { username, password } => client.login(&username, &password).await?,
            SignIn::Token(token) => client.resume(&token).await?,
        };
        let welcome = client.welcome().clone();
        let (engine, updates) = session::Session::adopt(target, None, client, info.clone());
        let engine = Arc::new(engine);
        let (jobs, queue) = mpsc::channel(QUEUE);
        let task = tauri::async_runtime::spawn(run(engine.clone(), updates, queue, sink));
        Ok(Session { engine, jobs, task, info, welcome })
    }

    /// Sends `request` (once connected again, if a reconnection is under way) and returns the
    /// answer.
    pub async fn ask(&self, request: Request) -> Result<Reply, FamilyError> {
        let client = self.engine.connected().await.ok_or(FamilyError::SignedOut)?;
        Ok(client.request(request).await?)
    }

    /// The connection, once connected (waiting while a reconnection is under way), for work
    /// that makes several requests and resumes by itself, such as a file's upload.
    pub async fn client(&self) -> Result<Arc<Client>, FamilyError> {
        self.engine.connected().await.ok_or(FamilyError::SignedOut)
    }

    /// Sends a message carrying `attachments` (uploaded files' ids; may be none) and answers it
    /// as stored: sent now or once connected again, and resent after a lost answer with the
    /// same client id, so it is stored once.
    pub async fn send(
        &self,
        channel_id: ChannelId,
        body: String,
        attachments: Vec<i64>,
    ) -> Result<Message, FamilyError> {
        let (answer, reply) = oneshot::channel();
        let job = Job::Send(channel_id, body, attachments, answer);
        self.jobs.send(job).await.map_err(|_| FamilyError::SignedOut)?;
        reply.await.map_err(|_| FamilyError::SignedOut)?
    }

    /// Tells the session the app has `channel_id`'s messages up to `message_id`, so that a
    /// reconnection fetches what comes after.
    pub fn seen(&self, channel_id: ChannelId, message_id: MessageId) {
        self.engine.seen(channel_id, message_id);
    }

    /// Joins the voice channel `channel_id` with the audio devices and settings in `options`
    /// (once connected again, if a reconnection is under way).
    pub async fn join_call(&self, channel_id: ChannelId, options: TalkOptions) -> Result<Joined, FamilyError> {
        self.engine.connected().await.ok_or(FamilyError::SignedOut)?;
        let (answer, reply) = oneshot::channel();
        self.jobs.send(Job::Join(channel_id, options, answer)).await.map_err(|_| FamilyError::SignedOut)?;
        Ok(reply.await.map_err(|_| FamilyError::SignedOut)??)
    }

    /// Leaves the voice call.
    pub async fn leave_call(&self) -> Result<(), FamilyError> {
        let (answer, reply) = oneshot::channel();
        self.jobs.send(Job::Leave(answer)).await.map_err(|_| FamilyError::SignedOut)?;
        Ok(reply.await.map_err(|_| FamilyError::SignedOut)??)
    }
}

/// The session's task: passes the engine session's updates on, answers sent messages, and
/// runs the voice call. Ends when the engine session stops (signed out) or the app drops it.
async fn run(
    engine: Arc<session::Session>,
    mut updates: mpsc::Receiver<Update>,
    mut jobs: mpsc::Receiver<Job>,
    sink: Arc<dyn Sink>,
) {
    let mut talk: Option<Talk> = None;
    let mut sending: HashMap<String, oneshot::Sender<Result<Message, FamilyError>>> = HashMap::new();
    // The first connection is the one sign-in made: the app knows it already.
    let mut signed_in = false;
    loop {
        tokio::select! {
            update = updates.recv() => {
                let Some(update) = update else { return };
                if let Some(call) = talk.as_mut() {
                    if let Err(err) = call.handle_update(&engine, &update).await {
                        end_call(&mut talk, sink.as_ref(), &err);
                    }
                }
                match update {
                    Update::State(state) => {
                        if let Some(link) = link(state, &mut signed_in, sink.as_ref()) {
                            sink.link(&link);
                        }
                    }
                    Update::Event(event) => sink.event(&event),
                    Update::Sent { client_id, message } => {
                        if let Some(answer) = sending.remove(&client_id) {
                            let _ = answer.send(Ok(message));
                        }
                    }
                    Update::NotSent { message, reason } => {
                        if let Some(answer) = sending.remove(&message.client_id) {
                            let _ = answer.send(Err(FamilyError::NotSent(reason)));
                        }
                    }
                    _ => {}
                }
            }
            job = jobs.recv() => {
                let Some(job) = job else { return };
                work(&engine, &mut talk, &mut sending, job).await;
            }
            pumped = pump(&mut talk) => {
                if let Err(err) = pumped {
                    end_call(&mut talk, sink.as_ref(), &err);
                }
            }
        }
    }
}

/// The app's view of a state change, if it shows one.
fn link(state: State, signed_in: &mut bool, sink: &dyn Sink) -> Option<Link> {
    match state {
        State::Connected(info) => {
            if !std::mem::replace(signed_in, true) {
                return None; // The connection sign-in made: nothing to tell.
            }
            sink.resumed(&info);
            Some(Link::Connected)
        }
        State::Reconnecting { attempt, next_try_in, reason } => {
            tracing::info!(attempt, "reconnecting: {reason}");
            Some(Link::Reconnecting { attempt, retry_in_seconds: next_try_in.as_secs() })
        }
        State::SignedOut { reason } | State::Failed { reason } => {
            tracing::info!("the session ended: {reason}");
            Some(Link::SignedOut)
        }
        _ => None,
    }
}

/// The call failed or its connection dropped: it is over.
fn end_call(talk: &mut Option<Talk>, sink: &dyn Sink, err: &ClientError) {
    tracing::warn!("the voice call ended: {err}");
    *talk = None;
    sink.call_ended(&err.to_string());
}

/// Does one job.
async fn work(
    engine: &session::Session,
    talk: &mut Option<Talk>,
    sending: &mut HashMap<String, oneshot::Sender<Result<Message, FamilyError>>>,
    job: Job,
) {
    let not_connected = || ClientError::Closed("not connected to the server right now".into());
    match job {
        Job::Send(channel_id, body, attachments, answer) => {
            sending.insert(engine.send_with_files(channel_id, body, attachments), answer);
        }
        Job::Join(channel_id, options, answer) => {
            let joined = match engine.client() {
                Some(client) => join(&client, talk, channel_id, options).await,
                None => Err(not_connected()),
            };
            let _ = answer.send(joined);
        }
        Job::Leave(answer) => {
            let result = match (talk.take(), engine.client()) {
                (Some(_), Some(client)) => client.leave_voice().await,
                _ => Ok(()),
            };
            let _ = answer.send(result);
        }
    }
}

/// Joins a call (leaving the one under way first: one call at a time).
async fn join(
    client: &Client,
    talk: &mut Option<Talk>,
    channel_id: ChannelId,
    options: TalkOptions,
) -> Result<Joined, ClientError> {
    if talk.take().is_some() {
        if let Err(err) = client.leave_voice().await {
            tracing::info!("leaving the previous call: {err}");
        }
    }
    let mut call = Talk::join(client, channel_id, options).await?;
    let events = call.events().ok_or_else(|| ClientError::Protocol("the call has no events".into()))?;
    let joined = Joined { controls: call.controls(), events, safety_number: call.call().safety_number() };
    *talk = Some(call);
    Ok(joined)
}

/// Moves the call's media; waits forever when there is no call.
async fn pump(talk: &mut Option<Talk>) -> Result<(), ClientError> {
    match talk {
        Some(call) => call.pump().await,
        None => std::future::pending().await,
    }
}
