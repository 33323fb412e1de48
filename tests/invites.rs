//! Invites: an admin makes one, a family member joins with it even though open registration is
//! off; single use by default, more uses, admin role, revocation, the errors people meet; the
//! tray's engine API; and the whole path on the command line, through the QR picture.

mod common;

use common::{assert_code, client_binary, run_bounded, run_server_command, ServerProcess, TestServer};
use iptincan::client::{Client, InviteSpec};
use iptincan::code::Invite;
use iptincan::proto::{ErrorCode, InviteState, Role};
use iptincan::server::invites::InviteOptions;

async fn closed_server() -> TestServer {
    TestServer::start_with(|config| config.auth.allow_registration = false).await
}

#[tokio::test]
async fn a_single_use_invite_makes_one_account_while_registration_is_closed() {
    let server = closed_server().await;
    let admin = server.admin().await;
    let stranger = server.connect().await;
    assert_code(stranger.register("kim", "kim-password").await, ErrorCode::RegistrationClosed);

    let spec = InviteSpec { note: Some("for Kim".into()), ..InviteSpec::default() };
    let created = admin.create_invite(spec).await.expect("admin makes an invite");
    assert_eq!((created.invite.max_uses, created.invite.uses, created.invite.role), (1, 0, Role::Member));
    assert_eq!(created.invite.state, InviteState::Active);
    assert_eq!(created.invite.created_by.as_deref(), Some("chatter"));
    let invite = Invite::decode(&created.text).expect("the text is an invite");
    assert_eq!(invite.secret, created.secret);
    assert_eq!(invite.code.fingerprint, server.running().fingerprint(), "it pins this server's certificate");

    let kim = server.connect().await;
    let session = kim.redeem_invite(&created.text, "kim", "kim-password").await.expect("kim joins");
    assert_eq!((session.user.username.as_str(), session.user.role), ("kim", Role::Member));
    assert!(!session.must_change_password);
    kim.send(kim.find_channel("general").await.expect("general").id, "hi all").await.expect("kim chats");

    let late = server.connect().await;
    let refused = late.redeem_invite(&created.text, "lee", "lee-password").await.expect_err("single use");
    assert_eq!(refused.code(), Some(ErrorCode::InviteInvalid));
    assert!(refused.to_string().contains("already been used"), "{refused}");
    let listed = admin.invites().await.expect("lists");
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].uses, listed[0].state, listed[0].note.as_deref()), (1, InviteState::UsedUp, Some("for Kim")));

    let relogin = server.connect().await;
    relogin.login("kim", "kim-password").await.expect("kim logs in again");
}

#[tokio::test]
async fn uses_roles_revocation_and_bad_requests() {
    let server = closed_server().await;
    let admin = server.admin().await;

    let family = InviteSpec { max_uses: Some(2), expires_in_seconds: Some(3600), ..InviteSpec::default() };
    let family = admin.create_invite(family).await.expect("two uses");
    assert!(family.invite.expires_at.is_some());
    let link = Invite::decode(&family.text).expect("an invite").link().expect("a link");
    assert_eq!(link, format!("itc://join/{}", family.text));
    for (name, invite) in [("ann", &family.text), ("bob", &link)] {
        server.connect().await.redeem_invite(invite, name, "family-password").await.expect("joins");
    }
    let third = server.connect().await.redeem_invite(&family.text, "cat", "family-password").await;
    assert_code(third, ErrorCode::InviteInvalid);

    let helper =
        admin.create_invite(InviteSpec { role: Some(Role::Admin), ..InviteSpec::default() }).await.expect("ok");
    let dana = server.connect().await;
    let session = dana.redeem_invite(&helper.secret, "dana", "dana-password").await.expect("the bare secret works too");
    assert_eq!(session.user.role, Role::Admin);

    let revoked = admin.create_invite(InviteSpec::default()).await.expect("ok");
    assert_eq!(admin.revoke_invite(revoked.invite.id).await.expect("revokes").state, InviteState::Revoked);
    let refused =
        server.connect().await.redeem_invite(&revoked.text, "eve", "eve-password").await.expect_err("revoked");
    assert!(refused.to_string().contains("withdrawn"), "{refused}");
    let unknown = format!("{}.{}", revoked.text.split('.').next().expect("code"), Invite::new_secret());
    let refused = server.connect().await.redeem_invite(&unknown, "eve", "eve-password").await.expect_err("unknown");
    assert!(refused.to_string().contains("not known"), "{refused}");

    // Account rules still hold, and a refused redemption does not spend the invite.
    let fresh = admin.create_invite(InviteSpec::default()).await.expect("ok");
    assert_code(
        server.connect().await.redeem_invite(&fresh.text, "ann", "another-pass").await,
        ErrorCode::UsernameTaken,
    );
    assert_code(server.connect().await.redeem_invite(&fresh.text, "fay", "short").await, ErrorCode::InvalidArgument);
    server.connect().await.redeem_invite(&fresh.text, "fay", "fay-password").await.expect("still usable");

    for bad in [
        InviteSpec { max_uses: Some(0), ..InviteSpec::default() },
        InviteSpec { max_uses: Some(101), ..InviteSpec::default() },
        InviteSpec { expires_in_seconds: Some(5), ..InviteSpec::default() },
        InviteSpec { note: Some("x".repeat(101)), ..InviteSpec::default() },
        InviteSpec { host: Some("two words".into()), ..InviteSpec::default() },
    ] {
        assert_code(admin.create_invite(bad).await, ErrorCode::InvalidArgument);
    }
    let member = server.connect().await;
    member.login("ann", "family-password").await.expect("logs in");
    assert_code(member.create_invite(InviteSpec::default()).await, ErrorCode::Forbidden);
    assert_code(member.invites().await, ErrorCode::Forbidden);
    assert_code(member.revoke_invite(fresh.invite.id).await, ErrorCode::Forbidden);
    assert_code(admin.revoke_invite(9999).await, ErrorCode::NotFound);
}

/// Two people racing for one single-use invite: one account, one refusal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_use_invite_cannot_be_raced() {
    let server = closed_server().await;
    let created = server.admin().await.create_invite(InviteSpec::default()).await.expect("ok");
    let mut attempts = Vec::new();
    for n in 0..6 {
        let client = server.connect().await;
        let text = created.text.clone();
        attempts.push(tokio::spawn(async move {
            client.redeem_invite(&text, &format!("racer{n}"), "racer-password").await.is_ok()
        }));
    }
    let mut winners = 0;
    for attempt in attempts {
        winners += usize::from(attempt.await.expect("joins"));
    }
    assert_eq!(winners, 1);
}

/// What the tray's "Invite someone…" calls: no window, no admin connection.
#[tokio::test]
async fn the_engine_api_makes_lists_and_revokes_invites() {
    let server = closed_server().await;
    let running = server.running();
    let options = InviteOptions::checked(Some(3), None, None, Some("cousins".into())).expect("valid");
    let created = running.create_invite(options, Some("192.0.2.7")).await.expect("creates");
    assert_eq!(Invite::decode(&created.text).expect("invite").code.host, "192.0.2.7");
    assert_eq!(created.invite.created_by, None);
    let listed = running.list_invites().await.expect("lists");
    assert_eq!(listed.iter().map(|invite| invite.id).collect::<Vec<_>>(), [created.invite.id]);

    let guest = Client::connect(&server.target(), None).await.expect("connects");
    guest.redeem_invite(&created.secret, "cousin", "cousin-password").await.expect("joins");
    assert_eq!(running.revoke_invite(created.invite.id).await.expect("revokes").state, InviteState::Revoked);
    assert!(InviteOptions::checked(Some(0), None, None, None).is_err());
    let default = running.create_invite(InviteOptions::default(), None).await.expect("default host");
    assert_eq!(Invite::decode(&default.text).expect("invite").code, running.public_code());
}

/// The parent runs `itc-server invite --png`; the QR picture decodes to the invite; a family
/// member runs `itc join` with it; the invite is then spent.
#[test]
fn invite_from_the_command_line_through_a_qr_picture() {
    let dir = tempfile::tempdir().expect("tempdir");
    // `itc-server invite` puts the configured port in the code, so this server needs a fixed one.
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
    let config = common::TEST_CONFIG.replace("tcp_port = 0", &format!("tcp_port = {port}"));
    std::fs::write(dir.path().join("server.toml"), format!("{config}\n[auth]\nallow_registration = false\n"))
        .expect("writes config");
    let server = ServerProcess::spawn(dir.path(), &[]).expect("starts");
    let png = dir.path().join("invite.png");
    let png_arg = png.display().to_string();
    let (ok, stdout, stderr) =
        run_server_command(dir.path(), &["invite", "--host", "127.0.0.1", "--note", "for Kim", "--png", &png_arg]);
    assert!(ok, "itc-server invite failed: {stderr}");
    let text = stdout.lines().next().expect("the invite is the first line").trim().to_string();
    Invite::decode(&text).expect("prints an invite");
    assert!(stderr.contains("1 used") || stderr.contains("0 of 1 used"), "{stderr}");

    let (ok, decoded, stderr) = run_bounded(std::process::Command::new("zbarimg").args(["--raw", "-q", &png_arg]));
    assert!(ok, "zbarimg failed (install zbar-tools: scripts/test does): {stderr}");
    assert_eq!(decoded.trim(), text);

    let known = dir.path().join("known_hosts");
    let link = format!("itc://join/{}", decoded.trim());
    let join = |invite: &str, user: &str| {
        run_bounded(
            std::process::Command::new(client_binary())
                .args(["join", invite, "--user", user])
                .env("ITC_PASSWORD", "kim-password-1")
                .env("ITC_KNOWN_HOSTS", &known)
                .env_remove("ITC_SERVER"),
        )
    };
    let (ok, stdout, stderr) = join(&link, "kim");
    assert!(ok, "itc join failed: {stderr}");
    assert_eq!(stdout.trim(), "joined as kim (member)");
    let (ok, _, stderr) = join(decoded.trim(), "lee");
    assert!(!ok, "a single-use invite works once");
    assert!(stderr.contains("already been used"), "{stderr}");

    let (ok, stdout, stderr) = run_server_command(dir.path(), &["invites"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("used up, 1 of 1 used") && stdout.contains("for Kim"), "{stdout}");
    let (ok, _, stderr) = run_server_command(dir.path(), &["invite", "--uses", "0"]);
    assert!(!ok && stderr.contains("1 to 100"), "{stderr}");
    drop(server);
}
