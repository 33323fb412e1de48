//! Control connections: one task per connection that reads frames, checks each request against the session state
//! machine, dispatches it to its domain handler, and queues the answer.
//!
//! Writing happens in a second task that drains the connection's bounded queue, batching
//! whatever is waiting into one write. An idle connection keeps no write batch and a small read
//! buffer, whatever the largest frame it carried. A malformed, truncated or oversized frame gets an error
//! frame and closes this connection only.
//!
//! Deadlines: a connection must log in within [`LOGIN_TIMEOUT`] ([`PRESSURE_LOGIN_TIMEOUT`]
//! when it arrived under pressure), and until then it may be closed to make room for a newer
//! one (its [`Slot`]). Once logged in, it is sent a `ping` event after
//! `server.keepalive_seconds` without a frame from the client, and closed when nothing comes
//! back within [`PING_ANSWER_TIMEOUT`] (or `keepalive_seconds`, if shorter).

use super::context::{Conn, Eviction, Failure, Paging, Shared};
use super::hub::QUEUE_FRAMES;
use super::{
    admin, auth, backups, chat, data_rights, emoji, files, invites, link_previews, moderation, reactions, search,
    supervision, threads, tokens, voice, vpn,
};
use crate::proto::{
    decode_frame, encode_frame, negotiate_version, parse_payload, ClientFrame, ErrorCode, Event, FrameError, Reply,
    Request, ServerFrame, Session, SessionState, Welcome, HEADER_LEN, MAX_FRAME_LEN, SUPPORTED_VERSIONS,
};
use crate::transport::{Slot, Stream};
use bytes::{Bytes, BytesMut};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, WriteHalf};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A connection that has not logged in within this time is closed.
pub(crate) const LOGIN_TIMEOUT: Duration = Duration::from_secs(60);
/// The login deadline of a connection that arrived under pressure (more than half the budget
/// of unfinished connections in use).
pub(crate) const PRESSURE_LOGIN_TIMEOUT: Duration = Duration::from_secs(15);
/// A logged-in connection that sends nothing for this long after a `ping` event is closed
/// (or for `server.keepalive_seconds`, when that is shorter).
pub(crate) const PING_ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// A write that makes no progress for this long ends the connection.
pub(crate) const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes gathered into one write at most: one TLS record's worth. Every busy connection holds
/// a batch and its sealed TLS records while a write is under way, so a bigger batch is memory
/// times the connections (it was 64 KiB) for few saved system calls.
const WRITE_BATCH: usize = 16 * 1024;

/// Runs one control connection until it closes or `cancel` fires.
pub async fn serve(
    ctx: Arc<Shared>,
    stream: Box<dyn Stream>,
    peer: SocketAddr,
    mut slot: Slot,
    cancel: CancellationToken,
) {
    let id = ctx.next_connection_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (mut reader, writer) = tokio::io::split(stream);
    let (outbox, inbox) = mpsc::channel(QUEUE_FRAMES);
    let eviction = Eviction::default();
    let writer_task = tokio::spawn(write_frames(writer, inbox, eviction.clone()));
    let mut conn = Conn {
        id,
        peer: peer.ip(),
        session: Session::new(),
        token_hash: None,
        outbox,
        eviction,
        voice: None,
        acting_as: None,
    };
    tracing::debug!(%peer, id, "connection opened");
    let login_timeout = if slot.under_pressure() { PRESSURE_LOGIN_TIMEOUT } else { LOGIN_TIMEOUT };
    let mut login_deadline = tokio::time::Instant::now() + login_timeout;
    let keepalive = Duration::from_secs(ctx.config.server.keepalive_seconds);
    let answer_within = keepalive.min(PING_ANSWER_TIMEOUT);
    let mut keepalive_at = tokio::time::Instant::now() + keepalive;
    let mut pinged = false;
    // The read buffer holds nothing between frames: an idle connection keeps no buffer (a read
    // into an empty one takes 64 bytes, enough for a frame's header), and `decode_frame` makes
    // room for the whole of a frame once its header is in.
    let mut buf = BytesMut::new();

    let farewell: Option<ServerFrame> = loop {
        match decode_frame(&mut buf) {
            Ok(Some(payload)) => match parse_payload::<ClientFrame>(&payload) {
                Ok(frame) => {
                    let was_logged_in = !is_logged_out(conn.session.state());
                    let answer = dispatch(&ctx, &mut conn, frame).await;
                    let logged_out = is_logged_out(conn.session.state());
                    if was_logged_in && logged_out {
                        login_deadline = tokio::time::Instant::now() + login_timeout;
                    }
                    if !logged_out {
                        slot.finish();
                    }
                    if conn.outbox.send(answer).await.is_err() {
                        break None;
                    }
                    continue;
                }
                Err(err) => break Some(connection_error(ErrorCode::BadFrame, err.to_string())),
            },
            Ok(None) if buf.is_empty() && buf.capacity() > 0 => buf = BytesMut::new(),
            Ok(None) => {}
            Err(err @ FrameError::TooLarge { .. }) => {
                break Some(connection_error(ErrorCode::FrameTooLarge, err.to_string()))
            }
            Err(err) => break Some(connection_error(ErrorCode::BadFrame, err.to_string())),
        }
        let logged_out = is_logged_out(conn.session.state());
        tokio::select! {
            _ = cancel.cancelled() => {
                break Some(ServerFrame::Event { event: Event::ServerShutdown { reason: "the server is stopping".into() } })
            }
            (code, message) = conn.eviction.evicted() => break Some(connection_error(code, message)),
            _ = tokio::time::sleep_until(login_deadline), if logged_out => {
                let message = format!("not logged in within {} s", login_timeout.as_secs());
                break Some(connection_error(ErrorCode::Timeout, message))
            }
            _ = slot.closed_for_room(), if logged_out => {
                break Some(connection_error(ErrorCode::ServerFull, CLOSED_FOR_ROOM.into()))
            }
            _ = tokio::time::sleep_until(keepalive_at), if !logged_out => {
                if pinged {
                    ctx.note_pressure(super::pressure::Kind::Unanswered);
                    let message = format!("did not answer the keep-alive ping within {} s", answer_within.as_secs());
                    break Some(connection_error(ErrorCode::Timeout, message));
                }
                let _ = conn.outbox.try_send(encode_frame(&ServerFrame::Event { event: Event::Ping }));
                pinged = true;
                keepalive_at = tokio::time::Instant::now() + answer_within;
            }
            read = reader.read_buf(&mut buf) => match read {
                Ok(0) if buf.is_empty() => break None,
                Ok(0) => break Some(connection_error(ErrorCode::BadFrame, "connection closed in the middle of a frame".into())),
                Ok(_) => {
                    pinged = false;
                    keepalive_at = tokio::time::Instant::now() + keepalive;
                }
                Err(_) => break None,
            },
        }
    };

    voice::leave(&ctx, &mut conn);
    auth::leave_hub(&ctx, &conn).await;
    if let Some(frame) = &farewell {
        tracing::debug!(%peer, id, "closing connection: {}", describe(frame));
        let _ = conn.outbox.try_send(encode_frame(frame));
    }
    drop(conn);
    let _ = tokio::time::timeout(WRITE_TIMEOUT, writer_task).await;
    tracing::debug!(%peer, id, "connection closed");
}

/// Why an unfinished connection was closed for a newer one.
const CLOSED_FOR_ROOM: &str =
    "too many connections are logging in at once; this one was closed to make room, try again";

fn is_logged_out(state: SessionState) -> bool {
    matches!(state, SessionState::AwaitingHello | SessionState::Unauthenticated)
}

fn connection_error(code: ErrorCode, message: String) -> ServerFrame {
    ServerFrame::Error { id: None, code, message }
}

fn describe(frame: &ServerFrame) -> String {
    match frame {
        ServerFrame::Error { message, .. } => message.clone(),
        ServerFrame::Event { .. } => "server shutdown".into(),
        ServerFrame::Reply { .. } => String::new(),
    }
}

/// Drains the queue into the socket, a batch per write; on a stuck or broken peer it cancels
/// `eviction` so the reader side closes too.
async fn write_frames(mut writer: WriteHalf<Box<dyn Stream>>, mut inbox: mpsc::Receiver<Bytes>, eviction: Eviction) {
    let mut batch = Vec::new();
    while let Some(frame) = inbox.recv().await {
        batch.extend_from_slice(&frame);
        while batch.len() < WRITE_BATCH {
            match inbox.try_recv() {
                Ok(frame) => batch.extend_from_slice(&frame),
                Err(_) => break,
            }
        }
        let written = tokio::time::timeout(WRITE_TIMEOUT, async {
            writer.write_all(&batch).await?;
            writer.flush().await
        })
        .await;
        if !matches!(written, Ok(Ok(()))) {
            eviction.evict(ErrorCode::SlowConsumer, "the connection stopped accepting data");
            return;
        }
        if inbox.is_empty() {
            // Idle until the next frame: hold no batch memory meanwhile.
            batch = Vec::new();
        } else {
            batch.clear();
        }
    }
    let _ = tokio::time::timeout(WRITE_TIMEOUT, writer.shutdown()).await;
}

/// Handles one request and returns the encoded answer.
async fn dispatch(ctx: &Arc<Shared>, conn: &mut Conn, frame: ClientFrame) -> Bytes {
    let ClientFrame { id, request } = frame;
    let op = request.op_name();
    let result = match conn.session.admit(&request) {
        Err(refused) => Err(Failure::new(refused.code, refused.to_string())),
        Ok(()) => handle(ctx, conn, request).await,
    };
    let frame = match result {
        Ok(result) => ServerFrame::Reply { id, result },
        Err(failure) => {
            ctx.note_failure(&failure);
            tracing::debug!(id = conn.id, op, code = ?failure.code, "request refused");
            ServerFrame::Error { id: Some(id), code: failure.code, message: failure.message }
        }
    };
    let encoded = encode_frame(&frame);
    if encoded.len() - HEADER_LEN > MAX_FRAME_LEN {
        let message = format!(
            "the answer to {op} is larger than a frame ({MAX_FRAME_LEN} bytes); ask for less, or use the REST API"
        );
        return encode_frame(&ServerFrame::Error { id: Some(id), code: ErrorCode::LimitReached, message });
    }
    encoded
}

async fn handle(ctx: &Arc<Shared>, conn: &mut Conn, request: Request) -> Result<Reply, Failure> {
    use Request::*;
    match request {
        Hello { versions, client } => hello(ctx, conn, &versions, &client),
        Register { username, password } => auth::register(ctx, conn, username, password).await,
        Login { username, password, device } => auth::login(ctx, conn, username, password, device).await,
        Resume { token } => auth::resume(ctx, conn, token).await,
        Logout => {
            voice::leave(ctx, conn);
            auth::logout(ctx, conn).await
        }
        ChangePassword { old_password, new_password } => {
            auth::change_password(ctx, conn, old_password, new_password).await
        }
        Ping => Ok(Reply::Pong),
        ListChannels => chat::list_channels(ctx, conn).await,
        ListUsers => chat::list_users(ctx).await,
        SetStatus { status } => chat::set_status(ctx, conn, status).await,
        SendMessage { channel_id, body, client_id, attachments } => {
            moderation::screen(ctx, &conn.user(ctx)?, &body).await?;
            after_writing(ctx, chat::send_message(ctx, conn, channel_id, body, client_id, attachments).await).await
        }
        EditMessage { message_id, body } => {
            after_writing(ctx, chat::edit_message(ctx, conn, message_id, body).await).await
        }
        DeleteMessage { message_id } => chat::delete_message(ctx, conn, message_id).await,
        History { channel_id, before, after, limit } => {
            chat::history(ctx, conn, channel_id, Paging::new(before, after)?, limit).await
        }
        MarkRead { channel_id, message_id } => chat::mark_read(ctx, conn, channel_id, message_id).await,
        OpenDirect { username } => chat::open_direct(ctx, conn, username).await,
        CreateCategory { name } => admin::create_category(ctx, conn, name).await,
        RenameCategory { category_id, name } => admin::rename_category(ctx, conn, category_id, name).await,
        DeleteCategory { category_id } => admin::delete_category(ctx, conn, category_id).await,
        CreateChannel { name, category_id, kind } => admin::create_channel(ctx, conn, name, category_id, kind).await,
        RenameChannel { channel_id, name } => admin::rename_channel(ctx, conn, channel_id, name).await,
        DeleteChannel { channel_id } => {
            let deleted = admin::delete_channel(ctx, conn, channel_id).await;
            if deleted.is_ok() {
                voice::end_channel(ctx, channel_id);
            }
            deleted
        }
        SetRole { username, role } => admin::set_role(ctx, conn, username, role).await,
        CreateInvite { max_uses, expires_in_seconds, role, note, host } => {
            let options = invites::InviteOptions::checked(max_uses, expires_in_seconds, role, note);
            invites::create_invite(ctx, conn, options, host).await
        }
        ListInvites => invites::list_invites(ctx, conn).await,
        RevokeInvite { invite_id } => invites::revoke_invite(ctx, conn, invite_id).await,
        RedeemInvite { secret, username, password } => auth::redeem_invite(ctx, conn, secret, username, password).await,
        JoinVoice { channel_id, device_key } => voice::join_voice(ctx, conn, channel_id, device_key).await,
        ShareMediaKey { key_id, wrapped } => voice::share_media_key(ctx, conn, key_id, wrapped),
        SetVoiceState { self_muted, self_deafened } => voice::set_voice_state(ctx, conn, self_muted, self_deafened),
        ServerMute { username, muted } => voice::server_mute(ctx, conn, &username, muted),
        MoveVoice { username, channel_id } => voice::move_voice(ctx, conn, &username, channel_id).await,
        StartVideo { stream } => voice::start_video(ctx, conn, stream),
        StopVideo { stream } => voice::stop_video(ctx, conn, stream),
        WatchVideo { session_id, stream, watching } => voice::watch_video(ctx, conn, session_id, stream, watching),
        RequestKeyframe { session_id, stream } => {
            voice::to_sender(ctx, conn, session_id, |from_session| Event::KeyframeRequested { from_session, stream })
        }
        ReportBandwidth { session_id, stream, kbps } => voice::to_sender(ctx, conn, session_id, |from_session| {
            Event::BandwidthReport { from_session, stream, kbps }
        }),
        LeaveVoice => voice::leave_voice(ctx, conn),
        VpnStatus => vpn::status(ctx, conn).await,
        VpnRegister { name, public_key } => vpn::register(ctx, conn, name, public_key).await,
        VpnCreatePeer { username, name, host } => vpn::create_peer(ctx, conn, username, name, host).await,
        VpnRevoke { peer_id } => vpn::revoke(ctx, conn, peer_id).await,
        VpnSetLimit { peer_id, max_bandwidth_kbps } => vpn::set_limit(ctx, conn, peer_id, max_bandwidth_kbps).await,
        ReplyThread { message_id, body, client_id } => {
            moderation::screen(ctx, &conn.user(ctx)?, &body).await?;
            after_writing(ctx, threads::reply_thread(ctx, conn, message_id, body, client_id).await).await
        }
        ThreadHistory { message_id, before, after, limit } => {
            threads::thread_history(ctx, conn, message_id, Paging::new(before, after)?, limit).await
        }
        AddReaction { message_id, emoji } => reactions::react(ctx, conn, message_id, emoji, true).await,
        RemoveReaction { message_id, emoji } => reactions::react(ctx, conn, message_id, emoji, false).await,
        Search { query, channel_id, before, limit } => {
            search::search(ctx, conn, query, channel_id, before, limit).await
        }
        ListMentions { before, limit } => search::list_mentions(ctx, conn, before, limit).await,
        CreateToken { name, scopes, expires_in_seconds } => {
            tokens::create_token(ctx, conn, name, scopes, expires_in_seconds).await
        }
        ListTokens => tokens::list_tokens(ctx, conn).await,
        RevokeToken { token_id } => tokens::revoke_token(ctx, conn, token_id).await,
        ExportData { username } => data_rights::export_data(ctx, conn, username).await,
        DeleteAccount { username } => data_rights::delete_account(ctx, conn, username).await,
        UploadBegin(spec) => files::upload_begin(ctx, conn, spec).await,
        UploadChunk { upload_id, offset, data } => files::upload_chunk(ctx, conn, upload_id, offset, data).await,
        UploadOffset { upload_id } => files::upload_offset(ctx, conn, upload_id),
        UploadFinish { upload_id } => files::upload_finish(ctx, conn, upload_id).await,
        UploadCancel { upload_id } => files::upload_cancel(ctx, conn, upload_id).await,
        FileInfo { file_id } => files::file_info(ctx, conn, file_id).await,
        DownloadChunk { file_id, offset, thumbnail } => {
            files::download_chunk(ctx, conn, file_id, offset, thumbnail).await
        }
        EmojiAdd { shortcode, data } => emoji::add(ctx, conn, shortcode, data).await,
        EmojiList => emoji::list(ctx, conn).await,
        EmojiRename { shortcode, new_shortcode } => emoji::rename(ctx, conn, shortcode, new_shortcode).await,
        EmojiRemove { shortcode } => emoji::remove(ctx, conn, shortcode).await,
        Supervise { username, guardian } => supervision::supervise(ctx, conn, username, guardian).await,
        Unsupervise { username } => supervision::unsupervise(ctx, conn, username).await,
        AllowContact { username, contact, allowed } => {
            supervision::allow_contact(ctx, conn, username, contact, allowed).await
        }
        SetQuietHours { username, start_minute, end_minute } => {
            supervision::set_quiet_hours(ctx, conn, username, start_minute, end_minute).await
        }
        Supervision { username } => supervision::supervision(ctx, conn, username).await,
        ListBackups => backups::list_backups(ctx, conn).await,
        StartBackup => backups::start_backup(ctx, conn).await,
        other => moderate(ctx, &conn.user(ctx)?, other).await,
    }
}

/// The permission and moderation ops: each is one call of `moderation` with the acting user.
async fn moderate(ctx: &Shared, actor: &crate::proto::User, request: Request) -> Result<Reply, Failure> {
    use Request::*;
    let done = |result: Result<(), Failure>| result.map(|()| Reply::Ok);
    match request {
        ChannelPermissions { channel_id, category_id } => {
            let scope = moderation::scope(channel_id, category_id)?;
            moderation::channel_permissions(ctx, actor, scope).await.map(Reply::ChannelPermissions)
        }
        SetChannelPermissions { channel_id, category_id, role, view, send, speak, manage } => {
            let scope = moderation::scope(channel_id, category_id)?;
            let rule = crate::proto::PermissionOverride { role, view, send, speak, manage };
            moderation::set_channel_permissions(ctx, actor, scope, rule).await.map(Reply::ChannelPermissions)
        }
        Kick { username, reason } => done(moderation::kick(ctx, actor, &username, reason).await),
        Ban(spec) => moderation::ban(ctx, actor, spec).await.map(Reply::Ban),
        Unban { ban_id } => moderation::unban(ctx, actor, ban_id).await.map(Reply::Ban),
        ListBans => moderation::list_bans(ctx, actor).await.map(Reply::Bans),
        Timeout { username, duration_seconds, reason } => {
            done(moderation::timeout(ctx, actor, &username, duration_seconds, reason).await)
        }
        Warn { username, note } => done(moderation::warn(ctx, actor, &username, note).await),
        ModerationHistory { username } => {
            moderation::history(ctx, actor, &username).await.map(Reply::ModerationHistory)
        }
        SetSlowMode { channel_id, seconds } => {
            moderation::set_slow_mode(ctx, actor, channel_id, seconds).await.map(Reply::Channel)
        }
        AuditLog { before, limit } => moderation::audit_log(ctx, actor, before, limit).await.map(Reply::Audit),
        AddFilter { word, timeout_seconds } => {
            moderation::add_filter(ctx, actor, word, timeout_seconds).await.map(Reply::Filter)
        }
        RemoveFilter { filter_id } => done(moderation::remove_filter(ctx, actor, filter_id).await),
        ListFilters => moderation::list_filters(ctx, actor).await.map(Reply::Filters),
        ResetPassword { username, temporary_password } => {
            done(moderation::reset_password(ctx, actor, &username, temporary_password).await)
        }
        ListApprovals => moderation::list_approvals(ctx, actor).await.map(Reply::Approvals),
        Approve { username } => done(moderation::approve(ctx, actor, &username).await),
        Deny { username, reason } => done(moderation::deny(ctx, actor, &username, reason).await),
        other => Err(Failure::new(ErrorCode::InvalidArgument, format!("{} is not handled here", other.op_name()))),
    }
}

/// After a message was sent, edited or replied: records its mentions (which tells the members
/// mentioned) and asks for its link's preview.
async fn after_writing(ctx: &Arc<Shared>, written: Result<Reply, Failure>) -> Result<Reply, Failure> {
    if let Ok(Reply::Message(message)) = &written {
        search::record_mentions(ctx, message).await;
        link_previews::request(ctx, message);
    }
    written
}

/// Runs `request` for the REST API as the holder of the access token `secret`, through the
/// same handlers as a control connection's requests, if the token is valid and has the scope
/// the request needs.
pub(crate) async fn handle_for_token(ctx: &Arc<Shared>, secret: &str, request: Request) -> Result<Reply, Failure> {
    let op = request.op_name();
    let result = match token_connection(ctx, secret, &request).await {
        Ok(mut conn) => handle(ctx, &mut conn, request).await,
        Err(failure) => Err(failure),
    };
    noted(ctx, op, result)
}

/// The REST upload (`POST /api/channels/{id}/files`), with the scope of `upload_begin`.
pub(crate) async fn upload_for_token(
    ctx: &Arc<Shared>,
    secret: &str,
    spec: crate::proto::UploadSpec,
    body: crate::rest::UploadBody,
) -> Result<crate::proto::FileInfo, Failure> {
    let result = match token_connection(ctx, secret, &Request::UploadBegin(spec.clone())).await {
        Ok(conn) => files::upload_body(ctx, &conn, spec, body).await,
        Err(failure) => Err(failure),
    };
    noted(ctx, "upload_begin", result)
}

/// The REST download (`GET /api/files/{id}`), with the scope of `download_chunk`.
pub(crate) async fn download_for_token(
    ctx: &Arc<Shared>,
    secret: &str,
    file_id: i64,
    thumbnail: bool,
) -> Result<crate::rest::Download, Failure> {
    let request = Request::DownloadChunk { file_id, offset: 0, thumbnail };
    let result = match token_connection(ctx, secret, &request).await {
        Ok(conn) => files::open_download(ctx, &conn, file_id, thumbnail).await,
        Err(failure) => Err(failure),
    };
    noted(ctx, "download_chunk", result)
}

/// A connection acting as the holder of the access token `secret`, if the token is valid and
/// has the scope `request` needs.
async fn token_connection(ctx: &Shared, secret: &str, request: &Request) -> Result<Conn, Failure> {
    let holder = tokens::holder(ctx, secret).await?;
    tokens::check_scope(&holder, request)?;
    Ok(Conn {
        id: ctx.next_connection_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        peer: std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        session: Session::new(),
        token_hash: None,
        outbox: mpsc::channel(1).0,
        eviction: Eviction::default(),
        voice: None,
        acting_as: Some(holder.user),
    })
}

/// Notes a REST request's refusal, as a connection's are.
fn noted<T>(ctx: &Shared, op: &str, result: Result<T, Failure>) -> Result<T, Failure> {
    if let Err(failure) = &result {
        ctx.note_failure(failure);
        tracing::debug!(op, code = ?failure.code, "REST request refused");
    }
    result
}

fn hello(ctx: &Shared, conn: &mut Conn, versions: &[u16], client: &str) -> Result<Reply, Failure> {
    let version = negotiate_version(versions).ok_or_else(|| {
        Failure::new(
            ErrorCode::UnsupportedVersion,
            format!("this server speaks protocol versions {SUPPORTED_VERSIONS:?}; the client offered {versions:?}"),
        )
    })?;
    tracing::debug!(id = conn.id, client = %client.chars().take(64).collect::<String>(), version, "hello");
    conn.session.welcomed();
    Ok(Reply::Welcome(Welcome { version, server: ctx.server_info(), auth_methods: ctx.auth_methods() }))
}
