//! Permissions and moderation on a real server over loopback with a real SQLite file: every
//! moderation and admin op refused below its role; private channels and inherited overrides;
//! bans by account and address (across reconnects and new accounts); timeouts that end on
//! time; slow mode with two connections racing; keyword filters; password resets by an admin;
//! registrations waiting for approval; and each of them in the audit log.

mod common;

use common::{assert_code, next_matching, TestServer, MEMBER_PASSWORD};
use iptincan::client::{BanSpec, Client, ClientError, InviteSpec, PermissionScope};
use iptincan::proto::{ChannelKind, ErrorCode, Event, PermissionOverride, Request, Role, MAX_HISTORY_PAGE};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// Makes an account with role `role` through an invite (invites skip approval) and logs it in.
async fn invited(server: &TestServer, owner: &Client, name: &str, role: Role) -> Client {
    let spec = InviteSpec { role: Some(role), ..InviteSpec::default() };
    let created = owner.create_invite(spec).await.expect("invite");
    let client = server.connect().await;
    client.redeem_invite(&created.text, name, MEMBER_PASSWORD).await.expect("joins");
    client
}

/// Logs `name` in on a new connection from `from` (a loopback address).
async fn login_from(server: &TestServer, name: &str, from: Option<IpAddr>) -> Result<Client, ClientError> {
    let client = Client::connect_from(&server.target(), None, from).await?;
    client.login(name, MEMBER_PASSWORD).await?;
    Ok(client)
}

/// Every audit action (with its target) from newest to oldest.
async fn audit_actions(admin: &Client) -> Vec<(String, Option<String>)> {
    let page = admin.audit_log(None, Some(MAX_HISTORY_PAGE)).await.expect("audit log");
    page.entries.into_iter().map(|entry| (entry.action, entry.target)).collect()
}

fn has(actions: &[(String, Option<String>)], action: &str, target: &str) -> bool {
    actions.iter().any(|(a, t)| a == action && t.as_deref() == Some(target))
}

fn local(last: u8) -> Option<IpAddr> {
    Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
}

#[tokio::test]
async fn every_op_is_refused_below_its_role_and_allowed_at_it() {
    let server = TestServer::start_with(|config| config.auth.require_approval = true).await;
    let owner = server.admin().await;
    let member = invited(&server, &owner, "mel", Role::Member).await;
    let moderator = invited(&server, &owner, "mo", Role::Moderator).await;
    let admin = invited(&server, &owner, "ada", Role::Admin).await;
    let _tim = invited(&server, &owner, "tim", Role::Member).await;
    let _kit = invited(&server, &owner, "kit", Role::Member).await;
    for name in ["pat", "pia"] {
        let waiting = server.connect().await;
        assert_code(waiting.register(name, MEMBER_PASSWORD).await, ErrorCode::AwaitingApproval);
    }
    let general = owner.find_channel("general").await.expect("general").id;
    let ban = owner.ban(BanSpec { address: Some("192.0.2.1".into()), ..BanSpec::default() }).await.expect("ban");
    let filter = owner.add_filter("zonk", None).await.expect("filter");
    let no_change = |role| Request::SetChannelPermissions {
        channel_id: Some(general),
        category_id: None,
        role,
        view: None,
        send: None,
        speak: None,
        manage: None,
    };

    // (op, the lowest role allowed); every op is tried by each role below it, then by that role.
    let table: Vec<(Request, Role)> = vec![
        (Request::Kick { username: "tim".into(), reason: Some("cool off".into()) }, Role::Moderator),
        (Request::Timeout { username: "tim".into(), duration_seconds: 1, reason: None }, Role::Moderator),
        (Request::Warn { username: "tim".into(), note: "be kind".into() }, Role::Moderator),
        (Request::ModerationHistory { username: "tim".into() }, Role::Moderator),
        (Request::SetSlowMode { channel_id: general, seconds: 0 }, Role::Moderator),
        (Request::ChannelPermissions { channel_id: Some(general), category_id: None }, Role::Admin),
        (no_change(Role::Member), Role::Admin),
        (Request::ListBans, Role::Admin),
        (Request::Unban { ban_id: ban.id }, Role::Admin),
        (
            Request::Ban(BanSpec { username: Some("tim".into()), duration_seconds: Some(60), ..BanSpec::default() }),
            Role::Admin,
        ),
        (Request::AuditLog { before: None, limit: None }, Role::Admin),
        (Request::AddFilter { word: "blorp".into(), timeout_seconds: None }, Role::Admin),
        (Request::ListFilters, Role::Admin),
        (Request::RemoveFilter { filter_id: filter.id }, Role::Admin),
        (Request::ResetPassword { username: "tim".into(), temporary_password: "temporary-pass".into() }, Role::Admin),
        (Request::ListApprovals, Role::Admin),
        (Request::Approve { username: "pat".into() }, Role::Admin),
        (Request::Deny { username: "pia".into(), reason: None }, Role::Admin),
        (Request::SetRole { username: "tim".into(), role: Role::Moderator }, Role::Admin),
        (Request::Supervise { username: "kit".into(), guardian: "mel".into() }, Role::Admin),
        (Request::CreateChannel { name: "den".into(), category_id: None, kind: ChannelKind::Text }, Role::Admin),
    ];
    let by_role = [(Role::Member, &member), (Role::Moderator, &moderator), (Role::Admin, &admin)];
    for (request, lowest) in table {
        for (role, client) in by_role.iter().filter(|(role, _)| role.rank() < lowest.rank()) {
            let refused = client.request(request.clone()).await;
            assert_eq!(
                refused.as_ref().err().and_then(ClientError::code),
                Some(ErrorCode::Forbidden),
                "{role:?} {request:?}"
            );
        }
        let (_, allowed) = by_role.iter().find(|(role, _)| *role == lowest).expect("a client of that role");
        allowed.request(request.clone()).await.unwrap_or_else(|err| panic!("{lowest:?} {request:?}: {err}"));
    }

    // Nobody acts on the owner, nor an admin on an admin; nobody is made owner.
    assert_code(admin.set_role("chatter", Role::Member).await, ErrorCode::Forbidden);
    assert_code(admin.kick("chatter", None).await, ErrorCode::Forbidden);
    assert_code(owner.set_role("ada", Role::Owner).await, ErrorCode::Forbidden);
    let other_admin = invited(&server, &owner, "abe", Role::Admin).await;
    assert_code(other_admin.timeout("ada", 5, None).await, ErrorCode::Forbidden);
    assert_code(moderator.timeout("mo", 5, None).await, ErrorCode::InvalidArgument);
    owner.set_role("ada", Role::Member).await.expect("the owner demotes an admin");

    let actions = audit_actions(&owner).await;
    for (action, target) in [
        ("kick", "tim"),
        ("timeout", "tim"),
        ("warn", "tim"),
        ("ban", "tim"),
        ("reset_password", "tim"),
        ("approve", "pat"),
        ("deny", "pia"),
        ("set_role", "ada"),
        ("create_channel", "#den"),
        ("add_filter", "blorp"),
        ("remove_filter", "zonk"),
        ("unban", "192.0.2.1"),
    ] {
        assert!(has(&actions, action, target), "{action} {target} in {actions:?}");
    }
}

#[tokio::test]
async fn an_address_ban_holds_across_reconnects_and_new_accounts_until_lifted() {
    let server = TestServer::start().await;
    let owner = server.admin().await;
    let mut eve = Client::connect_from(&server.target(), None, local(2)).await.expect("connects");
    eve.register("eve", MEMBER_PASSWORD).await.expect("registers from 127.0.0.2");
    let bob = server.member("bob").await;

    let ban = BanSpec {
        username: Some("eve".into()),
        ban_addresses: true,
        reason: Some("spam".into()),
        ..BanSpec::default()
    };
    let made = owner.ban(ban).await.expect("bans");
    assert_eq!((made.username.as_deref(), made.address.as_deref()), (Some("eve"), Some("127.0.0.2")));
    let ended = tokio::time::timeout(common::WAIT, async { while eve.next_event().await.is_some() {} }).await;
    assert!(ended.is_ok(), "the banned user's live connection ended at once");

    let again = login_from(&server, "eve", local(2)).await.err().and_then(|err| err.code());
    assert_eq!(again, Some(ErrorCode::Banned), "the account, from the same address");
    let elsewhere = login_from(&server, "eve", local(4)).await.err().and_then(|err| err.code());
    assert_eq!(elsewhere, Some(ErrorCode::Banned), "the account, from another address");
    let alt = Client::connect_from(&server.target(), None, local(2)).await.expect("connects");
    let refused = alt.register("eve2", MEMBER_PASSWORD).await.expect_err("a new account from the address");
    assert_eq!(refused.code(), Some(ErrorCode::Banned));
    assert!(refused.to_string().contains("spam"), "{refused}");
    let bob_there = login_from(&server, "bob", local(2)).await.err().and_then(|err| err.code());
    assert_eq!(bob_there, Some(ErrorCode::Banned), "another account from the banned address");
    login_from(&server, "bob", local(3)).await.expect("bob from elsewhere");
    bob.channels().await.expect("bob's own connection is untouched");
    owner.channels().await.expect("the admin is untouched");
    Client::connect_from(&server.target(), None, local(2))
        .await
        .expect("connects")
        .login("chatter", common::ADMIN_PASSWORD)
        .await
        .expect("an address ban never locks out an admin");

    let listed = owner.bans().await.expect("bans");
    assert_eq!(listed.iter().map(|b| b.id).collect::<Vec<_>>(), [made.id]);
    owner.unban(made.id).await.expect("lifts");
    login_from(&server, "eve", local(2)).await.expect("eve is back");
    assert!(owner.bans().await.expect("bans").is_empty());

    // A timed ban of an address ends by itself.
    let timed = BanSpec { address: Some("127.0.0.5".into()), duration_seconds: Some(1), ..BanSpec::default() };
    let timed = owner.ban(timed).await.expect("timed ban");
    assert!(timed.expires_at.is_some());
    assert_eq!(login_from(&server, "bob", local(5)).await.err().and_then(|e| e.code()), Some(ErrorCode::Banned));
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    login_from(&server, "bob", local(5)).await.expect("the ban ran out");

    let actions = audit_actions(&owner).await;
    assert!(has(&actions, "ban", "eve 127.0.0.2") && has(&actions, "unban", "eve"), "{actions:?}");
    let history = owner.moderation_history("eve").await.expect("history");
    assert_eq!(history.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), ["unban", "ban"]);
}

#[tokio::test]
async fn a_timeout_is_shown_with_its_end_and_ends_on_time() {
    let server = TestServer::start().await;
    let owner = server.admin().await;
    let moderator = invited(&server, &owner, "mo", Role::Moderator).await;
    let mut kid = server.member("kid").await;
    let general = kid.find_channel("general").await.expect("general").id;

    moderator.timeout("kid", 1, Some("too loud")).await.expect("times out");
    let (until, reason) = next_matching(&mut kid, |event| match event {
        Event::TimedOut { until, reason } => Some((until, reason)),
        _ => None,
    })
    .await;
    assert_eq!(reason.as_deref(), Some("too loud"));
    let refused = kid.send(general, "hello?").await.expect_err("timed out");
    assert_eq!(refused.code(), Some(ErrorCode::TimedOut));
    assert!(refused.to_string().contains(&until.to_string()), "the end time is in the message: {refused}");
    moderator.send(general, "the moderator still talks").await.expect("not timed out");
    // An app started meanwhile learns it from its session, not only from the event.
    let laptop = server.connect().await;
    let session = laptop.login("kid", MEMBER_PASSWORD).await.expect("logs in while timed out");
    assert_eq!(session.timed_out_until, Some(until));
    let resumed = server.connect().await.resume(&session.token).await.expect("resumes");
    assert_eq!(resumed.timed_out_until, Some(until), "resume tells it too");
    let session = server.connect().await.login("mo", MEMBER_PASSWORD).await.expect("moderator");
    assert_eq!(session.timed_out_until, None);

    let left = until - iptincan_now();
    tokio::time::sleep(Duration::from_millis(left.max(0) as u64 + 100)).await;
    kid.send(general, "back again").await.expect("the timeout ended on time");

    let history = moderator.moderation_history("kid").await.expect("history");
    assert_eq!(history[0].action, "timeout");
    assert_eq!(history[0].actor, "mo");
    assert!(has(&audit_actions(&owner).await, "timeout", "kid"));
}

fn iptincan_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

#[tokio::test]
async fn slow_mode_lets_one_of_two_racing_messages_through_and_spares_moderators() {
    let server = TestServer::start().await;
    let owner = server.admin().await;
    let moderator = invited(&server, &owner, "mo", Role::Moderator).await;
    let phone = server.member("kid").await;
    let laptop = server.connect().await;
    laptop.login("kid", MEMBER_PASSWORD).await.expect("second device");
    let general = phone.find_channel("general").await.expect("general").id;

    let channel = moderator.set_slow_mode(general, 30).await.expect("slow mode");
    assert_eq!(channel.slow_mode_seconds, 30);
    let (a, b) = tokio::join!(phone.send(general, "from the phone"), laptop.send(general, "from the laptop"));
    let outcomes = [a.map(|_| ()), b.map(|_| ())];
    assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1, "exactly one got through: {outcomes:?}");
    let refused = outcomes.into_iter().find_map(Result::err).expect("one refused");
    assert_eq!(refused.code(), Some(ErrorCode::SlowMode));

    let other = server.member("other").await;
    other.send(general, "my own turn").await.expect("each member has a turn");
    moderator.send(general, "one").await.expect("moderators are exempt");
    moderator.send(general, "two").await.expect("moderators are exempt");
    moderator.set_slow_mode(general, 0).await.expect("off");
    phone.send(general, "free again").await.expect("slow mode off");
    assert!(has(&audit_actions(&owner).await, "set_slow_mode", "#general"));
}

#[tokio::test]
async fn keyword_filters_keep_nothing_tell_the_sender_and_may_time_them_out() {
    let server = TestServer::start().await;
    let owner = server.admin().await;
    let mut kid = server.member("kid").await;
    let bob = server.member("bob").await;
    let general = kid.find_channel("general").await.expect("general").id;
    owner.add_filter("Darn", Some(60)).await.expect("filter with a timeout");
    owner.add_filter("heck", None).await.expect("filter");
    assert_code(owner.add_filter("HECK", None).await, ErrorCode::InvalidArgument);
    assert_eq!(owner.filters().await.expect("filters").len(), 2);

    bob.send(general, "darned socks are fine").await.expect("whole words only");
    let refused = bob.send(general, "what the HECK!").await.expect_err("filtered");
    assert_eq!(refused.code(), Some(ErrorCode::Filtered));
    assert!(refused.to_string().contains("heck"), "the sender is told why: {refused}");
    bob.send(general, "sorry").await.expect("no timeout for this one");

    let refused = kid.send(general, "well DARN it").await.expect_err("filtered");
    assert_eq!(refused.code(), Some(ErrorCode::Filtered));
    next_matching(&mut kid, |event| matches!(event, Event::TimedOut { .. }).then_some(())).await;
    assert_code(kid.send(general, "hello").await, ErrorCode::TimedOut);

    let bodies: Vec<String> =
        owner.history(general, None, Some(100)).await.expect("history").messages.into_iter().map(|m| m.body).collect();
    assert_eq!(bodies, ["darned socks are fine", "sorry"], "filtered messages were not kept");
    let page = owner.audit_log(None, Some(10)).await.expect("audit");
    let filtered: Vec<_> = page.entries.iter().filter(|e| e.action == "filter").collect();
    assert_eq!(filtered.len(), 2);
    assert!(filtered.iter().all(|e| e.actor == "server"));
    assert_eq!(filtered[0].target.as_deref(), Some("kid"));
}

#[tokio::test]
async fn private_channels_and_inherited_overrides() {
    let server = TestServer::start().await;
    let owner = server.admin().await;
    let mut moderator = invited(&server, &owner, "mo", Role::Moderator).await;
    let mut kid = server.member("kid").await;
    let parents = owner.create_channel("parents", None, ChannelKind::Text).await.expect("channel");
    let hidden = PermissionOverride { role: Role::Member, view: Some(false), send: None, speak: None, manage: None };
    let set = owner.set_channel_permissions(PermissionScope::Channel(parents.id), hidden.clone()).await.expect("sets");
    assert_eq!(set.overrides, [hidden]);

    let names = |list: iptincan::proto::ChannelList| list.channels.into_iter().map(|c| c.name).collect::<Vec<_>>();
    assert!(!names(kid.channels().await.expect("list")).contains(&"parents".to_string()));
    assert!(names(moderator.channels().await.expect("list")).contains(&"parents".to_string()));
    assert_code(kid.history(parents.id, None, None).await, ErrorCode::NotFound);
    assert_code(kid.send(parents.id, "let me in").await, ErrorCode::NotFound);
    owner.send(parents.id, "secret plans").await.expect("owner sends");
    let general = kid.find_channel("general").await.expect("general").id;
    owner.send(general, "dinner!").await.expect("owner sends");
    let seen = common::next_message(&mut kid).await;
    assert_eq!(seen.body, "dinner!", "the private channel's message never reached the member");

    // Deleting a private channel is told only to those who could see it.
    let attic = owner.create_channel("attic", None, ChannelKind::Text).await.expect("channel");
    owner.set_channel_permissions(PermissionScope::Channel(attic.id), set.overrides[0].clone()).await.expect("sets");
    owner.delete_channel(attic.id).await.expect("deletes");
    let deleted = |event: Event| match event {
        Event::ChannelDeleted { channel_id } => Some(Some(channel_id)),
        Event::MessageCreated(message) if message.body == "after the attic" => Some(None),
        _ => None,
    };
    owner.send(general, "after the attic").await.expect("owner sends");
    assert_eq!(next_matching(&mut moderator, deleted).await, Some(attic.id), "the moderator saw it go");
    assert_eq!(next_matching(&mut kid, deleted).await, None, "the member never heard of its deletion");

    // A category's override is inherited; the channel's own wins.
    let category = owner.request(Request::CreateCategory { name: "Kids".into() }).await.expect("category");
    let iptincan::proto::Reply::Category(category) = category else { panic!("a category") };
    let quiet = PermissionOverride { role: Role::Member, view: None, send: Some(false), speak: None, manage: None };
    owner.set_channel_permissions(PermissionScope::Category(category.id), quiet).await.expect("sets");
    let news = owner.create_channel("news", Some(category.id), ChannelKind::Text).await.expect("channel");
    let chat = owner.create_channel("chatter-box", Some(category.id), ChannelKind::Text).await.expect("channel");
    let open = PermissionOverride { role: Role::Member, view: None, send: Some(true), speak: None, manage: None };
    owner.set_channel_permissions(PermissionScope::Channel(chat.id), open).await.expect("sets");
    assert_code(kid.send(news.id, "hi").await, ErrorCode::Forbidden);
    kid.history(news.id, None, None).await.expect("but can read");
    kid.send(chat.id, "hi").await.expect("the channel's override wins");
    moderator.send(news.id, "announcement").await.expect("moderators are not bound by member overrides");

    let removed = PermissionOverride { role: Role::Member, view: None, send: None, speak: None, manage: None };
    let after = owner.set_channel_permissions(PermissionScope::Channel(parents.id), removed).await.expect("removes");
    assert!(after.overrides.is_empty());
    kid.history(parents.id, None, None).await.expect("visible again");
    assert!(has(&audit_actions(&owner).await, "set_channel_permissions", &format!("channel {}", parents.id)));
}

#[tokio::test]
async fn an_admin_resets_a_password_and_the_member_must_choose_a_new_one() {
    let server = TestServer::start().await;
    let owner = server.admin().await;
    let mut kid = server.member("kid").await;
    owner.reset_password("kid", "temporary-pass").await.expect("resets");
    let ended = tokio::time::timeout(common::WAIT, async { while kid.next_event().await.is_some() {} }).await;
    assert!(ended.is_ok(), "the member's sessions ended");

    let back = server.connect().await;
    assert_code(back.login("kid", MEMBER_PASSWORD).await, ErrorCode::InvalidCredentials);
    let session = back.login("kid", "temporary-pass").await.expect("temporary password");
    assert!(session.must_change_password);
    assert_code(back.channels().await, ErrorCode::PasswordChangeRequired);
    back.change_password("temporary-pass", "kids-own-pass").await.expect("chooses a new one");
    back.channels().await.expect("in");
    assert!(has(&audit_actions(&owner).await, "reset_password", "kid"));
}

#[tokio::test]
async fn registrations_wait_for_approval_and_a_denied_one_is_discarded() {
    let server = TestServer::start_with(|config| config.auth.require_approval = true).await;
    let owner = server.admin().await;
    let mut pat = server.connect().await;
    let waiting = pat.register("pat", MEMBER_PASSWORD).await.expect_err("waits");
    assert_eq!(waiting.code(), Some(ErrorCode::AwaitingApproval));
    let mut pia = server.connect().await;
    assert_code(pia.register("pia", MEMBER_PASSWORD).await, ErrorCode::AwaitingApproval);
    let names: Vec<String> = owner.approvals().await.expect("list").into_iter().map(|p| p.username).collect();
    assert_eq!(names, ["pat", "pia"]);
    assert!(owner.users().await.expect("users").iter().all(|u| u.user.username != "pat"), "not a user yet");
    let early = server.connect().await;
    assert_code(early.login("pat", MEMBER_PASSWORD).await, ErrorCode::AwaitingApproval);

    owner.approve("pat").await.expect("approves");
    let approved = next_matching(&mut pat, |event| match event {
        Event::RegistrationApproved { username } => Some(username),
        _ => None,
    })
    .await;
    assert_eq!(approved, "pat");
    pat.login("pat", MEMBER_PASSWORD).await.expect("the waiting client gets in");
    pat.channels().await.expect("in");

    owner.deny("pia", Some("we do not know you")).await.expect("denies");
    let reason = next_matching(&mut pia, |event| match event {
        Event::RegistrationDenied { reason } => Some(reason),
        _ => None,
    })
    .await;
    assert_eq!(reason.as_deref(), Some("we do not know you"));
    assert_code(pia.login("pia", MEMBER_PASSWORD).await, ErrorCode::InvalidCredentials);
    assert!(owner.approvals().await.expect("list").is_empty());
    assert_code(owner.approve("pia").await, ErrorCode::NotFound);
    let again = server.connect().await;
    assert_code(again.register("pia", MEMBER_PASSWORD).await, ErrorCode::AwaitingApproval);

    // Invites skip approval.
    invited(&server, &owner, "kim", Role::Member).await.channels().await.expect("in at once");
    let actions = audit_actions(&owner).await;
    assert!(has(&actions, "approve", "pat") && has(&actions, "deny", "pia"), "{actions:?}");
}

#[tokio::test]
async fn the_admin_moderates_from_the_command_line() {
    let server = TestServer::start().await;
    let owner = server.admin().await;
    let _kid = server.member("kid").await;
    let admin = |args: &'static [&'static str]| common::itc_as(&server, "chatter", common::ADMIN_PASSWORD, args);
    let ok = |(ok, stdout, stderr): (bool, String, String)| {
        assert!(ok, "{stderr}");
        stdout
    };

    assert!(ok(admin(&["admin", "filter", "add", "darn", "--timeout", "1m"]).await).starts_with("filter "));
    assert!(ok(admin(&["admin", "filter", "list"]).await).contains("\"darn\"\ttimeout 60 s"));
    let timed = ok(admin(&["admin", "timeout", "kid", "5m", "--reason", "loud"]).await);
    assert_eq!(timed.trim(), "kid is timed out for 300 s");
    ok(admin(&["admin", "warn", "kid", "please", "be", "kind"]).await);
    let history = ok(admin(&["admin", "history", "kid"]).await);
    assert!(history.contains("chatter warn kid — please be kind"), "{history}");
    assert!(history.contains("chatter timeout kid — 300 s: loud"), "{history}");
    assert!(ok(admin(&["admin", "slowmode", "general", "10"]).await).contains("one message every 10 s"));
    let set = ok(admin(&["admin", "permissions", "general", "--role", "member", "--send", "deny"]).await);
    assert_eq!(set.trim(), "member: view inherit, send deny, speak inherit, manage inherit");
    let banned = ok(admin(&["admin", "ban", "--address", "192.0.2.7", "--for", "1h", "--reason", "spam"]).await);
    assert!(banned.contains(": 192.0.2.7 until "), "{banned}");
    assert!(ok(admin(&["admin", "bans"]).await).contains("192.0.2.7"));
    let audit = ok(admin(&["admin", "audit", "--limit", "3"]).await);
    assert_eq!(audit.lines().count(), 3, "{audit}");
    assert!(audit.lines().next().is_some_and(|line| line.contains("chatter ban 192.0.2.7 — spam")), "{audit}");

    let (refused, _, stderr) = common::itc_as(&server, "kid", MEMBER_PASSWORD, &["admin", "kick", "chatter"]).await;
    assert!(!refused && stderr.contains("you cannot kick"), "{stderr}");

    ok(admin(&["admin", "reset-password", "kid", "--temporary", "temporary-pass"]).await);
    let (logged_in, _, stderr) = common::itc_as(&server, "kid", "temporary-pass", &["login"]).await;
    assert!(logged_in && stderr.contains("must change its password first"), "{stderr}");
    let (changed, _, stderr) =
        common::itc_as(&server, "kid", "temporary-pass", &["passwd", "--new", "kids-own-pass"]).await;
    assert!(changed, "{stderr}");
    assert_eq!(owner.moderation_history("kid").await.expect("history")[0].action, "reset_password");
}

#[tokio::test]
async fn a_timeout_mutes_in_voice_until_it_ends() {
    let server = TestServer::start().await;
    let owner = server.admin().await;
    let mut kid = server.member("kid").await;
    let room = owner.create_channel("living-room", None, ChannelKind::Voice).await.expect("voice channel");
    let key = "A".repeat(43);
    let session = kid.join_voice(room.id, &key).await.expect("joins");

    owner.timeout("kid", 1, None).await.expect("times out");
    let muted = |want: bool| {
        move |event| match event {
            Event::VoiceState { session_id, server_muted, .. } if server_muted == want => Some(session_id),
            _ => None,
        }
    };
    assert_eq!(next_matching(&mut kid, muted(true)).await, session.session_id, "muted at once");
    assert_code(kid.send(kid.find_channel("general").await.expect("general").id, "hi").await, ErrorCode::TimedOut);
    assert_eq!(next_matching(&mut kid, muted(false)).await, session.session_id, "unmuted when it ended");
    kid.send(kid.find_channel("general").await.expect("general").id, "hi").await.expect("and may send again");
}

#[tokio::test]
async fn a_private_voice_channel_keeps_its_calls_to_itself() {
    let server = TestServer::start().await;
    let owner = server.admin().await;
    let moderator = invited(&server, &owner, "mo", Role::Moderator).await;
    let mut kid = server.member("kid").await;
    let mut other = server.member("other").await;
    let study = owner.create_channel("study", None, ChannelKind::Voice).await.expect("voice channel");
    let hidden = PermissionOverride { role: Role::Member, view: Some(false), send: None, speak: None, manage: None };
    owner.set_channel_permissions(PermissionScope::Channel(study.id), hidden).await.expect("sets");
    let key = "A".repeat(43);
    assert_code(kid.join_voice(study.id, &key).await, ErrorCode::NotFound);

    moderator.join_voice(study.id, &key).await.expect("the moderator joins");
    let lounge = owner.create_channel("lounge", None, ChannelKind::Voice).await.expect("voice channel");
    other.join_voice(lounge.id, &key).await.expect("other joins a public one");
    let joined = next_matching(&mut kid, |event| match event {
        Event::VoiceJoined { channel_id, .. } => Some(channel_id),
        _ => None,
    })
    .await;
    assert_eq!(joined, lounge.id, "the member heard of the public call, never of the private one");
    let seen = next_matching(&mut other, |event| match event {
        Event::VoiceJoined { channel_id, .. } => Some(channel_id),
        _ => None,
    })
    .await;
    assert_eq!(seen, lounge.id);
}
