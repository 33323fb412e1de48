//! The commands of the family side: the first start's question, joining by invite (link,
//! text or QR picture), signing in (the host to its own server), and the chat itself. Each
//! chat command is one protocol request through the signed-in [`Session`]; it returns the
//! server's answer (`{ kind, data }`) for the page to draw. Server events and the connection's
//! state reach the page as the [`CHAT_EVENT`] and [`LINK_EVENT`] events; direct messages and
//! @mentions also raise a desktop notification.

use crate::commands::Engine;
use crate::family::invite::invite_text;
use crate::family::profile::{Mode, Profile, Server};
use crate::family::session::{Joined, Link, Session, SignIn, Sink};
use crate::family::{qr, secrets, FamilyError};
use crate::voice::{self, CallEnded, Voice};
use iptincan::client::talk::TalkOptions;
use iptincan::client::Target;
use iptincan::clock::now_ms;
use iptincan::code::ConnectionCode;
use iptincan::proto::{
    ChannelId, ChannelKind, Event, Message, MessageId, QuietHours, Reply, Request, Role, SessionInfo,
};
use serde::Serialize;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tauri::{AppHandle, Emitter, Manager, State};
use tauri_plugin_notification::NotificationExt as _;
use tokio::sync::RwLock;

/// The page's event for a server event (`{ kind, data }` as in the protocol).
pub const CHAT_EVENT: &str = "chat-event";
/// The page's event for the connection's state ([`Link`]).
pub const LINK_EVENT: &str = "chat-link";
/// The page's event for an `itc://` link the OS handed to the running app.
pub const JOIN_LINK_EVENT: &str = "join-link";
/// The host's own account, made by first-run setup.
const HOST_USERNAME: &str = "chatter";

/// The family side's state, managed by Tauri.
pub struct Family {
    dir: PathBuf,
    profile: Mutex<Profile>,
    session: RwLock<Option<Session>>,
    watch: Arc<Watch>,
    link: Mutex<Option<String>>,
}

/// What the notifications need to know: who I am, which channels are direct, what is on screen,
/// and quiet hours.
#[derive(Default)]
struct Watch {
    me: Mutex<String>,
    direct: Mutex<HashSet<ChannelId>>,
    viewing: Mutex<Option<ChannelId>>,
    /// A supervised member's quiet hours: no notifications while they hold (docs/protocol.md §22).
    quiet: Mutex<Option<QuietHours>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Family {
    /// The family side over the app's data directory; `link` is an `itc://` link the app was
    /// started with.
    pub fn open(dir: PathBuf, link: Option<String>) -> Result<Family, FamilyError> {
        let profile = Profile::load(&dir)?;
        Ok(Family {
            dir,
            profile: Mutex::new(profile),
            session: RwLock::new(None),
            watch: Arc::default(),
            link: Mutex::new(link),
        })
    }

    /// The mode the first start chose, if any.
    pub fn mode(&self) -> Option<Mode> {
        lock(&self.profile).mode
    }

    /// Records the mode (an existing server set up before this version counts as "host").
    pub fn set_mode(&self, mode: Mode) -> Result<(), FamilyError> {
        let mut profile = lock(&self.profile);
        profile.mode = Some(mode);
        profile.save(&self.dir)
    }

    /// An `itc://` link handed over by the OS while the app runs: kept for the page and
    /// announced to it.
    pub fn link_opened(&self, app: &AppHandle, link: String) {
        *lock(&self.link) = Some(link.clone());
        if let Err(err) = app.emit_to("main", JOIN_LINK_EVENT, link) {
            tracing::warn!("the window could not be told about the invite link: {err}");
        }
    }

    async fn open_session(
        &self,
        app: &AppHandle,
        target: Target,
        code: String,
        how: SignIn,
    ) -> Result<Signed, FamilyError> {
        let key = Arc::new(Mutex::new(String::new()));
        let sink = Arc::new(AppSink { app: app.clone(), watch: self.watch.clone(), key: key.clone() });
        let session = Session::open(target, how, sink).await?;
        let server =
            Server { name: session.welcome.server.name.clone(), code, username: session.info.user.username.clone() };
        *lock(&key) = server.key();
        secrets::store(&server.key(), &session.info.token)?;
        let dropped = {
            let mut profile = lock(&self.profile);
            let dropped = profile.remember(server.clone());
            profile.save(&self.dir)?;
            dropped
        };
        for old in dropped {
            secrets::forget(&old.key())?;
        }
        *lock(&self.watch.me) = server.username.clone();
        *lock(&self.watch.quiet) = session.info.supervision.as_ref().and_then(|s| s.quiet_hours);
        // A call on the previous session ended with it.
        if let Some(voice) = app.try_state::<Voice>() {
            voice.clear();
        }
        let signed = Signed::new(&server, &session.info);
        *self.session.write().await = Some(session);
        tracing::info!(server = %server.name, "signed in to a family server");
        Ok(signed)
    }

    async fn ask(&self, request: Request) -> Result<Reply, FamilyError> {
        let session = self.session.read().await;
        let session = session.as_ref().ok_or(FamilyError::SignedOut)?;
        session.ask(request).await
    }

    /// The signed-in connection (see [`Session::client`]); the session's lock is not held
    /// while the caller works with it.
    pub async fn client(&self) -> Result<Arc<iptincan::client::Client>, FamilyError> {
        let session = self.session.read().await;
        session.as_ref().ok_or(FamilyError::SignedOut)?.client().await
    }

    /// Sends a message (with uploaded files' ids) on the signed-in server; answers it once
    /// stored.
    async fn send(&self, channel_id: ChannelId, body: String, attachments: Vec<i64>) -> Result<Message, FamilyError> {
        let session = self.session.read().await;
        session.as_ref().ok_or(FamilyError::SignedOut)?.send(channel_id, body, attachments).await
    }

    /// Joins a voice call on the signed-in server.
    pub async fn join_call(&self, channel_id: ChannelId, options: TalkOptions) -> Result<Joined, FamilyError> {
        let session = self.session.read().await;
        session.as_ref().ok_or(FamilyError::SignedOut)?.join_call(channel_id, options).await
    }

    /// Tells the server (and so the others in the call) one's mute and deafen.
    pub async fn set_voice_state(&self, self_muted: bool, self_deafened: bool) -> Result<(), FamilyError> {
        self.ask(Request::SetVoiceState { self_muted, self_deafened }).await.map(drop)
    }

    /// Leaves the voice call.
    pub async fn leave_call(&self) -> Result<(), FamilyError> {
        let session = self.session.read().await;
        session.as_ref().ok_or(FamilyError::SignedOut)?.leave_call().await
    }
}

/// The page's view of the session.
#[derive(Debug, Clone, Serialize)]
pub struct Signed {
    server_name: String,
    username: String,
    admin: bool,
    must_change_password: bool,
    /// When a moderator's timeout of this member ends (Unix ms), if one runs.
    timed_out_until: Option<i64>,
}

impl Signed {
    fn new(server: &Server, info: &SessionInfo) -> Signed {
        Signed {
            server_name: server.name.clone(),
            username: info.user.username.clone(),
            admin: info.user.role.is_admin(),
            must_change_password: info.must_change_password,
            timed_out_until: info.timed_out_until,
        }
    }
}

/// Passes the session's news to the window, keeps the new token, and notifies.
struct AppSink {
    app: AppHandle,
    watch: Arc<Watch>,
    /// The credential store's key for this session's server and user.
    key: Arc<Mutex<String>>,
}

impl Sink for AppSink {
    fn link(&self, link: &Link) {
        if let Err(err) = self.app.emit_to("main", LINK_EVENT, link) {
            tracing::warn!("the window could not be told the connection's state: {err}");
        }
    }

    fn event(&self, event: &Event) {
        match event {
            Event::ChannelCreated(channel) if channel.kind == ChannelKind::Direct => {
                lock(&self.watch.direct).insert(channel.id);
            }
            Event::MessageCreated(message) => self.maybe_notify(message, false),
            Event::Mentioned(message) => self.maybe_notify(message, true),
            Event::SupervisionChanged(info) if info.username == *lock(&self.watch.me) => {
                *lock(&self.watch.quiet) = info.quiet_hours;
            }
            Event::SupervisionEnded { username } if *username == *lock(&self.watch.me) => {
                *lock(&self.watch.quiet) = None;
            }
            _ => {}
        }
        if let Err(err) = self.app.emit_to("main", CHAT_EVENT, event) {
            tracing::warn!("the window could not be told a server event: {err}");
        }
    }

    fn call_ended(&self, reason: &str) {
        if let Some(voice) = self.app.try_state::<Voice>() {
            voice.clear();
        }
        voice::tell(&self.app, &CallEnded { reason });
    }

    fn resumed(&self, session: &SessionInfo) {
        *lock(&self.watch.quiet) = session.supervision.as_ref().and_then(|s| s.quiet_hours);
        if let Err(err) = secrets::store(&lock(&self.key), &session.token) {
            tracing::warn!("the new session could not be kept: {err}");
        }
    }
}

impl AppSink {
    /// A desktop notification for a new direct message, or a message that mentions this
    /// member (the server's `mentioned` event: channel messages, thread replies and edits),
    /// from someone else, unless its conversation is on screen right now. A direct message
    /// that also mentions them gives one notification. None during a supervised member's
    /// quiet hours.
    fn maybe_notify(&self, message: &iptincan::proto::Message, mentioned: bool) {
        if message.author == *lock(&self.watch.me) {
            return;
        }
        let quiet = *lock(&self.watch.quiet);
        if quiet.is_some_and(|hours| hours.is_quiet_at(now_ms())) {
            return;
        }
        let direct = lock(&self.watch.direct).contains(&message.channel_id);
        if direct == mentioned {
            return;
        }
        let focused = self.app.get_webview_window("main").and_then(|w| w.is_focused().ok()).unwrap_or(false);
        if focused && *lock(&self.watch.viewing) == Some(message.channel_id) {
            return;
        }
        let title = if direct {
            format!("{} wrote to you", message.author)
        } else {
            format!("{} mentioned you", message.author)
        };
        let body: String = message.body.chars().take(200).collect();
        if let Err(err) = self.app.notification().builder().title(title).body(body).show() {
            tracing::warn!("the notification could not be shown: {err}");
        }
    }
}

/// What the page needs at start.
#[derive(Debug, Clone, Serialize)]
pub struct AppState {
    mode: Option<Mode>,
    servers: Vec<Server>,
    /// An `itc://` link the app was opened with, not yet used.
    link: Option<String>,
}

/// The app's mode, remembered servers, and an invite link waiting to be used.
#[tauri::command]
pub fn app_state(family: State<'_, Family>) -> AppState {
    let profile = lock(&family.profile).clone();
    AppState { mode: profile.mode, servers: profile.servers, link: lock(&family.link).take() }
}

/// The first start's answer: `host` or `member`; returns it.
#[tauri::command]
pub fn choose_mode(family: State<'_, Family>, mode: String) -> Result<Mode, FamilyError> {
    let mode = match mode.as_str() {
        "host" => Mode::Host,
        "member" => Mode::Member,
        _ => return Err(FamilyError::Unexpected),
    };
    family.set_mode(mode)?;
    Ok(mode)
}

/// A checked invite: its text and the server's name.
#[derive(Debug, Clone, Serialize)]
pub struct InviteSummary {
    text: String,
    server_name: String,
}

fn summary(text: &str) -> Result<InviteSummary, FamilyError> {
    let (text, invite) = invite_text(text)?;
    Ok(InviteSummary { text, server_name: invite.code.name })
}

/// Checks a pasted or clicked invite (text or link).
#[tauri::command]
pub fn read_invite(text: String) -> Result<InviteSummary, FamilyError> {
    summary(&text)
}

/// Reads an invite from a picture of its QR code (the file's bytes).
#[tauri::command]
pub fn read_invite_picture(bytes: Vec<u8>) -> Result<InviteSummary, FamilyError> {
    summary(&qr::read(&bytes)?)
}

/// Joins with an invite: creates the account and signs in; the app is a member from now on
/// (unless it hosts a server itself).
#[tauri::command]
pub async fn join(
    app: AppHandle,
    family: State<'_, Family>,
    invite: String,
    username: String,
    password: String,
) -> Result<Signed, FamilyError> {
    let (text, parsed) = invite_text(&invite)?;
    let code = parsed.code.encode().map_err(|_| FamilyError::NotAnInvite)?;
    let signed = family
        .open_session(&app, Target::Code(parsed.code), code, SignIn::Invite { invite: text, username, password })
        .await?;
    if family.mode().is_none() {
        family.set_mode(Mode::Member)?;
    }
    Ok(signed)
}

/// The host signs in to the chat of the server on this PC (as `chatter`, with the password
/// chosen at setup), over loopback.
#[tauri::command]
pub async fn sign_in_here(
    app: AppHandle,
    family: State<'_, Family>,
    engine: State<'_, Engine>,
    password: String,
) -> Result<Signed, FamilyError> {
    let (code, target) = own_server(&engine)?;
    family.open_session(&app, target, code, SignIn::Password { username: HOST_USERNAME.into(), password }).await
}

/// The server on this PC as a loopback connection code (the public one may name the router).
fn own_server(engine: &Engine) -> Result<(String, Target), FamilyError> {
    let public = engine.connection_code().ok_or(FamilyError::NotRunning)?;
    let mut code = ConnectionCode::decode(&public).map_err(|_| FamilyError::Unexpected)?;
    code.host = "127.0.0.1".into();
    let text = code.encode().map_err(|_| FamilyError::Unexpected)?;
    Ok((text, Target::Code(code)))
}

/// Signs in again to remembered server `index` with its kept session; `None` when there is no
/// kept session or the server no longer accepts it (the page asks for the password then).
#[tauri::command]
pub async fn resume(app: AppHandle, family: State<'_, Family>, index: usize) -> Result<Option<Signed>, FamilyError> {
    let Some(server) = lock(&family.profile).servers.get(index).cloned() else { return Ok(None) };
    let Some(token) = secrets::load(&server.key())? else { return Ok(None) };
    let code = ConnectionCode::decode(&server.code).map_err(|_| FamilyError::Unexpected)?;
    match family.open_session(&app, Target::Code(code), server.code.clone(), SignIn::Token(token)).await {
        Ok(signed) => Ok(Some(signed)),
        Err(FamilyError::Client(err)) if err.code() == Some(iptincan::proto::ErrorCode::InvalidCredentials) => {
            secrets::forget(&server.key())?;
            Ok(None)
        }
        Err(err) => Err(err),
    }
}

/// Signs in to remembered server `index` with its user's password.
#[tauri::command]
pub async fn sign_in(
    app: AppHandle,
    family: State<'_, Family>,
    index: usize,
    password: String,
) -> Result<Signed, FamilyError> {
    let server = lock(&family.profile).servers.get(index).cloned().ok_or(FamilyError::SignedOut)?;
    let code = ConnectionCode::decode(&server.code).map_err(|_| FamilyError::Unexpected)?;
    family
        .open_session(
            &app,
            Target::Code(code),
            server.code.clone(),
            SignIn::Password { username: server.username, password },
        )
        .await
}

/// Signs out of the current server (ending the session there) and forgets its token.
#[tauri::command]
pub async fn sign_out(family: State<'_, Family>) -> Result<(), FamilyError> {
    let session = family.session.write().await.take();
    if let Some(session) = session {
        let server = lock(&family.profile).servers.first().cloned();
        if let Err(err) = session.ask(Request::Logout).await {
            tracing::info!("signing out: {err}");
        }
        if let Some(server) = server {
            secrets::forget(&server.key())?;
        }
    }
    Ok(())
}

/// Any request of the control protocol (docs/protocol.md) that needs no work in the app, asked
/// as the signed-in member: reactions, threads, search, moderation and the admin panel's
/// operations. The server decides what this member may do. The requests that make or end a
/// session stay with the session.
#[tauri::command]
pub async fn chat_ask(family: State<'_, Family>, request: Request) -> Result<Reply, FamilyError> {
    match request {
        Request::Hello { .. }
        | Request::Register { .. }
        | Request::Login { .. }
        | Request::Resume { .. }
        | Request::Logout => Err(FamilyError::SessionOnly),
        request => family.ask(request).await,
    }
}

/// Categories and channels (direct ones too; their unread counts when the server has them).
#[tauri::command]
pub async fn chat_channels(family: State<'_, Family>) -> Result<Reply, FamilyError> {
    let reply = family.ask(Request::ListChannels).await?;
    if let Reply::Channels(list) = &reply {
        let direct = list.channels.iter().filter(|c| c.kind == ChannelKind::Direct).map(|c| c.id);
        lock(&family.watch.direct).extend(direct);
    }
    Ok(reply)
}

/// Everyone, with presence and custom status.
#[tauri::command]
pub async fn chat_users(family: State<'_, Family>) -> Result<Reply, FamilyError> {
    family.ask(Request::ListUsers).await
}

/// A page of history, before `before` (the newest page without it).
#[tauri::command]
pub async fn chat_history(
    family: State<'_, Family>,
    channel_id: ChannelId,
    before: Option<MessageId>,
) -> Result<Reply, FamilyError> {
    let session = family.session.read().await;
    let session = session.as_ref().ok_or(FamilyError::SignedOut)?;
    let reply = session.ask(Request::History { channel_id, before, after: None, limit: Some(50) }).await?;
    if let (Reply::History(page), None) = (&reply, before) {
        // What a reconnection catches up from.
        if let Some(newest) = page.messages.last() {
            session.seen(channel_id, newest.id);
        }
    }
    Ok(reply)
}

/// Sends a message, with the files uploaded for it (`attachments`, optional); it is sent again
/// after a reconnection until stored, and stored once (the session gives it a client-chosen
/// id).
#[tauri::command]
pub async fn chat_send(
    family: State<'_, Family>,
    channel_id: ChannelId,
    body: String,
    attachments: Option<Vec<i64>>,
) -> Result<Reply, FamilyError> {
    Ok(Reply::Message(family.send(channel_id, body, attachments.unwrap_or_default()).await?))
}

/// Marks a conversation read up to `message_id` (on every device of this user).
#[tauri::command]
pub async fn chat_mark_read(
    family: State<'_, Family>,
    channel_id: ChannelId,
    message_id: MessageId,
) -> Result<Reply, FamilyError> {
    family.ask(Request::MarkRead { channel_id, message_id }).await
}

/// Edits one's own message.
#[tauri::command]
pub async fn chat_edit(family: State<'_, Family>, message_id: MessageId, body: String) -> Result<Reply, FamilyError> {
    family.ask(Request::EditMessage { message_id, body }).await
}

/// Deletes one's own message (admins: any).
#[tauri::command]
pub async fn chat_delete(family: State<'_, Family>, message_id: MessageId) -> Result<Reply, FamilyError> {
    family.ask(Request::DeleteMessage { message_id }).await
}

/// Sets or clears one's custom status.
#[tauri::command]
pub async fn chat_set_status(family: State<'_, Family>, status: Option<String>) -> Result<Reply, FamilyError> {
    family.ask(Request::SetStatus { status }).await
}

/// Opens (or finds) the direct conversation with `username`.
#[tauri::command]
pub async fn chat_open_direct(family: State<'_, Family>, username: String) -> Result<Reply, FamilyError> {
    let reply = family.ask(Request::OpenDirect { username }).await?;
    if let Reply::Channel(channel) = &reply {
        lock(&family.watch.direct).insert(channel.id);
    }
    Ok(reply)
}

/// The conversation on screen (no notification for it while the window has the focus).
#[tauri::command]
pub fn chat_viewing(family: State<'_, Family>, channel_id: Option<ChannelId>) {
    *lock(&family.watch.viewing) = channel_id;
}

/// An invite made in the chat's admin panel: its text and its link, to copy.
#[derive(Debug, Clone, Serialize)]
pub struct AdminInvite {
    text: String,
    link: String,
}

/// Admin: makes a single-use member invite.
#[tauri::command]
pub async fn chat_create_invite(
    family: State<'_, Family>,
    note: Option<String>,
    expires_in_seconds: Option<u64>,
) -> Result<AdminInvite, FamilyError> {
    let request = Request::CreateInvite { max_uses: Some(1), expires_in_seconds, role: None, note, host: None };
    let Reply::InviteCreated(created) = family.ask(request).await? else { return Err(FamilyError::Unexpected) };
    let (text, invite) = invite_text(&created.text)?;
    let link = invite.link().map_err(|_| FamilyError::NotAnInvite)?;
    Ok(AdminInvite { text, link })
}

/// Admin: makes a text or voice channel.
#[tauri::command]
pub async fn chat_create_channel(family: State<'_, Family>, name: String, voice: bool) -> Result<Reply, FamilyError> {
    let kind = if voice { ChannelKind::Voice } else { ChannelKind::Text };
    family.ask(Request::CreateChannel { name, category_id: None, kind }).await
}

/// Admin: makes someone an administrator or a member.
#[tauri::command]
pub async fn chat_set_role(family: State<'_, Family>, username: String, admin: bool) -> Result<Reply, FamilyError> {
    let role = if admin { Role::Admin } else { Role::Member };
    family.ask(Request::SetRole { username, role }).await
}
