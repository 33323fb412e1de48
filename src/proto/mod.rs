//! The control-channel wire protocol (TCP 3784), sans-IO.
//!
//! Owns framing (a 4-byte big-endian length, then one JSON object), the message types that
//! travel in frames, version negotiation and the per-connection session state machine.
//! It does no I/O and reads no clock: the server and the client library wrap it.
//! `docs/protocol.md` is the human-readable version of this module.
//!
//! One file per concern: `framing` (the length prefix, payload parsing, version negotiation),
//! `request` (what a client sends), `reply` (what the server answers), `event` (what the server
//! pushes), `model` (the types requests, replies and events carry), `moderation` (the payloads of
//! permissions, moderation and approvals), `rich` (threads, reactions, search, mentions and link
//! previews), `tokens` (access tokens for the REST API), `data_rights` (a member's export),
//! `files` (file transfer and custom emoji payloads), `supervision` (supervised members), `backups` (backup archives) and `session` (the per-connection state
//! machine). Everything is re-exported here, so callers name `proto::X`.
//!
//! Why JSON: it is self-describing, and mature, fast libraries exist in Rust (serde_json),
//! Dart (`dart:convert`) and JavaScript (built in), so other clients are easy to write.
//! Control traffic is small; media packets (UDP 3785) use a compact binary format instead.

mod backups;
mod data_rights;
mod event;
mod files;
mod framing;
mod model;
mod moderation;
mod reply;
mod request;
mod rich;
mod session;
mod supervision;
mod tokens;

pub use crate::ids::{ChannelId, MessageId, SessionId, UserId};
pub use backups::BackupInfo;
pub use data_rights::DataExport;
pub use event::Event;
pub use files::{
    Base64, CustomEmoji, FileChunk, FileInfo, ImageInfo, UploadSpec, UploadState, CHUNK_BYTES, EMOJI_SHORTCODE_CHARS,
    MAX_ATTACHMENTS, MAX_CONTENT_TYPE_CHARS, MAX_EMOJI, MAX_EMOJI_BYTES, MAX_EMOJI_PIXELS, MAX_FILE_NAME_CHARS,
};
pub use framing::{
    decode_frame, encode_frame, negotiate_version, parse_payload, FrameError, HEADER_LEN, MAX_FRAME_LEN,
    SUPPORTED_VERSIONS,
};
pub use model::{
    Category, Channel, ChannelKind, ChannelList, HistoryPage, Message, ReadState, Role, User, UserPresence,
    VideoStream, VoiceMember, VoiceSession, WrappedKeyFor,
};
pub use moderation::{
    AuditEntry, AuditPage, BanInfo, BanSpec, ChannelPermissions, KeywordFilter, PendingRegistration, PermissionOverride,
};
pub use reply::{
    AuthMethod, CreatedInvite, ErrorCode, InviteInfo, InviteState, Reply, ServerFrame, ServerInfo, SessionInfo,
    VpnAccess, VpnCreatedPeer, VpnPeerInfo, VpnStatus, Welcome,
};
pub use request::{ClientFrame, Request, MAX_CLIENT_ID_CHARS, MAX_HISTORY_PAGE, MAX_MESSAGE_CHARS};
pub use rich::{
    check_reaction, mentioned_names, mentions, BadReaction, LinkPreview, MentionPage, MessageReactions,
    ReactionSummary, SearchHit, SearchPage, ThreadReply, ThreadSummary, HIGHLIGHT_END, HIGHLIGHT_START,
    MAX_EMOJI_SCALARS, MAX_SEARCH_CHARS, MAX_SEARCH_PAGE, MAX_SHORTCODE_CHARS,
};
pub use session::{NotAllowed, Session, SessionState};
pub use supervision::{QuietHours, SupervisionInfo, MAX_CONTACTS, MINUTES_PER_DAY};
pub use tokens::{CreatedToken, Scope, TokenInfo, MAX_TOKEN_NAME_CHARS};

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::*;

    #[test]
    fn wire_shape_is_the_documented_one() {
        let frame = ClientFrame {
            id: 7,
            request: Request::SendMessage {
                channel_id: ChannelId(1),
                body: "hi".into(),
                client_id: None,
                attachments: Vec::new(),
            },
        };
        let json: serde_json::Value = parse_payload(&encode_frame(&frame)[HEADER_LEN..]).expect("json");
        assert_eq!(json, serde_json::json!({"id": 7, "op": "send_message", "args": {"channel_id": 1, "body": "hi"}}));
        let logout: ClientFrame = parse_payload(br#"{"id":2,"op":"logout"}"#).expect("unit op");
        assert_eq!(logout.request, Request::Logout);

        let reply = ServerFrame::Reply { id: 7, result: Reply::Pong };
        let json: serde_json::Value = parse_payload(&encode_frame(&reply)[HEADER_LEN..]).expect("json");
        assert_eq!(json, serde_json::json!({"type": "reply", "id": 7, "result": {"kind": "pong"}}));

        let event = ServerFrame::Event { event: Event::ChannelDeleted { channel_id: ChannelId(3) } };
        let json: serde_json::Value = parse_payload(&encode_frame(&event)[HEADER_LEN..]).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"type": "event", "event": {"kind": "channel_deleted", "data": {"channel_id": 3}}})
        );
    }

    #[test]
    fn login_takes_an_optional_device_cookie_and_sessions_carry_one() {
        let without: ClientFrame =
            parse_payload(br#"{"id":2,"op":"login","args":{"username":"ann","password":"pw"}}"#).expect("old shape");
        assert_eq!(without.request, Request::Login { username: "ann".into(), password: "pw".into(), device: None });
        let with = ClientFrame {
            id: 2,
            request: Request::Login { username: "ann".into(), password: "pw".into(), device: Some("n.m".into()) },
        };
        let json: serde_json::Value = parse_payload(&encode_frame(&with)[HEADER_LEN..]).expect("json");
        assert_eq!(json["args"], serde_json::json!({"username": "ann", "password": "pw", "device": "n.m"}));

        let user = User { id: UserId(2), username: "ann".into(), role: Role::Member };
        let session = SessionInfo {
            token: "t".into(),
            expires_at: 1,
            user,
            must_change_password: false,
            device_cookie: Some("n.m".into()),
            supervision: None,
            timed_out_until: None,
        };
        let json = serde_json::to_value(&session).expect("json");
        assert_eq!(json["device_cookie"], "n.m");
        let older: SessionInfo = serde_json::from_value(serde_json::json!({
            "token": "t", "expires_at": 1, "user": {"id": 2, "username": "ann", "role": "member"},
            "must_change_password": false
        }))
        .expect("a reply without a cookie");
        assert_eq!(older.device_cookie, None);
        assert_eq!(serde_json::to_value(ErrorCode::DiskFull).expect("json"), "disk_full");
    }

    #[test]
    fn server_frames_round_trip() {
        let frames = [
            ServerFrame::Error { id: Some(1), code: ErrorCode::RateLimited, message: "slow down".into() },
            ServerFrame::Error { id: None, code: ErrorCode::BadFrame, message: "bad".into() },
            ServerFrame::Reply {
                id: 2,
                result: Reply::Users(vec![UserPresence {
                    user: User { id: UserId(1), username: "ann".into(), role: Role::Admin },
                    online: true,
                    status: Some("cooking".into()),
                }]),
            },
            ServerFrame::Event { event: Event::ServerShutdown { reason: "bye".into() } },
        ];
        for frame in frames {
            let mut wire = BytesMut::from(&encode_frame(&frame)[..]);
            let payload = decode_frame(&mut wire).expect("valid").expect("complete");
            assert_eq!(parse_payload::<ServerFrame>(&payload), Ok(frame));
        }
    }
}
