//! The app's reconnecting session against a real server on loopback: it rides out a dropped
//! connection, a lost acknowledgement and a server restart on the same data and port, catches
//! up on what it missed, and every message it was asked to send is stored exactly once.
//!
//! A small TCP proxy sits between the session and the server so the test can cut the
//! connection, refuse new ones, or swallow the server's answers (a message stored whose reply
//! never arrives).

mod common;

use common::{TestServer, MEMBER_PASSWORD, WAIT};
use iptincan::client::session::{Session, State, Update};
use iptincan::client::{Client, Target, UploadOptions};
use iptincan::proto::{ChannelId, Event, Message};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

/// Forwards 127.0.0.1:`port` to the server's port; can cut, refuse and swallow.
struct Proxy {
    port: u16,
    refuse: Arc<AtomicBool>,
    swallow_replies: Arc<AtomicBool>,
    cut: watch::Sender<u64>,
}

impl Proxy {
    async fn start(server_port: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let port = listener.local_addr().expect("address").port();
        let refuse = Arc::new(AtomicBool::new(false));
        let swallow_replies = Arc::new(AtomicBool::new(false));
        let (cut, _) = watch::channel(0u64);
        let (refusing, swallowing, cuts) = (refuse.clone(), swallow_replies.clone(), cut.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if refusing.load(Ordering::SeqCst) {
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", server_port)).await else { continue };
                let (swallowing, mut cut) = (swallowing.clone(), cuts.subscribe());
                tokio::spawn(async move {
                    let (mut client_read, mut client_write) = client.into_split();
                    let (mut server_read, mut server_write) = server.into_split();
                    let up = tokio::io::copy(&mut client_read, &mut server_write);
                    let down = async {
                        let mut buf = vec![0u8; 16 * 1024];
                        loop {
                            let n = server_read.read(&mut buf).await?;
                            if n == 0 {
                                return Ok::<_, std::io::Error>(());
                            }
                            if !swallowing.load(Ordering::SeqCst) {
                                client_write.write_all(&buf[..n]).await?;
                            }
                        }
                    };
                    tokio::select! {
                        _ = up => {}
                        _ = down => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Proxy { port, refuse, swallow_replies, cut }
    }

    /// Drops every open connection.
    fn cut(&self) {
        self.cut.send_modify(|n| *n += 1);
    }
}

/// A server on a fixed port, so a restart comes back where the session looks for it.
async fn server_on_a_fixed_port() -> TestServer {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
    TestServer::start_with(|config| config.server.tcp_port = port).await
}

fn via_proxy(server: &TestServer, proxy: &Proxy) -> Target {
    let mut code = server.running().connection_code("127.0.0.1");
    code.port = proxy.port;
    Target::Code(code)
}

async fn next_update(updates: &mut mpsc::Receiver<Update>) -> Update {
    tokio::time::timeout(WAIT * 2, updates.recv()).await.expect("an update in time").expect("session running")
}

async fn until_connected(updates: &mut mpsc::Receiver<Update>, seen: &mut Vec<Update>) {
    loop {
        let update = next_update(updates).await;
        let connected = matches!(update, Update::State(State::Connected(_)));
        seen.push(update);
        if connected {
            return;
        }
    }
}

/// Collects updates until every client id in `waiting` has been acknowledged.
async fn until_sent(updates: &mut mpsc::Receiver<Update>, mut waiting: Vec<String>, seen: &mut Vec<Update>) {
    while !waiting.is_empty() {
        let update = next_update(updates).await;
        if let Update::Sent { client_id, .. } = &update {
            waiting.retain(|id| id != client_id);
        }
        assert!(!matches!(update, Update::NotSent { .. }), "{update:?}");
        seen.push(update);
    }
}

async fn bodies(client: &Client, channel: ChannelId) -> Vec<String> {
    let page = client.history(channel, None, Some(100)).await.expect("history");
    assert!(!page.has_more);
    page.messages.into_iter().map(|m| m.body).collect()
}

fn created(updates: &[Update]) -> Vec<Message> {
    updates
        .iter()
        .filter_map(|update| match update {
            Update::Event(Event::MessageCreated(message)) => Some(message.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn messages_survive_drops_lost_replies_and_a_restart_exactly_once() {
    let server = server_on_a_fixed_port().await;
    let proxy = Proxy::start(server.config.server.tcp_port).await;
    let ann_login = server.connect().await;
    let token = ann_login.register("ann", MEMBER_PASSWORD).await.expect("registers").token;
    let bob = server.member("bob").await;
    let general = bob.find_channel("general").await.expect("general").id;

    let (session, mut updates) = Session::start(via_proxy(&server, &proxy), None, token);
    let mut seen = Vec::new();
    assert_eq!(next_update(&mut updates).await, Update::State(State::Connecting));
    until_connected(&mut updates, &mut seen).await;
    assert!(session.client().is_some());
    let first = session.send(general, "hello from ann");
    until_sent(&mut updates, vec![first], &mut seen).await;

    // 1. A dropped connection while bob talks: the session catches up on reconnect.
    proxy.refuse.store(true, Ordering::SeqCst);
    proxy.cut();
    let missed = bob.send(general, "did you see this?").await.expect("bob sends");
    let offline = session.send(general, "typed while offline");
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    proxy.refuse.store(false, Ordering::SeqCst);
    seen.clear();
    until_connected(&mut updates, &mut seen).await;
    assert!(seen.iter().any(|u| matches!(u, Update::State(State::Reconnecting { attempt: 1, .. }))), "{seen:?}");
    until_sent(&mut updates, vec![offline], &mut seen).await;
    // The missed message comes before `Connected`: the app reloads the server's unread counts
    // when it hears that, and a caught-up message handled after the reload counted twice.
    let at = |wanted: &dyn Fn(&Update) -> bool| seen.iter().position(wanted);
    let caught_up = at(&|u| matches!(u, Update::Event(Event::MessageCreated(m)) if m.id == missed.id));
    let connected = at(&|u| matches!(u, Update::State(State::Connected(_))));
    assert!(caught_up.is_some() && caught_up < connected, "{seen:?}");
    assert_eq!(created(&seen), [missed], "the missed message, once, from catching up");

    // 2. The server stores a message but its answer is lost with the connection.
    proxy.swallow_replies.store(true, Ordering::SeqCst);
    let mut bob_events = server.connect().await;
    bob_events.login("bob", MEMBER_PASSWORD).await.expect("bob's second device");
    let unlucky = session.send(general, "the answer to this one is lost");
    let stored = common::next_message(&mut bob_events).await;
    assert_eq!(stored.client_id.as_deref(), Some(unlucky.as_str()), "stored before the drop");
    proxy.swallow_replies.store(false, Ordering::SeqCst);
    proxy.cut();
    seen.clear();
    until_sent(&mut updates, vec![unlucky.clone()], &mut seen).await;
    let resent = seen.iter().find_map(|u| match u {
        Update::Sent { client_id, message } if *client_id == unlucky => Some(message.clone()),
        _ => None,
    });
    assert_eq!(resent, Some(stored), "the resend answered the message stored the first time");

    // 3. The server restarts on the same data and port; messages typed meanwhile go once,
    // and so does one carrying a file uploaded before.
    let note = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(note.path(), b"the shopping list").expect("writes");
    let options = UploadOptions { channel_id: Some(general), ..UploadOptions::default() };
    let uploaded = ann_login.upload_file(note.path(), "list.txt", options).await.expect("uploads");
    let (dir, config) = server.stop().await;
    let mut queued = Vec::new();
    for i in 0..3 {
        queued.push(session.send(general, format!("typed during the restart {i}")));
    }
    queued.push(session.send_with_files(general, "", vec![uploaded.file_id]));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(session.client().is_none(), "not connected while the server is down");
    let server = TestServer::restart(dir, config).await;
    seen.clear();
    until_connected(&mut updates, &mut seen).await;
    until_sent(&mut updates, queued, &mut seen).await;

    let reader = server.connect().await;
    reader.login("bob", MEMBER_PASSWORD).await.expect("logs in");
    assert_eq!(
        bodies(&reader, general).await,
        [
            "hello from ann",
            "did you see this?",
            "typed while offline",
            "the answer to this one is lost",
            "typed during the restart 0",
            "typed during the restart 1",
            "typed during the restart 2",
            "",
        ],
        "every message exactly once, in order"
    );
    let page = reader.history(general, None, Some(1)).await.expect("history");
    let files: Vec<&str> = page.messages[0].attachments.iter().map(|file| file.name.as_str()).collect();
    assert_eq!(files, ["list.txt"], "the file went with its message");
}

#[tokio::test]
async fn an_ended_session_signs_out_and_returns_unsent_messages() {
    let server = TestServer::start().await;
    let ann = server.member("ann").await;
    let general = ann.find_channel("general").await.expect("general").id;
    let (session, mut updates) = Session::start(server.target(), None, "not-a-token".into());
    let queued = session.send(general, "never sent");
    let mut last = Vec::new();
    loop {
        let update = next_update(&mut updates).await;
        let done = matches!(update, Update::State(State::SignedOut { .. }));
        last.push(update);
        if done {
            break;
        }
    }
    assert!(
        last.iter().any(|u| matches!(u, Update::NotSent { message, .. } if message.client_id == queued)),
        "{last:?}"
    );
    assert!(tokio::time::timeout(WAIT, updates.recv()).await.expect("closes").is_none(), "the session stopped");
}
