//! The live connection to one family server: signs in (invite, password or a kept session
//! token), then runs on a task of its own that sends the app's requests one by one, passes the
//! server's events on, and reconnects by itself after a drop or a server restart (backoff up to
//! [`MAX_BACKOFF`], a visible "reconnecting" state, then `resume` with the session token).
//!
//! Requests made while it is reconnecting wait, in order, and go out once it is back: a
//! message typed meanwhile is sent then, once. (A request whose connection dropped after it
//! was sent fails with "connection closed"; exactly-once resending of those needs the server's
//! client-chosen message ids.)

use super::FamilyError;
use iptincan::client::{Client, ClientError, Target};
use iptincan::proto::{ErrorCode, Event, Reply, Request, SessionInfo, Welcome};
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
}

type Job = (Request, oneshot::Sender<Result<Reply, ClientError>>);

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
        self.jobs.send((request, answer)).await.map_err(|_| FamilyError::SignedOut)?;
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
    loop {
        serve(&mut client, &mut queue, sink.as_ref()).await;
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

/// Serves until the connection closes (or the app drops the session).
async fn serve(client: &mut Client, queue: &mut mpsc::Receiver<Job>, sink: &dyn Sink) {
    loop {
        tokio::select! {
            job = queue.recv() => {
                let Some((request, answer)) = job else { return };
                let result = client.request(request).await;
                let closed = matches!(result, Err(ClientError::Closed(_)));
                let _ = answer.send(result);
                if closed {
                    return;
                }
            }
            event = client.next_event() => match event {
                Some(event) => sink.event(&event),
                None => return,
            },
        }
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
