//! Text chat as family members use it: real server, real TLS on loopback, SQLite in a temp dir.

mod common;

use common::{assert_code, next_matching, next_message, TestServer, ADMIN_PASSWORD, MEMBER_PASSWORD};
use iptincan::proto::{ChannelId, ChannelKind, ErrorCode, Event, Request, Role};

#[tokio::test]
async fn two_members_chat_in_real_time_and_history_pages() {
    let server = TestServer::start().await;
    let ann = server.member("ann").await;
    let mut bob = server.member("bob").await;
    let general = ann.find_channel("#general").await.expect("general exists on first run");

    let sent = ann.send(general.id, "dinner is ready").await.expect("acknowledged");
    let received = next_message(&mut bob).await;
    assert_eq!(received, sent);
    assert_eq!(received.author, "ann");

    let edited = ann.edit(sent.id, "dinner is ready!").await.expect("edits own");
    let seen = next_matching(&mut bob, |event| match event {
        Event::MessageEdited(message) => Some(message),
        _ => None,
    })
    .await;
    assert_eq!(seen.body, "dinner is ready!");
    assert!(edited.edited_at.is_some());
    assert_code(bob.edit(sent.id, "hijack").await, ErrorCode::Forbidden);
    assert_code(bob.delete(sent.id).await, ErrorCode::Forbidden);

    for i in 0..120 {
        bob.send(general.id, &format!("line {i}")).await.expect("sent");
        if i % 30 == 29 {
            // Stay under the per-user send throttle.
            tokio::time::sleep(std::time::Duration::from_millis(1600)).await;
        }
    }
    let newest = ann.history(general.id, None, Some(100)).await.expect("history");
    assert_eq!(newest.messages.len(), 100);
    assert!(newest.has_more);
    assert_eq!(newest.messages.last().map(|m| m.body.as_str()), Some("line 119"));
    let older = ann.history(general.id, Some(newest.messages[0].id), Some(100)).await.expect("history");
    assert_eq!(older.messages.len(), 21);
    assert!(!older.has_more);
    assert_eq!(older.messages[0].body, "dinner is ready!");

    ann.delete(sent.id).await.expect("deletes own");
    let deleted = next_matching(&mut bob, |event| match event {
        Event::MessageDeleted { message_id, .. } => Some(message_id),
        _ => None,
    })
    .await;
    assert_eq!(deleted, sent.id);
    assert_code(ann.history(general.id, None, Some(0)).await, ErrorCode::InvalidArgument);
    assert_code(ann.send(general.id, "   ").await, ErrorCode::InvalidArgument);
    assert_code(ann.send(general.id, &"x".repeat(4001)).await, ErrorCode::InvalidArgument);
    assert_code(ann.send(ChannelId(9999), "nowhere").await, ErrorCode::NotFound);
}

#[tokio::test]
async fn history_survives_a_restart() {
    let server = TestServer::start().await;
    let ann = server.member("ann").await;
    let general = ann.find_channel("general").await.expect("general");
    let sent = ann.send(general.id, "remember me").await.expect("sent");
    drop(ann);
    let (dir, config) = server.stop().await;

    let server = TestServer::restart(dir, config).await;
    let ann = server.connect().await;
    ann.login("ann", MEMBER_PASSWORD).await.expect("account survived");
    let page = ann.history(general.id, None, None).await.expect("history");
    assert_eq!(page.messages, vec![sent]);
}

#[tokio::test]
async fn default_admin_must_change_password_first() {
    let server = TestServer::start().await;
    let admin = server.connect().await;
    let session = admin.login("chatter", "chatter").await.expect("default credentials work once");
    assert!(session.must_change_password);
    assert_code(admin.channels().await, ErrorCode::PasswordChangeRequired);
    assert_code(admin.send(ChannelId(1), "hi").await, ErrorCode::PasswordChangeRequired);
    assert_code(admin.change_password("chatter", "short").await, ErrorCode::InvalidArgument);
    assert_code(admin.change_password("wrong-old", ADMIN_PASSWORD).await, ErrorCode::InvalidCredentials);
    admin.change_password("chatter", ADMIN_PASSWORD).await.expect("changes");
    admin.channels().await.expect("allowed now");

    let again = server.connect().await;
    assert_code(again.login("chatter", "chatter").await, ErrorCode::InvalidCredentials);
    let session = again.login("chatter", ADMIN_PASSWORD).await.expect("new password");
    assert!(!session.must_change_password);
    assert_eq!(session.user.role, Role::Owner);
}

#[tokio::test]
async fn members_are_refused_every_admin_action() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let member = server.member("kid").await;
    let general = member.find_channel("general").await.expect("general");
    let refused = [
        Request::CreateCategory { name: "x".into() },
        Request::RenameCategory { category_id: 1, name: "x".into() },
        Request::DeleteCategory { category_id: 1 },
        Request::CreateChannel { name: "x".into(), category_id: None, kind: ChannelKind::Text },
        Request::RenameChannel { channel_id: general.id, name: "x".into() },
        Request::DeleteChannel { channel_id: general.id },
        Request::SetRole { username: "kid".into(), role: Role::Admin },
    ];
    for request in refused {
        assert_code(member.request(request.clone()).await, ErrorCode::Forbidden);
    }
    assert_eq!(member.find_channel("general").await.expect("untouched").name, "general");

    // The admin can do all of it; a promoted member then can too.
    let homework = admin.create_channel("homework", Some(1), ChannelKind::Text).await.expect("creates");
    admin.rename_channel(homework.id, "#school").await.expect("renames");
    admin.set_role("kid", Role::Admin).await.expect("promotes");
    member.delete_channel(homework.id).await.expect("promoted member deletes");
    assert_code(admin.set_role("chatter", Role::Member).await, ErrorCode::InvalidArgument);
}

#[tokio::test]
async fn wrong_passwords_are_rate_limited_per_account() {
    let server = TestServer::start().await;
    drop(server.member("ann").await);
    let attacker = server.connect().await;
    for _ in 0..5 {
        assert_code(attacker.login("ann", "guess-guess").await, ErrorCode::InvalidCredentials);
    }
    assert_code(attacker.login("ann", MEMBER_PASSWORD).await, ErrorCode::RateLimited);
    assert_code(attacker.login("ghost", "guess-guess").await, ErrorCode::InvalidCredentials);
}

#[tokio::test]
async fn registration_closed_and_max_users() {
    let server = TestServer::start_with(|config| {
        config.auth.allow_registration = false;
        config.server.max_users = 1;
    })
    .await;
    let visitor = server.connect().await;
    assert_code(visitor.register("newbie", MEMBER_PASSWORD).await, ErrorCode::RegistrationClosed);
    assert!(!visitor.welcome().auth_methods.contains(&iptincan::proto::AuthMethod::Register));
    let _admin = server.admin().await;
    let second_device = server.connect().await;
    second_device.login("chatter", ADMIN_PASSWORD).await.expect("same user needs no extra room");

    let open = TestServer::start_with(|config| config.server.max_users = 1).await;
    let _first = open.member("first").await;
    let second = open.connect().await;
    assert_code(second.register("second", MEMBER_PASSWORD).await, ErrorCode::ServerFull);
}

#[tokio::test]
async fn sessions_resume_and_logout_ends_them() {
    let server = TestServer::start().await;
    let ann = server.connect().await;
    let session = ann.register("ann", MEMBER_PASSWORD).await.expect("registers");
    let other_device = server.connect().await;
    let resumed = other_device.resume(&session.token).await.expect("resumes");
    assert_eq!(resumed.user, session.user);
    other_device.channels().await.expect("logged in");
    ann.logout().await.expect("logs out");
    assert_code(ann.channels().await, ErrorCode::NotAllowedNow);
    let third = server.connect().await;
    assert_code(third.resume(&session.token).await, ErrorCode::InvalidCredentials);
    assert_code(third.resume("made-up").await, ErrorCode::InvalidCredentials);
}

#[tokio::test]
async fn direct_messages_reach_only_the_two() {
    let server = TestServer::start().await;
    let ann = server.member("ann").await;
    let mut bob = server.member("bob").await;
    let mut eve = server.member("eve").await;
    let direct = ann.open_direct("bob").await.expect("opens");
    assert_eq!(direct.kind, ChannelKind::Direct);
    let sent = ann.send(direct.id, "just for you").await.expect("sent");
    let got = next_message(&mut bob).await;
    assert_eq!(got, sent);

    let general = eve.find_channel("general").await.expect("general");
    let marker = ann.send(general.id, "public marker").await.expect("sent");
    let first_seen = next_message(&mut eve).await;
    assert_eq!(first_seen.id, marker.id, "eve saw the public message and nothing private before it");
    assert_code(eve.history(direct.id, None, None).await, ErrorCode::NotFound);
    assert_code(eve.send(direct.id, "intrude").await, ErrorCode::NotFound);
    assert!(eve.channels().await.expect("list").channels.iter().all(|c| c.id != direct.id));
    assert_code(ann.open_direct("ann").await, ErrorCode::InvalidArgument);
    assert_code(ann.open_direct("nobody").await, ErrorCode::NotFound);
}

#[tokio::test]
async fn presence_and_custom_status() {
    let server = TestServer::start().await;
    let mut ann = server.member("ann").await;
    let bob = server.member("bob").await;
    let online = next_matching(&mut ann, |event| match event {
        Event::Presence(p) if p.user.username == "bob" => Some(p.online),
        _ => None,
    })
    .await;
    assert!(online);
    bob.set_status(Some("doing homework")).await.expect("sets");
    let status = next_matching(&mut ann, |event| match event {
        Event::Presence(p) if p.user.username == "bob" => p.status,
        _ => None,
    })
    .await;
    assert_eq!(status, "doing homework");
    let users = ann.users().await.expect("users");
    let bob_entry = users.iter().find(|u| u.user.username == "bob").expect("listed");
    assert!(bob_entry.online);
    assert_eq!(bob_entry.status.as_deref(), Some("doing homework"));
    assert_code(bob.set_status(Some(&"s".repeat(129))).await, ErrorCode::InvalidArgument);

    drop(bob);
    let offline = next_matching(&mut ann, |event| match event {
        Event::Presence(p) if p.user.username == "bob" && !p.online => Some(()),
        _ => None,
    })
    .await;
    assert_eq!(offline, ());
}

#[tokio::test]
async fn channel_changes_reach_everyone() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let mut ann = server.member("ann").await;
    let category = match admin.request(Request::CreateCategory { name: "Family".into() }).await {
        Ok(iptincan::proto::Reply::Category(category)) => category,
        other => panic!("{other:?}"),
    };
    let created = admin.create_channel("holiday", Some(category.id), ChannelKind::Text).await.expect("creates");
    let seen = next_matching(&mut ann, |event| match event {
        Event::ChannelCreated(channel) => Some(channel),
        _ => None,
    })
    .await;
    assert_eq!(seen, created);
    admin.request(Request::DeleteCategory { category_id: category.id }).await.expect("deletes category");
    let list = ann.channels().await.expect("lists");
    let holiday = list.channels.iter().find(|c| c.id == created.id).expect("channel kept");
    assert_eq!(holiday.category_id, None, "channels of a deleted category become uncategorised");
    admin.delete_channel(created.id).await.expect("deletes");
    let gone = next_matching(&mut ann, |event| match event {
        Event::ChannelDeleted { channel_id } => Some(channel_id),
        _ => None,
    })
    .await;
    assert_eq!(gone, created.id);
    assert_code(admin.create_channel("", None, ChannelKind::Text).await, ErrorCode::InvalidArgument);
    assert_code(admin.create_channel("x", Some(999), ChannelKind::Text).await, ErrorCode::NotFound);
}

/// 100 maximum-length messages of 4-byte characters do not fit in one frame: the page is
/// trimmed from its oldest end and says there is more.
#[tokio::test]
async fn history_of_long_messages_pages_within_the_frame_limit() {
    let server = TestServer::start().await;
    let writers = [server.member("ann").await, server.member("bob").await, server.member("cat").await];
    let general = writers[0].find_channel("general").await.expect("general");
    let long = "😀".repeat(iptincan::proto::MAX_MESSAGE_CHARS);
    for writer in &writers {
        for _ in 0..34 {
            writer.send(general.id, &long).await.expect("a maximum-length message is accepted");
        }
    }
    let mut seen = 0;
    let mut before = None;
    let mut pages = 0;
    loop {
        let page = writers[0].history(general.id, before, Some(100)).await.expect("page fits in a frame");
        assert!(!page.messages.is_empty());
        seen += page.messages.len();
        pages += 1;
        if !page.has_more {
            break;
        }
        before = page.messages.first().map(|m| m.id);
    }
    assert_eq!(seen, 102);
    assert!(pages >= 7, "each page holds at most about 16 such messages: {pages} pages");
}

/// Once the server is gone, every request fails with a clear error instead of waiting forever.
#[tokio::test]
async fn requests_after_the_server_stops_fail_instead_of_hanging() {
    let server = TestServer::start().await;
    let mut ann = server.member("ann").await;
    server.stop().await;
    let reason = next_matching(&mut ann, |event| match event {
        Event::ServerShutdown { reason } => Some(reason),
        _ => None,
    })
    .await;
    assert!(reason.contains("stopping"));
    let answer = tokio::time::timeout(common::WAIT, ann.channels()).await.expect("answers at once, no hang");
    match answer {
        Err(iptincan::client::ClientError::Closed(why)) => assert!(why.contains("shutting down"), "{why}"),
        other => panic!("expected a closed connection, got {other:?}"),
    }
}

/// Changing the password signs the user out everywhere else, live connections included.
#[tokio::test]
async fn changing_the_password_ends_the_other_devices_sessions() {
    let server = TestServer::start().await;
    let mut laptop = server.connect().await;
    let session = laptop.register("ann", MEMBER_PASSWORD).await.expect("registers");
    let phone = server.connect().await;
    phone.login("ann", MEMBER_PASSWORD).await.expect("second device");
    phone.change_password(MEMBER_PASSWORD, "a-brand-new-password").await.expect("changes");
    phone.channels().await.expect("the device that changed it stays signed in");

    let events_end = tokio::time::timeout(common::WAIT, async { while laptop.next_event().await.is_some() {} }).await;
    assert!(events_end.is_ok(), "the laptop's connection was closed");
    match laptop.channels().await {
        Err(iptincan::client::ClientError::Closed(why)) => assert!(why.contains("password was changed"), "{why}"),
        other => panic!("expected the laptop to be signed out, got {other:?}"),
    }
    let other = server.connect().await;
    assert_code(other.resume(&session.token).await, ErrorCode::InvalidCredentials);
}

/// A blank message is refused with a reason that says so, not with a length it does not break.
#[tokio::test]
async fn blank_messages_are_refused_with_a_clear_reason() {
    let server = TestServer::start().await;
    let ann = server.member("ann").await;
    let general = ann.find_channel("general").await.expect("general");
    let sent = ann.send(general.id, "hello").await.expect("sends");
    for blank in ["", "    ", " \n\t "] {
        for refused in [ann.send(general.id, blank).await.map(drop), ann.edit(sent.id, blank).await.map(drop)] {
            match refused {
                Err(iptincan::client::ClientError::Server { code: ErrorCode::InvalidArgument, message }) => {
                    assert_eq!(message, "a message cannot be empty or only spaces", "{blank:?}")
                }
                other => panic!("expected invalid_argument for {blank:?}, got {other:?}"),
            }
        }
    }
    match ann.send(general.id, &"x".repeat(4001)).await {
        Err(iptincan::client::ClientError::Server { code: ErrorCode::InvalidArgument, message }) => {
            assert!(message.contains("(this one is 4001)"), "{message}")
        }
        other => panic!("expected invalid_argument, got {other:?}"),
    }
}

#[tokio::test]
async fn a_resent_message_is_stored_and_broadcast_once_and_history_pages_forward() {
    let server = TestServer::start().await;
    let ann = server.member("ann").await;
    let mut bob = server.member("bob").await;
    let general = ann.find_channel("general").await.expect("general");

    let first = ann.send_once(general.id, "are you home?", "ann-1").await.expect("stored");
    assert_eq!(first.client_id.as_deref(), Some("ann-1"));
    let again = ann.send_once(general.id, "are you home?", "ann-1").await.expect("answered");
    assert_eq!(again, first, "the repeat answers the stored message");
    let after = ann.send(general.id, "hello?").await.expect("stored");
    assert_eq!(next_message(&mut bob).await, first);
    assert_eq!(next_message(&mut bob).await, after, "the repeat broadcast nothing");
    let bobs = bob.send_once(general.id, "yes", "ann-1").await.expect("ids are per user");
    assert_ne!(bobs.id, first.id);

    let secret = ann.open_direct("bob").await.expect("direct");
    assert_code(ann.send_once(secret.id, "are you home?", "ann-1").await, ErrorCode::InvalidArgument);
    for bad in ["", "has space", "ümlaut", &"x".repeat(65)] {
        assert_code(ann.send_once(general.id, "hi", bad).await, ErrorCode::InvalidArgument);
    }
    assert!(ann.send_once(general.id, "long id", &"x".repeat(64)).await.is_ok());

    let page = ann.history_after(general.id, first.id, Some(2)).await.expect("forward");
    assert_eq!(page.messages.iter().map(|m| m.id).collect::<Vec<_>>(), [after.id, bobs.id]);
    assert!(page.has_more);
    let rest = ann.history_after(general.id, bobs.id, Some(2)).await.expect("forward");
    assert_eq!((rest.messages.len(), rest.has_more), (1, false));
    let both = Request::History { channel_id: general.id, before: Some(first.id), after: Some(first.id), limit: None };
    assert_code(ann.request(both).await, ErrorCode::InvalidArgument);
}

#[tokio::test]
async fn unread_counts_follow_the_user_across_devices_and_restarts() {
    let server = TestServer::start().await;
    let ann_laptop = server.member("ann").await;
    let mut ann_phone = server.connect().await;
    ann_phone.login("ann", MEMBER_PASSWORD).await.expect("second device");
    let bob = server.member("bob").await;
    let general = bob.find_channel("general").await.expect("general");
    let first = bob.send(general.id, "one").await.expect("sent");
    let second = bob.send(general.id, "two @ann").await.expect("sent");
    ann_laptop.send(general.id, "mine").await.expect("own messages are never unread");
    assert!(iptincan::client::mentions(&second.body, "ann"));

    let unread = |list: iptincan::proto::ChannelList| {
        let index = list.channels.iter().position(|c| c.id == general.id).expect("listed");
        assert_eq!(list.read_states.len(), list.channels.len());
        (list.read_states[index].last_read_id, list.read_states[index].unread)
    };
    assert_eq!(unread(ann_laptop.channels().await.expect("list")), (None, 2));
    let state = ann_laptop.mark_read(general.id, first.id).await.expect("marks");
    assert_eq!((state.last_read_id, state.unread), (Some(first.id), 1));
    let seen = next_matching(&mut ann_phone, |event| match event {
        Event::ReadState(state) => Some(state),
        _ => None,
    })
    .await;
    assert_eq!(seen, state, "the other device hears of it");
    let back = ann_phone.mark_read(general.id, first.id).await.expect("no change");
    assert_eq!(back, state);
    assert_code(bob.mark_read(ChannelId(9999), first.id).await, ErrorCode::NotFound);

    let (dir, config) = server.stop().await;
    let server = TestServer::restart(dir, config).await;
    let ann = server.connect().await;
    ann.login("ann", MEMBER_PASSWORD).await.expect("logs in");
    assert_eq!(unread(ann.channels().await.expect("list")), (Some(first.id), 1), "kept across a restart");
}
