//! The app's reconnecting session when moderation or supervision refuses a message
//! (docs/protocol.md §18, §22): slow mode, a keyword filter, a timeout, a guardian's contact
//! rule and quiet hours each answer that send at once, with the server's reason, and the
//! session stays connected (it neither reconnects nor sends the message again
//! later, when the window or the timeout is over). Real server on loopback.

mod common;

use common::{TestServer, MEMBER_PASSWORD, WAIT};
use iptincan::client::session::{Session, State, Update};
use iptincan::clock::now_ms;
use iptincan::proto::{QuietHours, MINUTES_PER_DAY};
use tokio::sync::mpsc;

/// The outcome of the message `client_id`: `Ok(())` when stored, `Err(reason)` when refused;
/// panics on any connection change on the way.
async fn outcome(updates: &mut mpsc::Receiver<Update>, client_id: &str) -> Result<(), String> {
    loop {
        let update =
            tokio::time::timeout(WAIT, updates.recv()).await.expect("an update in time").expect("session running");
        match update {
            Update::Sent { client_id: id, .. } if id == client_id => return Ok(()),
            Update::NotSent { message, reason } if message.client_id == client_id => return Err(reason),
            Update::State(state) => panic!("the connection changed while sending: {state:?}"),
            _ => {}
        }
    }
}

#[tokio::test]
async fn slow_mode_filters_and_timeouts_refuse_a_message_at_once_without_reconnecting() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let token = server.connect().await.register("ann", MEMBER_PASSWORD).await.expect("registers").token;
    let general = admin.find_channel("general").await.expect("general").id;
    admin.set_slow_mode(general, 60).await.expect("slow mode");
    admin.add_filter("darn", None).await.expect("a filter");

    let (session, mut updates) = Session::start(server.target(), None, token);
    loop {
        let update = tokio::time::timeout(WAIT, updates.recv()).await.expect("connects in time").expect("running");
        if matches!(update, Update::State(State::Connected(_))) {
            break;
        }
    }

    let first = session.send(general, "first, within slow mode");
    assert_eq!(outcome(&mut updates, &first).await, Ok(()));
    let second = session.send(general, "second, too soon");
    let reason = outcome(&mut updates, &second).await.expect_err("refused by slow mode");
    assert!(reason.contains("slow mode"), "{reason}");

    admin.set_slow_mode(general, 0).await.expect("slow mode off");
    let filtered = session.send(general, "oh darn it");
    let reason = outcome(&mut updates, &filtered).await.expect_err("refused by the filter");
    assert!(reason.contains("darn"), "{reason}");

    admin.timeout("ann", 600, Some("too loud")).await.expect("times out");
    let muted = session.send(general, "still here");
    let reason = outcome(&mut updates, &muted).await.expect_err("refused by the timeout");
    assert!(reason.contains("timed out"), "{reason}");

    let history = admin.history(general, None, Some(50)).await.expect("history");
    let bodies: Vec<&str> = history.messages.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["first, within slow mode"], "only the message that passed is stored");
}

#[tokio::test]
async fn a_guardians_rules_and_quiet_hours_refuse_a_message_at_once_without_reconnecting() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let token = server.connect().await.register("kid", MEMBER_PASSWORD).await.expect("registers").token;
    let stranger = server.connect().await;
    stranger.register("stranger", MEMBER_PASSWORD).await.expect("registers");
    let general = admin.find_channel("general").await.expect("general").id;
    // A direct conversation from before the supervision: it stays readable, but closed to new messages.
    let direct = stranger.open_direct("kid").await.expect("a direct conversation").id;
    admin.supervise("kid", "chatter").await.expect("supervised");

    let (session, mut updates) = Session::start(server.target(), None, token);
    loop {
        let update = tokio::time::timeout(WAIT, updates.recv()).await.expect("connects in time").expect("running");
        if matches!(update, Update::State(State::Connected(_))) {
            break;
        }
    }

    let to_stranger = session.send(direct, "hello stranger");
    let reason = outcome(&mut updates, &to_stranger).await.expect_err("refused: not a contact");
    assert!(reason.starts_with("you cannot write here"), "{reason}");

    // Quiet from an hour ago to an hour from now (UTC minutes of the day).
    let minute = u16::try_from(now_ms().div_euclid(60_000).rem_euclid(i64::from(MINUTES_PER_DAY))).expect("a minute");
    let hours = QuietHours::new((minute + MINUTES_PER_DAY - 60) % MINUTES_PER_DAY, (minute + 60) % MINUTES_PER_DAY);
    admin.set_quiet_hours("kid", hours).await.expect("quiet hours");
    let at_night = session.send(general, "still awake");
    let reason = outcome(&mut updates, &at_night).await.expect_err("refused in quiet hours");
    assert!(reason.contains("quiet"), "{reason}");

    let stored = |page: iptincan::proto::HistoryPage| page.messages.into_iter().map(|m| m.body).collect::<Vec<_>>();
    assert!(stored(admin.history(general, None, Some(50)).await.expect("history")).is_empty());
    assert!(stored(stranger.history(direct, None, Some(50)).await.expect("history")).is_empty());
}
