//! The live connection to one family server: signs in (invite, password or a kept session
//! token), then runs on a task of its own that sends the app's requests one by one, passes the
//! server's events on, and reconnects by itself after a drop or a server restart (backoff up to
//! [`MAX_BACKOFF`], a visible "reconnecting" state, then `resume` with the session token).
//!
//! Requests made while it is reconnecting wait, in order, and go out once it is back: a
//! message typed meanwhile is sent then, once. A message whose connection dropped before its
//! answer came is sent again after reconnecting with the same client-chosen id, so the server
//! stores it once either way.
//!
//! A voice call ([`Talk`], the engine's live voice) runs on the same task, as it needs the
//! connection's events (key exchange) and requests; it ends when the connection drops.

use super::FamilyError;
use iptincan::client::talk::{Controls, Talk, TalkEvent, TalkOptions};
use iptincan::client::{Client, ClientError, Target};
use iptincan::proto::{ChannelId, ErrorCode, Event, Reply, Request, SessionInfo, Welcome};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Longest wait between two reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(15);
/// Requests waiting to be sent (typed while reconnecting, say) before new ones wait for room.
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
    /// Signed in again with a new session token (the old one is spent).
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
    /// A request and where its answer goes.
    Ask(Request, oneshot::Sender<Result<Reply, ClientError>>),
    /// Join a voice channel (or a direct conversation's call) with the audio devices.
    Join(ChannelId, TalkOptions, oneshot::Sender<Result<Joined, ClientError>>),
    /// Leave the call.
    Leave(oneshot::Sender<Result<(), ClientError>>),
}

/// A signed-in connection; dropping it disconnects.
#[derive(Debug)]
pub struct Session {
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
        let (jobs, queue) = mpsc::channel(QUEUE);
        let task = tauri::async_runtime::spawn(run(client, target, info.token.clone(), queue, sink));
        Ok(Session { jobs, task, info, welcome })
    }

    /// Sends `request` (after a reconnection, if one is under way) and returns the answer.
    pub async fn ask(&self, request: Request) -> Result<Reply, FamilyError> {
        let (answer, reply) = oneshot::channel();
        self.jobs.send(Job::Ask(request, answer)).await.map_err(|_| FamilyError::SignedOut)?;
        Ok(reply.await.map_err(|_| FamilyError::SignedOut)??)
    }

    /// Joins the voice channel `channel_id` with the audio devices and settings in `options`.
    pub async fn join_call(&self, channel_id: ChannelId, options: TalkOptions) -> Result<Joined, FamilyError> {
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

/// The session's task: serve requests and pass events on while connected; reconnect when not.
async fn run(
    mut client: Client,
    target: Target,
    mut token: String,
    mut queue: mpsc::Receiver<Job>,
    sink: Arc<dyn Sink>,
) {
    let mut replay = Vec::new();
    loop {
        replay = serve(&mut client, &mut queue, sink.as_ref(), replay).await;
        if queue.is_closed() {
            return;
        }
        match reconnect(&target, &token, sink.as_ref()).await {
            Some((again, info)) => {
                client = again;
                token = info.token.clone();
                sink.resumed(&info);
                sink.link(&Link::Connected);
            }
            None => {
                sink.link(&Link::SignedOut);
                return;
            }
        }
    }
}

/// What became of a job.
enum Done {
    /// Answered (or failed for good); carry on.
    Served,
    /// The connection is closed; the job, if it is to be sent again after reconnecting.
    Closed(Option<Job>),
}

/// Serves until the connection closes (or the app drops the session): first `replay` (messages
/// whose answer a dropped connection lost), then new jobs. Returns what to send again after
/// reconnecting. A call in progress ends with the connection.
async fn serve(client: &mut Client, queue: &mut mpsc::Receiver<Job>, sink: &dyn Sink, replay: Vec<Job>) -> Vec<Job> {
    let mut talk: Option<Talk> = None;
    let mut again = Vec::new();
    let mut replay = replay.into_iter();
    while let Some(job) = replay.next() {
        if let Done::Closed(job) = work(client, &mut talk, job).await {
            again.extend(job);
            again.extend(replay);
            return again;
        }
    }
    loop {
        tokio::select! {
            job = queue.recv() => {
                let Some(job) = job else { return again };
                if let Done::Closed(job) = work(client, &mut talk, job).await {
                    again.extend(job);
                    break;
                }
            }
            event = client.next_event() => {
                let Some(event) = event else { break };
                if let Some(call) = talk.as_mut() {
                    if let Err(err) = call.handle(client, &event).await {
                        tracing::warn!("the voice call failed: {err}");
                        talk = None;
                        sink.call_ended(&err.to_string());
                    }
                }
                sink.event(&event);
            }
            pumped = pump(&mut talk) => {
                if let Err(err) = pumped {
                    tracing::warn!("the voice call failed: {err}");
                    talk = None;
                    sink.call_ended(&err.to_string());
                }
            }
        }
    }
    if talk.is_some() {
        sink.call_ended("the connection to the server was lost");
    }
    again
}

/// Does one job.
async fn work(client: &Client, talk: &mut Option<Talk>, job: Job) -> Done {
    match job {
        Job::Ask(request, answer) => {
            // A message with a client id is safe to send again: the server stores it once.
            let retry = matches!(&request, Request::SendMessage { client_id: Some(_), .. }).then(|| request.clone());
            let result = client.request(request).await;
            if !matches!(result, Err(ClientError::Closed(_))) {
                let _ = answer.send(result);
                return Done::Served;
            }
            match retry {
                Some(request) => Done::Closed(Some(Job::Ask(request, answer))),
                None => {
                    let _ = answer.send(result);
                    Done::Closed(None)
                }
            }
        }
        Job::Join(channel_id, options, answer) => {
            // One call at a time: leaving the old one first.
            if talk.take().is_some() {
                if let Err(err) = client.leave_voice().await {
                    tracing::info!("leaving the previous call: {err}");
                }
            }
            let joined = Talk::join(client, channel_id, options).await.and_then(|mut call| {
                let events = call.events().ok_or_else(|| ClientError::Protocol("the call has no events".into()))?;
                let joined = Joined { controls: call.controls(), events, safety_number: call.call().safety_number() };
                *talk = Some(call);
                Ok(joined)
            });
            let _ = answer.send(joined);
            Done::Served
        }
        Job::Leave(answer) => {
            let result = if talk.take().is_some() { client.leave_voice().await } else { Ok(()) };
            let _ = answer.send(result);
            Done::Served
        }
    }
}

/// Moves the call's media; waits forever when there is no call.
async fn pump(talk: &mut Option<Talk>) -> Result<(), ClientError> {
    match talk {
        Some(call) => call.pump().await,
        None => std::future::pending().await,
    }
}

/// Tries again and again until connected and resumed; `None` when the server refuses the
/// token (the user has to sign in again).
async fn reconnect(target: &Target, token: &str, sink: &dyn Sink) -> Option<(Client, SessionInfo)> {
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let wait = backoff(attempt);
        sink.link(&Link::Reconnecting { attempt, retry_in_seconds: wait.as_secs() });
        tokio::time::sleep(wait).await;
        let client = match Client::connect(target, None).await {
            Ok(client) => client,
            Err(err) => {
                tracing::info!("reconnecting (attempt {attempt}): {err}");
                continue;
            }
        };
        match client.resume(token).await {
            Ok(info) => return Some((client, info)),
            Err(err) if err.code() == Some(ErrorCode::InvalidCredentials) => {
                tracing::info!("the server no longer accepts this session");
                return None;
            }
            Err(err) => tracing::info!("reconnecting (attempt {attempt}): {err}"),
        }
    }
}

/// 0.5 s, 1 s, 2 s, … up to [`MAX_BACKOFF`].
fn backoff(attempt: u32) -> Duration {
    let millis = 500u64.saturating_mul(1 << attempt.saturating_sub(1).min(10));
    Duration::from_millis(millis).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let waits: Vec<_> = (1..=7).map(|attempt| backoff(attempt).as_millis()).collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 15000, 15000]);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }
}
