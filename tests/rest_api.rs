//! The REST API with access tokens, over real HTTPS on loopback: every endpoint refused without
//! a token, with a token lacking its scope, with a revoked and with an expired token, and
//! allowed with its scope; a token is shown once and never stored in the database file; every
//! failure (the server's refusals and the HTTP layer's: unknown route, wrong method, bad JSON,
//! wrong content type, a body over the cap) has the one JSON error shape.

mod common;

use common::{rest_connect, TestServer};
use iptincan::backup::schedule::Backups;
use iptincan::client::BanSpec;
use iptincan::config::DataDir;
use iptincan::proto::{ChannelKind, Event, Request, Scope};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One HTTP/1.1 request on its own HTTPS connection (pinned to the server's certificate).
struct Call<'a> {
    method: &'a str,
    path: String,
    token: Option<&'a str>,
    body: Option<Vec<u8>>,
    content_type: Option<&'a str>,
}

impl<'a> Call<'a> {
    fn new(method: &'a str, path: impl Into<String>) -> Self {
        Call { method, path: path.into(), token: None, body: None, content_type: None }
    }

    fn token(mut self, token: &'a str) -> Self {
        self.token = Some(token);
        self
    }

    fn json(mut self, body: &Value) -> Self {
        self.body = Some(body.to_string().into_bytes());
        self.content_type = Some("application/json");
        self
    }

    /// Sends it; the status and the body as JSON (`Null` when empty).
    async fn send(self, server: &TestServer) -> (u16, Value) {
        let mut tls = rest_connect(server).await;
        let mut head = format!("{} {} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n", self.method, self.path);
        if let Some(token) = self.token {
            head += &format!("Authorization: Bearer {token}\r\n");
        }
        if let Some(content_type) = self.content_type {
            head += &format!("Content-Type: {content_type}\r\n");
        }
        let body = self.body.unwrap_or_default();
        head += &format!("Content-Length: {}\r\n\r\n", body.len());
        let mut request = head.into_bytes();
        request.extend_from_slice(&body);
        // A refused large body may be cut off by the server mid-write; the answer still comes.
        let _ = tls.write_all(&request).await;
        let mut response = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut response)).await;
        assert!(read.is_ok(), "{} {}: no answer within 10 s", self.method, self.path);
        let response = String::from_utf8(response).expect("UTF-8 response");
        let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
        let status = head.get(9..12).and_then(|code| code.parse().ok()).expect("a status line");
        let body = if body.is_empty() { Value::Null } else { serde_json::from_str(body).expect("a JSON body") };
        (status, body)
    }
}

/// Asserts the one error shape with `code` and a message.
fn assert_error(answer: &(u16, Value), status: u16, code: &str, what: &str) {
    assert_eq!(answer.0, status, "{what}: {}", answer.1);
    let error = answer.1.as_object().and_then(|body| body.get("error")).expect("an error object");
    assert_eq!(error["code"], code, "{what}: {}", answer.1);
    assert!(error["message"].as_str().is_some_and(|message| !message.is_empty()), "{what}: {}", answer.1);
    assert_eq!(answer.1.as_object().map(|body| body.len()), Some(1), "{what}: only `error`: {}", answer.1);
}

/// A server whose port takes the many connections of these tests from one address, with a
/// backup service beside it as `itc-server` runs one.
async fn server() -> TestServer {
    let server = TestServer::start_with(|config| config.server.new_connections_per_minute = 100_000).await;
    let backups = Backups::new(server.config.clone(), DataDir::new(server.dir.path()));
    server.running().attach_backups(std::sync::Arc::new(backups));
    server
}

fn every_scope_but(scope: Option<Scope>) -> Vec<Scope> {
    Scope::ALL.into_iter().filter(|other| Some(*other) != scope).collect()
}

/// `method path` with `token` and `body`.
fn call<'a>(method: &'a str, path: &str, body: Option<&Value>, token: Option<&'a str>) -> Call<'a> {
    let mut call = Call::new(method, path);
    if let Some(body) = body {
        call = call.json(body);
    }
    call.token = token;
    call
}

#[tokio::test]
async fn every_endpoint_needs_a_valid_token_with_its_scope() {
    let server = server().await;
    let admin = server.admin().await;
    let _ann = server.member("ann").await;
    let _zed = server.member("zed").await;
    let _bob = server.member("bob").await;
    let _kit = server.member("kit").await;
    let full = admin.create_token("full", every_scope_but(None), None).await.expect("made").secret;
    let mut lacking = Vec::new();
    for scope in Scope::ALL {
        let created = admin.create_token("lacking one", every_scope_but(Some(scope)), None).await.expect("made");
        lacking.push((scope, created.secret));
    }
    let revoked = admin.create_token("revoked", every_scope_but(None), None).await.expect("made");
    admin.revoke_token(revoked.token.id).await.expect("revoked");
    let expired = admin.create_token("expired", every_scope_but(None), Some(3600)).await.expect("made");
    let db = server.dir.path().join(&server.config.database.path);
    let sqlite = rusqlite::Connection::open(&db).expect("opens the database");
    let changed = sqlite.execute("UPDATE access_tokens SET expires_at = 1 WHERE id = ?1", [expired.token.id]);
    assert_eq!(changed.expect("updates"), 1, "the expired token's row");

    let channels = admin.channels().await.expect("channels");
    let general = channels.channels.iter().find(|channel| channel.name == "general").expect("#general").id;
    let temp = admin.create_channel("temp", None, ChannelKind::Text).await.expect("channel").id;
    let category = match admin.request(Request::CreateCategory { name: "Spare".into() }).await.expect("category") {
        iptincan::proto::Reply::Category(category) => category.id,
        other => panic!("{other:?}"),
    };
    let message = admin.send(general, "to be deleted").await.expect("sent").id;
    let invite = admin.create_invite(Default::default()).await.expect("invite").invite.id;
    let spare = admin.create_token("spare", vec![Scope::Read], None).await.expect("token").token.id;
    let kids = match admin.request(Request::CreateCategory { name: "Kids".into() }).await.expect("category") {
        iptincan::proto::Reply::Category(category) => category.id,
        other => panic!("{other:?}"),
    };
    let address_ban = BanSpec { address: Some("192.0.2.9".into()), ..BanSpec::default() };
    let ban = admin.ban(address_ban).await.expect("banned").id;
    let filter = admin.add_filter("drat", None).await.expect("filter").id;
    let rule = json!({"role": "member", "send": false});

    let table: Vec<(&str, String, Option<Value>, Scope, u16)> = vec![
        ("GET", "/api/stats".into(), None, Scope::Read, 200),
        ("GET", "/api/users".into(), None, Scope::Read, 200),
        ("PUT", "/api/users/ann/role".into(), Some(json!({"role": "admin"})), Scope::Admin, 204),
        ("GET", "/api/channels".into(), None, Scope::Read, 200),
        ("POST", "/api/channels".into(), Some(json!({"name": "news"})), Scope::Admin, 201),
        ("PATCH", format!("/api/channels/{temp}"), Some(json!({"name": "renamed"})), Scope::Admin, 200),
        ("DELETE", format!("/api/channels/{temp}"), None, Scope::Admin, 204),
        ("GET", "/api/categories".into(), None, Scope::Read, 200),
        ("POST", "/api/categories".into(), Some(json!({"name": "More"})), Scope::Admin, 201),
        ("PATCH", format!("/api/categories/{category}"), Some(json!({"name": "Other"})), Scope::Admin, 200),
        ("DELETE", format!("/api/categories/{category}"), None, Scope::Admin, 204),
        ("GET", format!("/api/channels/{general}/messages?limit=10"), None, Scope::Read, 200),
        ("POST", format!("/api/channels/{general}/messages"), Some(json!({"body": "from a bot"})), Scope::Send, 201),
        ("DELETE", format!("/api/messages/{message}"), None, Scope::Send, 204),
        ("GET", "/api/invites".into(), None, Scope::Admin, 200),
        ("POST", "/api/invites".into(), Some(json!({"max_uses": 2})), Scope::Admin, 201),
        ("DELETE", format!("/api/invites/{invite}"), None, Scope::Admin, 200),
        ("GET", "/api/tokens".into(), None, Scope::Admin, 200),
        ("POST", "/api/tokens".into(), Some(json!({"name": "bot", "scopes": ["send"]})), Scope::Admin, 201),
        ("DELETE", format!("/api/tokens/{spare}"), None, Scope::Admin, 200),
        ("GET", "/api/vpn/peers".into(), None, Scope::Read, 200),
        ("GET", "/api/users/ann/export".into(), None, Scope::Read, 200),
        ("DELETE", "/api/users/zed".into(), None, Scope::Admin, 204),
        ("GET", format!("/api/channels/{general}/permissions"), None, Scope::Admin, 200),
        ("PUT", format!("/api/channels/{general}/permissions"), Some(rule.clone()), Scope::Admin, 200),
        ("GET", format!("/api/categories/{kids}/permissions"), None, Scope::Admin, 200),
        ("PUT", format!("/api/categories/{kids}/permissions"), Some(rule), Scope::Admin, 200),
        ("POST", "/api/users/bob/kick".into(), Some(json!({"reason": "calm down"})), Scope::Moderate, 204),
        ("POST", "/api/users/bob/timeout".into(), Some(json!({"duration_seconds": 60})), Scope::Moderate, 204),
        ("POST", "/api/users/bob/warnings".into(), Some(json!({"note": "be kind"})), Scope::Moderate, 204),
        ("GET", "/api/users/bob/moderation".into(), None, Scope::Moderate, 200),
        ("PUT", format!("/api/channels/{general}/slow-mode"), Some(json!({"seconds": 10})), Scope::Moderate, 200),
        (
            "POST",
            "/api/users/bob/password-reset".into(),
            Some(json!({"temporary_password": "temporary-1"})),
            Scope::Admin,
            204,
        ),
        ("GET", "/api/bans".into(), None, Scope::Admin, 200),
        ("POST", "/api/bans".into(), Some(json!({"username": "bob", "reason": "spam"})), Scope::Admin, 201),
        ("DELETE", format!("/api/bans/{ban}"), None, Scope::Admin, 200),
        ("GET", "/api/audit?limit=5".into(), None, Scope::Admin, 200),
        ("GET", "/api/filters".into(), None, Scope::Admin, 200),
        ("POST", "/api/filters".into(), Some(json!({"word": "darn", "timeout_seconds": 60})), Scope::Admin, 201),
        ("DELETE", format!("/api/filters/{filter}"), None, Scope::Admin, 204),
        ("GET", "/api/approvals".into(), None, Scope::Admin, 200),
        // Nobody is waiting on this server (approval mode is off): the handler's `not_found`
        // shows the scope check passed; approving for real is in its own test below.
        ("POST", "/api/approvals/nobody/approve".into(), None, Scope::Admin, 404),
        ("POST", "/api/approvals/nobody/deny".into(), Some(json!({})), Scope::Admin, 404),
        ("PUT", "/api/users/kit/supervision".into(), Some(json!({"guardian": "chatter"})), Scope::Admin, 200),
        ("GET", "/api/users/kit/supervision".into(), None, Scope::Read, 200),
        ("PUT", "/api/users/kit/supervision/contacts/ann".into(), None, Scope::Admin, 200),
        ("DELETE", "/api/users/kit/supervision/contacts/ann".into(), None, Scope::Admin, 200),
        (
            "PUT",
            "/api/users/kit/supervision/quiet-hours".into(),
            Some(json!({"start_minute": 0, "end_minute": 1})),
            Scope::Admin,
            200,
        ),
        ("DELETE", "/api/users/kit/supervision/quiet-hours".into(), None, Scope::Admin, 200),
        ("DELETE", "/api/users/kit/supervision".into(), None, Scope::Admin, 204),
        ("GET", "/api/backups".into(), None, Scope::Admin, 200),
        ("POST", "/api/backups".into(), None, Scope::Admin, 201),
    ];
    for (method, path, body, scope, allowed) in &table {
        let what = format!("{method} {path}");
        let send = |token| call(method, path, body.as_ref(), token).send(&server);
        assert_error(&send(None).await, 401, "invalid_credentials", &format!("{what} without a token"));
        let without_scope = &lacking.iter().find(|(lacks, _)| lacks == scope).expect("a token").1;
        assert_error(&send(Some(without_scope)).await, 403, "forbidden", &format!("{what} lacking {scope:?}"));
        assert_error(&send(Some(&revoked.secret)).await, 401, "invalid_credentials", &format!("{what}, revoked"));
        assert_error(&send(Some(&expired.secret)).await, 401, "invalid_credentials", &format!("{what}, expired"));
        let answer = send(Some(&full)).await;
        assert_eq!(answer.0, *allowed, "{what} with the scope: {}", answer.1);
    }
}

#[tokio::test]
async fn a_token_is_shown_once_and_only_its_hash_is_stored() {
    let server = server().await;
    let admin = server.admin().await;
    let created = admin.create_token("backup bot", vec![Scope::Read], Some(30 * 24 * 3600)).await.expect("made");
    assert!(created.secret.starts_with("itc_") && created.secret.len() > 40, "{}", created.secret);
    let listed = admin.tokens().await.expect("listed");
    assert_eq!(listed, std::slice::from_ref(&created.token));
    assert!(!serde_json::to_string(&listed).expect("json").contains(&created.secret), "the list shows no secret");
    let (status, over_rest) = Call::new("GET", "/api/tokens").token(&created.secret).send(&server).await;
    assert_eq!(status, 403, "read cannot list tokens: {over_rest}");
    let (status, stats) = Call::new("GET", "/api/stats").token(&created.secret).send(&server).await;
    assert_eq!((status, stats["users"].as_u64()), (200, Some(1)), "{stats}");
    let used = admin.tokens().await.expect("listed");
    assert!(used[0].last_used_at.is_some_and(|at| at >= created.token.created_at), "last use noted: {used:?}");

    let db = server.dir.path().join(&server.config.database.path);
    let mut stored = Vec::new();
    for suffix in ["", "-wal"] {
        let mut path = db.clone().into_os_string();
        path.push(suffix);
        stored.extend(std::fs::read(&path).unwrap_or_default());
    }
    assert!(stored.len() > 4096, "the database was read");
    let secret = created.secret.as_bytes();
    assert!(!stored.windows(secret.len()).any(|window| window == secret), "the secret is not in the database file");
    let sqlite = rusqlite::Connection::open(&db).expect("opens the database");
    let hash: Vec<u8> =
        sqlite.query_row("SELECT secret_hash FROM access_tokens", [], |row| row.get(0)).expect("one token row");
    assert_eq!(hash, ring::digest::digest(&ring::digest::SHA256, secret).as_ref(), "its SHA-256 is");
}

#[tokio::test]
async fn every_failure_has_the_one_error_shape() {
    let server = server().await;
    let admin = server.admin().await;
    let token = admin.create_token("all", every_scope_but(None), None).await.expect("made").secret;
    let general = admin.channels().await.expect("channels").channels[0].id;
    let messages = format!("/api/channels/{general}/messages");

    let over_cap = json!({"body": "x".repeat(iptincan_body_cap() + 1)});
    let answer = Call::new("POST", messages.clone()).token(&token).json(&over_cap).send(&server).await;
    assert_error(&answer, 413, "payload_too_large", "a body over the cap");
    let mut no_type = Call::new("POST", messages.clone()).token(&token).json(&json!({"body": "hi"}));
    no_type.content_type = None;
    assert_error(&no_type.send(&server).await, 415, "unsupported_media_type", "a body without Content-Type");
    let mut broken = Call::new("POST", messages.clone()).token(&token);
    broken.body = Some(b"{\"body\": ".to_vec());
    broken.content_type = Some("application/json");
    assert_error(&broken.send(&server).await, 400, "invalid_argument", "broken JSON");
    let wrong = Call::new("POST", messages.clone()).token(&token).json(&json!({"body": 5}));
    assert_error(&wrong.send(&server).await, 400, "invalid_argument", "a body of the wrong type");
    let answer = Call::new("GET", "/api/channels/abc/messages").token(&token).send(&server).await;
    assert_error(&answer, 400, "invalid_argument", "a path that is not a number");
    let answer = Call::new("GET", format!("{messages}?limit=lots")).token(&token).send(&server).await;
    assert_error(&answer, 400, "invalid_argument", "a query that is not a number");
    let answer = Call::new("GET", format!("{messages}?limit=1000")).token(&token).send(&server).await;
    assert_error(&answer, 400, "invalid_argument", "a limit the handler refuses");
    assert_error(&Call::new("GET", "/api/nothing").send(&server).await, 404, "not_found", "an unknown route");
    let answer = Call::new("GET", "/api/channels/999999/messages").token(&token).send(&server).await;
    assert_error(&answer, 404, "not_found", "an unknown channel");
    assert_error(&Call::new("DELETE", "/api/stats").send(&server).await, 405, "method_not_allowed", "a wrong method");
    let answer = Call::new("GET", "/api/stats").token("itc_not-a-token").send(&server).await;
    assert_error(&answer, 401, "invalid_credentials", "an unknown token");
    let answer = Call::new("POST", "/api/channels").token(&token).json(&json!({"name": " "})).send(&server).await;
    assert_error(&answer, 400, "invalid_argument", "a name the handler refuses");

    let (status, document) = Call::new("GET", "/api/openapi.json").send(&server).await;
    assert_eq!((status, document["openapi"].as_str()), (200, Some("3.1.0")));
    assert!(document["paths"]["/api/channels/{channel_id}/messages"]["post"].is_object(), "{document}");
}

/// The REST body cap (`rest::MAX_BODY_BYTES`, documented in the README).
fn iptincan_body_cap() -> usize {
    64 * 1024
}

#[tokio::test]
async fn a_token_acts_as_its_admin_through_the_same_handlers() {
    let server = server().await;
    let admin = server.admin().await;
    let mut ann = server.member("ann").await;
    let token = admin.create_token("bot", vec![Scope::Send], None).await.expect("made").secret;
    let general = admin.channels().await.expect("channels").channels[0].id;
    let body = json!({"body": "dinner at six", "client_id": "bot-1"});
    let path = format!("/api/channels/{general}/messages");
    let (status, sent) = Call::new("POST", path.clone()).token(&token).json(&body).send(&server).await;
    assert_eq!(status, 201, "{sent}");
    assert_eq!((sent["author"].as_str(), sent["body"].as_str()), (Some("chatter"), Some("dinner at six")));
    let heard = common::next_message(&mut ann).await;
    assert_eq!((heard.id.get(), heard.author.as_str()), (sent["id"].as_i64().expect("id"), "chatter"), "broadcast");
    let (status, again) = Call::new("POST", path).token(&token).json(&body).send(&server).await;
    assert_eq!((status, &again["id"]), (201, &sent["id"]), "the same client_id sends once");

    let answer = Call::new("DELETE", format!("/api/messages/{}", sent["id"])).token(&token).send(&server).await;
    assert_eq!(answer.0, 204, "the author deletes their own: {}", answer.1);
    let theirs = ann.send(general, "mine").await.expect("sent");
    admin.set_role("ann", iptincan::proto::Role::Admin).await.expect("ann is admin");
    let ann_token = ann.create_token("ann's bot", vec![Scope::Send], None).await.expect("made").secret;
    admin.request(Request::SetRole { username: "ann".into(), role: iptincan::proto::Role::Member }).await.expect("ok");
    let answer = Call::new("DELETE", format!("/api/messages/{}", 1)).token(&ann_token).send(&server).await;
    assert_error(&answer, 404, "not_found", "message 1 does not exist");
    let answer = Call::new("POST", "/api/tokens").token(&ann_token).json(&json!({"name": "x", "scopes": ["read"]}));
    assert_error(&answer.send(&server).await, 403, "forbidden", "a demoted admin's token lacks the scope");
    let answer = Call::new("DELETE", format!("/api/messages/{}", theirs.id)).token(&ann_token).send(&server).await;
    assert_eq!(answer.0, 204, "a demoted admin's token still deletes their own message: {}", answer.1);
}

/// Sends `count` `GET path` requests with `token` pipelined on one connection (so that they
/// arrive faster than the rate refills); their statuses.
async fn pipelined(server: &TestServer, path: &str, token: &str, count: usize) -> Vec<u16> {
    let mut tls = rest_connect(server).await;
    let mut requests = String::new();
    for sent in 1..=count {
        let connection = if sent == count { "close" } else { "keep-alive" };
        requests += &format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nConnection: {connection}\r\n\r\n"
        );
    }
    tls.write_all(requests.as_bytes()).await.expect("writes");
    let mut responses = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), tls.read_to_end(&mut responses)).await;
    assert!(read.is_ok(), "answers within 30 s");
    let responses = String::from_utf8(responses).expect("UTF-8");
    responses.split("HTTP/1.1 ").skip(1).filter_map(|response| response.get(..3)?.parse().ok()).collect()
}

#[tokio::test]
async fn each_token_is_rate_limited() {
    let server = server().await;
    let admin = server.admin().await;
    let token = admin.create_token("busy", vec![Scope::Read], None).await.expect("made").secret;
    let other = admin.create_token("calm", vec![Scope::Read], None).await.expect("made").secret;
    let statuses = pipelined(&server, "/api/users", &token, 200).await;
    assert_eq!(statuses.len(), 200, "every request answered");
    let allowed = statuses.iter().filter(|status| **status == 200).count();
    let limited = statuses.iter().filter(|status| **status == 429).count();
    assert_eq!(allowed + limited, 200, "{statuses:?}");
    assert!(allowed >= 100, "the burst of 100 is allowed ({allowed})");
    assert!(limited > 0, "then requests are refused: {statuses:?}");
    let answer = Call::new("GET", "/api/users").token(&token).send(&server).await;
    if answer.0 == 429 {
        assert_error(&answer, 429, "rate_limited", "over the token's rate");
    }
    let (status, _) = Call::new("GET", "/api/users").token(&other).send(&server).await;
    assert_eq!(status, 200, "another token is not held back");
}

/// Runs `itc` against `server` as the admin; its standard output, or the failure's stderr.
async fn itc(server: &TestServer, known_hosts: &std::path::Path, args: &[&str]) -> Result<String, String> {
    let code = server.running().connection_code("127.0.0.1").encode().expect("code");
    let mut command = std::process::Command::new(common::client_binary());
    command
        .args(["--server", &code, "--user", "chatter"])
        .args(args)
        .env("ITC_PASSWORD", common::ADMIN_PASSWORD)
        .env("ITC_KNOWN_HOSTS", known_hosts);
    let (ok, stdout, stderr) =
        tokio::task::spawn_blocking(move || common::run_bounded(&mut command)).await.expect("itc ran");
    if ok {
        Ok(stdout)
    } else {
        Err(stderr)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn itc_makes_lists_and_revokes_tokens() {
    let server = server().await;
    let _admin = server.admin().await;
    let known = server.dir.path().join("known_hosts");
    let made =
        itc(&server, &known, &["admin", "token", "create", "cron job", "--scope", "read,send", "--expires", "30d"]);
    let stdout = made.await.expect("token create");
    let secret = stdout.trim_end();
    assert!(secret.starts_with("itc_") && !secret.contains(char::is_whitespace), "the token alone: {stdout:?}");
    let (status, users) = Call::new("GET", "/api/users").token(secret).send(&server).await;
    assert_eq!(status, 200, "{users}");

    let listed = itc(&server, &known, &["admin", "tokens"]).await.expect("tokens");
    let line = listed.lines().find(|line| line.contains("\"cron job\"")).expect("listed");
    assert!(line.contains("read,send") && line.contains("last used") && line.contains("expires"), "{line}");
    assert!(!listed.contains(secret), "no secret in the list");
    let id = line.split_whitespace().nth(1).expect("an id").to_string();
    itc(&server, &known, &["admin", "revoke-token", &id]).await.expect("revokes");
    let answer = Call::new("GET", "/api/users").token(secret).send(&server).await;
    assert_error(&answer, 401, "invalid_credentials", "a revoked token, at once");
    let refused = itc(&server, &known, &["admin", "token", "create", "bad", "--scope", "everything"]).await;
    assert!(refused.is_err_and(|stderr| stderr.contains("unknown scope")), "a bad scope is refused");
}

#[tokio::test]
async fn a_ban_over_rest_ends_the_members_connection_and_the_audit_log_shows_it() {
    let server = server().await;
    let admin = server.admin().await;
    let mut eve = server.member("eve").await;
    let token = admin.create_token("moderation bot", vec![Scope::Admin], None).await.expect("made").secret;

    let ban = json!({"username": "eve", "duration_seconds": 3600, "reason": "spam"});
    let (status, made) = Call::new("POST", "/api/bans").token(&token).json(&ban).send(&server).await;
    assert_eq!(status, 201, "{made}");
    assert_eq!((made["username"].as_str(), made["created_by"].as_str()), (Some("eve"), Some("chatter")), "{made}");
    let ended = tokio::time::timeout(common::WAIT, async { while eve.next_event().await.is_some() {} }).await;
    assert!(ended.is_ok(), "the banned member's live connection ended at once");
    let again = server.connect().await.login("eve", common::MEMBER_PASSWORD).await;
    common::assert_code(again, iptincan::proto::ErrorCode::Banned);

    let (status, bans) = Call::new("GET", "/api/bans").token(&token).send(&server).await;
    assert_eq!((status, &bans[0]["id"]), (200, &made["id"]), "{bans}");
    let (status, page) = Call::new("GET", "/api/audit?limit=1").token(&token).send(&server).await;
    assert_eq!(status, 200, "{page}");
    let newest = &page["entries"][0];
    assert_eq!((newest["action"].as_str(), newest["actor"].as_str()), (Some("ban"), Some("chatter")), "{page}");
    assert_eq!(newest["target"].as_str(), Some("eve"), "{page}");

    let unban = Call::new("DELETE", format!("/api/bans/{}", made["id"])).token(&token).send(&server).await;
    assert_eq!(unban.0, 200, "{}", unban.1);
    server.connect().await.login("eve", common::MEMBER_PASSWORD).await.expect("eve is back once unbanned");
    let (status, page) = Call::new("GET", "/api/audit").token(&token).send(&server).await;
    let actions: Vec<_> =
        page["entries"].as_array().into_iter().flatten().filter_map(|entry| entry["action"].as_str()).collect();
    assert_eq!((status, actions), (200, vec!["unban", "ban"]), "newest first: {page}");
}

#[tokio::test]
async fn a_waiting_registration_is_approved_over_rest() {
    let server = TestServer::start_with(|config| {
        config.server.new_connections_per_minute = 100_000;
        config.auth.require_approval = true;
    })
    .await;
    let admin = server.admin().await;
    let token = admin.create_token("doorkeeper", vec![Scope::Admin], None).await.expect("made").secret;
    let mut pat = server.connect().await;
    let waiting = pat.register("pat", common::MEMBER_PASSWORD).await;
    common::assert_code(waiting, iptincan::proto::ErrorCode::AwaitingApproval);

    let (status, list) = Call::new("GET", "/api/approvals").token(&token).send(&server).await;
    assert_eq!((status, list[0]["username"].as_str()), (200, Some("pat")), "{list}");
    let answer = Call::new("POST", "/api/approvals/pat/approve").token(&token).send(&server).await;
    assert_eq!(answer.0, 204, "{}", answer.1);
    let approved = common::next_matching(&mut pat, |event| match event {
        Event::RegistrationApproved { username } => Some(username),
        _ => None,
    });
    assert_eq!(approved.await, "pat");
    let (status, list) = Call::new("GET", "/api/approvals").token(&token).send(&server).await;
    assert_eq!((status, list.as_array().map(Vec::len)), (200, Some(0)), "{list}");
    let again = Call::new("POST", "/api/approvals/pat/deny").token(&token).json(&json!({})).send(&server).await;
    assert_error(&again, 404, "not_found", "pat is no longer waiting");
}

#[tokio::test]
async fn a_backup_started_over_rest_is_written_verified_and_listed() {
    let server = server().await;
    let admin = server.admin().await;
    let general = admin.find_channel("general").await.expect("general").id;
    admin.send(general, "in the backup").await.expect("sent");
    let token = admin.create_token("nightly script", vec![Scope::Admin], None).await.expect("made").secret;

    let (status, list) = Call::new("GET", "/api/backups").token(&token).send(&server).await;
    assert_eq!((status, list.as_array().map(Vec::len)), (200, Some(0)), "{list}");
    let (status, made) = Call::new("POST", "/api/backups").token(&token).send(&server).await;
    assert_eq!(status, 201, "{made}");
    let name = made["file_name"].as_str().expect("a file name");
    assert!(name.starts_with("itc-backup-") && name.ends_with(".tar"), "{made}");
    let path = server.dir.path().join("backups").join(name);
    let manifest = iptincan::backup::verify(&path, None).expect("the archive verifies");
    assert!(manifest.files.iter().any(|file| file.path == "itc-server.db"), "the database is in it");
    assert_eq!(made["size"].as_u64(), Some(std::fs::metadata(&path).expect("written").len()));

    let (status, list) = Call::new("GET", "/api/backups").token(&token).send(&server).await;
    assert_eq!((status, list.as_array().cloned().unwrap_or_default()), (200, vec![made.clone()]), "{list}");
    let bare = TestServer::start().await;
    let unattached = bare.admin().await.create_token("t", vec![Scope::Admin], None).await.expect("made").secret;
    let refused = Call::new("POST", "/api/backups").token(&unattached).send(&bare).await;
    assert_error(&refused, 403, "not_allowed_now", "a server without a backup service");
}
