//! An app that signs in itself (invite, password) hands that connection to a [`Session`]
//! with `Session::adopt`: the session's first connected period is that connection (no
//! second sign-in), `Session::connected` waits through a server restart for the next one,
//! which resumes with the adopted session's token, and answers `None` once the session has
//! stopped.

mod common;

use common::{TestServer, MEMBER_PASSWORD, WAIT};
use iptincan::client::session::{Session, State, Update};
use iptincan::proto::{Reply, Request};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

async fn next_update(updates: &mut mpsc::Receiver<Update>) -> Update {
    tokio::time::timeout(WAIT * 2, updates.recv()).await.expect("an update in time").expect("session running")
}

#[tokio::test]
async fn an_adopted_connection_comes_first_and_the_session_resumes_with_its_token() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
    let server = TestServer::start_with(|config| config.server.tcp_port = port).await;
    let client = server.connect().await;
    let info = client.register("ann", MEMBER_PASSWORD).await.expect("registers");
    let (session, mut updates) = Session::adopt(server.target(), None, client, info.clone());

    assert_eq!(next_update(&mut updates).await, Update::State(State::Connected(info.clone())), "no Connecting first");
    let first = tokio::time::timeout(WAIT, session.connected()).await.expect("at once").expect("connected");
    assert!(matches!(first.request(Request::ListChannels).await, Ok(Reply::Channels(_))), "signed in");

    let (dir, config) = server.stop().await;
    loop {
        if let Update::State(State::Reconnecting { .. }) = next_update(&mut updates).await {
            break;
        }
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(300), session.connected()).await.is_err(),
        "connected() waits while the server is down"
    );
    let _server = TestServer::restart(dir, config).await;
    let again = tokio::time::timeout(WAIT * 2, session.connected()).await.expect("in time").expect("connected again");
    assert!(!Arc::ptr_eq(&first, &again), "a new connection");
    let resumed = loop {
        if let Update::State(State::Connected(resumed)) = next_update(&mut updates).await {
            break resumed;
        }
    };
    assert_eq!((resumed.user.username.as_str(), resumed.token), ("ann", info.token), "resumed with the token");
    assert!(matches!(again.request(Request::ListChannels).await, Ok(Reply::Channels(_))), "signed in again");
}

#[tokio::test]
async fn connected_answers_none_once_the_session_has_stopped() {
    let server = TestServer::start().await;
    let (session, mut updates) = Session::start(server.target(), None, "not-a-token".into());
    let stopped = tokio::time::timeout(WAIT * 2, session.connected()).await.expect("answers in time");
    assert!(stopped.is_none(), "no connection for a refused token");
    let mut last = None;
    while let Some(update) = tokio::time::timeout(WAIT, updates.recv()).await.expect("closes") {
        last = Some(update);
    }
    assert!(matches!(last, Some(Update::State(State::SignedOut { .. }))), "{last:?}");
}
