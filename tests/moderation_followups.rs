//! Follow-ups of moderation on a real server over loopback: a call follows its channel's
//! permissions at once (losing `speak` mutes, losing `view` removes), the end of a timeout does
//! not lift a moderator's mute, and data-rights actions (export, account deletion) are in the
//! audit log.

mod common;

use common::{assert_code, next_matching, TestServer};
use iptincan::client::{Client, PermissionScope};
use iptincan::proto::{ChannelKind, ErrorCode, Event, PermissionOverride, Role, SessionId, MAX_HISTORY_PAGE};

/// The next `voice_state` of `session`: whether it is server-muted.
async fn next_server_mute(client: &mut Client, session: SessionId) -> bool {
    next_matching(client, |event| match event {
        Event::VoiceState { session_id, server_muted, .. } if session_id == session => Some(server_muted),
        _ => None,
    })
    .await
}

fn member_rule(view: Option<bool>, speak: Option<bool>) -> PermissionOverride {
    PermissionOverride { role: Role::Member, view, send: None, speak, manage: None }
}

#[tokio::test]
async fn a_call_follows_its_channels_permissions_at_once() {
    let server = TestServer::start().await;
    let owner = server.admin().await;
    let mut kid = server.member("kid").await;
    let room = owner.create_channel("living-room", None, ChannelKind::Voice).await.expect("voice channel");
    let key = "A".repeat(43);
    let session = kid.join_voice(room.id, &key).await.expect("joins").session_id;
    let scope = PermissionScope::Channel(room.id);

    owner.set_channel_permissions(scope, member_rule(None, Some(false))).await.expect("no speaking");
    assert!(next_server_mute(&mut kid, session).await, "muted at once when speak is denied");
    owner.set_channel_permissions(scope, member_rule(None, None)).await.expect("inherit again");
    assert!(!next_server_mute(&mut kid, session).await, "unmuted when speak is allowed again");

    owner.set_channel_permissions(scope, member_rule(Some(false), None)).await.expect("hidden");
    let left = next_matching(&mut kid, |event| match event {
        Event::VoiceLeft { session_id, channel_id, .. } if channel_id == room.id => Some(session_id),
        _ => None,
    })
    .await;
    assert_eq!(left, session, "removed from the call at once when view is denied");
    assert_code(kid.join_voice(room.id, &key).await, ErrorCode::NotFound);
}

#[tokio::test]
async fn the_end_of_a_timeout_keeps_a_moderators_mute() {
    let server = TestServer::start().await;
    let owner = server.admin().await;
    let mut kid = server.member("kid").await;
    let general = owner.find_channel("general").await.expect("general").id;
    let room = owner.create_channel("living-room", None, ChannelKind::Voice).await.expect("voice channel");
    let session = kid.join_voice(room.id, &"A".repeat(43)).await.expect("joins").session_id;

    owner.server_mute("kid", true).await.expect("muted by a moderator");
    assert!(next_server_mute(&mut kid, session).await);
    owner.timeout("kid", 1, None).await.expect("timed out");
    assert!(next_server_mute(&mut kid, session).await, "muted while timed out");
    assert!(next_server_mute(&mut kid, session).await, "still muted when the timeout ended");
    kid.send(general, "back").await.expect("the timeout is over");

    owner.server_mute("kid", false).await.expect("unmuted by the moderator");
    assert!(!next_server_mute(&mut kid, session).await, "the moderator's unmute gives the voice back");
}

#[tokio::test]
async fn data_rights_actions_are_in_the_audit_log() {
    let server = TestServer::start().await;
    let owner = server.admin().await;
    let ann = server.member("ann").await;
    let _bob = server.member("bob").await;
    ann.export_data(None).await.expect("ann exports her own");
    owner.export_data(Some("ann")).await.expect("an admin exports hers");
    owner.delete_account(Some("bob")).await.expect("an admin deletes bob");

    let page = owner.audit_log(None, Some(MAX_HISTORY_PAGE)).await.expect("audit log");
    let lines: Vec<_> =
        page.entries.iter().map(|e| (e.actor.as_str(), e.action.as_str(), e.target.as_deref())).collect();
    assert_eq!(
        lines[..3],
        [
            ("chatter", "delete_account", Some("bob")),
            ("chatter", "export_data", Some("ann")),
            ("ann", "export_data", Some("ann"))
        ],
        "newest first: {lines:?}"
    );
    let history = owner.moderation_history("ann").await.expect("ann's history");
    assert_eq!(history.iter().filter(|entry| entry.action == "export_data").count(), 2, "{history:?}");
}
