//! Login throttling that strangers cannot turn against the account's owner, and registration
//! limits. Other loopback addresses (127.0.0.x) stand in for other machines: each client binds
//! its socket to one before connecting.

mod common;

use common::{assert_code, TestServer, MEMBER_PASSWORD};
use iptincan::client::{Client, ClientError};
use iptincan::proto::ErrorCode;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

/// A loopback address other than 127.0.0.1.
fn from(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

async fn connect_from(server: &TestServer, last: u8) -> Client {
    Client::connect_from(&server.target(), None, Some(from(last))).await.expect("connects")
}

fn refused_with(result: Result<impl std::fmt::Debug, ClientError>, code: ErrorCode, words: &str) -> String {
    match result {
        Err(ClientError::Server { code: actual, message }) if actual == code && message.contains(words) => message,
        other => panic!("expected {code:?} saying {words:?}, got {other:?}"),
    }
}

/// Seconds the guessing goes on: one wrong password a second, as in the issue.
const GUESSING_SECONDS: u32 = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_guessing_never_lock_the_owner_or_her_devices_out() {
    let server = TestServer::start().await;
    drop(server.member("ann").await);

    // Ann's phone logged in before, from home: it keeps its device cookie and a session token.
    let phone = connect_from(&server, 3).await;
    let phone_session = phone.login_with_device("ann", MEMBER_PASSWORD, None).await.expect("logs in");
    let cookie = phone_session.device_cookie.clone().expect("a device cookie with every session");
    drop(phone);

    // Ten addresses try one wrong password each: the account-wide allowance is spent.
    for last in 100..110 {
        let stranger = connect_from(&server, last).await;
        assert_code(stranger.login_with_device("ann", "wrong-password", None).await, ErrorCode::InvalidCredentials);
    }
    let repeat = connect_from(&server, 100).await;
    refused_with(repeat.login_with_device("ann", "wrong-password", None).await, ErrorCode::RateLimited, "this account");

    // One address guesses once a second; meanwhile Ann logs in every second with the right
    // password from another address (no cookie), with her phone's cookie from the stranger's
    // own address and from home, and by resuming her phone's session.
    let stranger = connect_from(&server, 66).await;
    let (mut wrong, mut refused) = (0, 0);
    let started = Instant::now();
    for second in 0..GUESSING_SECONDS {
        match stranger.login_with_device("ann", "wrong-password", None).await {
            Err(err) if err.code() == Some(ErrorCode::InvalidCredentials) => wrong += 1,
            Err(err) if err.code() == Some(ErrorCode::RateLimited) => refused += 1,
            other => panic!("second {second}: {other:?}"),
        }
        let elsewhere = connect_from(&server, 2).await;
        let session = elsewhere.login_with_device("ann", MEMBER_PASSWORD, None).await;
        assert!(session.is_ok(), "second {second}: the right password from another address: {session:?}");
        for last in [66, 3] {
            let device = connect_from(&server, last).await;
            let session = device.login_with_device("ann", MEMBER_PASSWORD, Some(&cookie)).await;
            assert_eq!(
                session.map(|s| s.device_cookie).ok().flatten().as_deref(),
                Some(cookie.as_str()),
                "second {second}: her phone from 127.0.0.{last} keeps its cookie"
            );
        }
        let resumed = connect_from(&server, 3).await;
        resumed.resume(&phone_session.token).await.expect("resuming is never held back");
        tokio::time::sleep_until((started + Duration::from_secs(u64::from(second) + 1)).into()).await;
    }
    // The stranger's address had not failed on ann before, so it got one try; then the
    // account-wide limit holds it, as it holds every address that has failed.
    assert_eq!((wrong, refused), (1, GUESSING_SECONDS - 1), "wrong passwords checked, attempts refused");
    println!(
        "{GUESSING_SECONDS} s of guessing: {wrong} wrong password checked, {refused} refused; ann got in {} times \
         out of {}",
        GUESSING_SECONDS * 4,
        GUESSING_SECONDS * 4
    );

    // A cookie made for ann is no use for another account, and a forged one counts as none.
    drop(server.member("bob").await);
    let other = connect_from(&server, 100).await;
    assert_code(other.login_with_device("bob", "wrong-password", Some(&cookie)).await, ErrorCode::InvalidCredentials);
    let forged = format!("{}x", cookie);
    refused_with(
        repeat.login_with_device("ann", MEMBER_PASSWORD, Some(&forged)).await,
        ErrorCode::RateLimited,
        "this account",
    );

    // The dashboard names the account in plain words.
    let pressure = server.running().handle().pressure();
    assert_eq!(
        pressure,
        vec!["Someone is trying many passwords for ann's account; ann's own devices are not affected.".to_string()]
    );
}

#[tokio::test]
async fn registration_beyond_the_limit_is_refused_clearly_and_the_limit_resets() {
    // The server's allowance refills one account every window / 3: the refusals below must
    // come sooner than that.
    let window = Duration::from_secs(6);
    let server = TestServer::start_with(|config| {
        config.auth.registrations_per_address = 2;
        config.auth.registrations_per_server = 3;
        config.auth.registration_window_seconds = window.as_secs();
    })
    .await;
    let register = |last: u8, name: &'static str| {
        let server = &server;
        async move { connect_from(server, last).await.register(name, MEMBER_PASSWORD).await }
    };
    let started = Instant::now();
    register(2, "ann").await.expect("first from 127.0.0.2");
    register(2, "bob").await.expect("second from 127.0.0.2");
    let message = refused_with(
        register(2, "cat").await,
        ErrorCode::RateLimited,
        "too many accounts were registered from your address",
    );
    assert!(message.contains("ask an admin for an invite"), "{message}");
    assert_code(register(3, "ann").await, ErrorCode::UsernameTaken);
    register(3, "cat").await.expect("a refused registration took nothing; third on the server");
    refused_with(register(4, "dan").await, ErrorCode::RateLimited, "registered on this server");
    assert!(started.elapsed() < window / 3, "the checks took too long for the window; make it longer");

    tokio::time::sleep(window).await;
    register(2, "dan").await.expect("the limit has reset");
    register(2, "eve").await.expect("the whole allowance is back");
    register(4, "fay").await.expect("and the server's");
    refused_with(register(5, "gus").await, ErrorCode::RateLimited, "registered on this server");
}

/// Runs `itc login` as ann against `server`, with its files in `folder`.
async fn itc_login(server: &TestServer, folder: &std::path::Path) -> (bool, String) {
    let code = server.running().connection_code("127.0.0.1").encode().expect("code");
    let mut command = std::process::Command::new(common::client_binary());
    command
        .args(["--server", &code, "--user", "ann", "login"])
        .arg("--known-hosts")
        .arg(folder.join("known_hosts"))
        .env("ITC_PASSWORD", MEMBER_PASSWORD);
    let (ok, _, stderr) = tokio::task::spawn_blocking(move || common::run_bounded(&mut command)).await.expect("runs");
    (ok, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn itc_keeps_its_device_cookie_privately_and_is_not_locked_out() {
    let server = TestServer::start().await;
    drop(server.member("ann").await);
    let folder = tempfile::tempdir().expect("tempdir");
    let (ok, stderr) = itc_login(&server, folder.path()).await;
    assert!(ok, "{stderr}");
    let jar = folder.path().join("device_cookies");
    let kept = std::fs::read_to_string(&jar).expect("a device cookie was kept beside known_hosts");
    let port = server.running().control_addr().port();
    assert!(kept.starts_with(&format!("127.0.0.1:{port} ann ")) && kept.lines().count() == 1, "{kept}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&jar).expect("metadata").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "private");
    }

    // Someone at the same address spends every limit there: ann's, and the address's.
    let stranger = connect_from(&server, 1).await;
    for attempt in 0..20 {
        let name = if attempt < 5 { "ann".to_string() } else { format!("guess{attempt}") };
        assert_code(stranger.login(&name, "wrong-password").await, ErrorCode::InvalidCredentials);
    }
    refused_with(stranger.login("ann", MEMBER_PASSWORD).await, ErrorCode::RateLimited, "your address");

    let (ok, stderr) = itc_login(&server, folder.path()).await;
    assert!(ok, "itc presents its cookie and gets in: {stderr}");
    assert_eq!(std::fs::read_to_string(&jar).expect("reads"), kept, "the same cookie is kept");
    std::fs::remove_file(&jar).expect("removes");
    let (ok, stderr) = itc_login(&server, folder.path()).await;
    assert!(!ok && stderr.contains("too many failed logins"), "without its cookie it waits like anyone: {stderr}");
}
