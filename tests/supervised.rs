//! Supervised members on a real server over loopback with a real SQLite file: a supervised
//! member writes direct messages only to their guardian and the contacts the guardian allows;
//! quiet hours (set around the current minute, the server having no fake clock) refuse sending
//! and hold back `mentioned`; the guardian reads the member's moderation history; the member
//! sees who supervises them; only admins supervise and only guardians and admins look after a
//! supervised member; every change is in the audit log.

mod common;

use common::{assert_code, itc_as, next_matching, TestServer, ADMIN_PASSWORD, MEMBER_PASSWORD};
use iptincan::client::Client;
use iptincan::proto::{ErrorCode, Event, QuietHours, Role, MAX_HISTORY_PAGE, MINUTES_PER_DAY};

/// The minute of the day (UTC) now.
fn minute_now() -> u16 {
    (iptincan::clock::now_ms().div_euclid(60_000).rem_euclid(i64::from(MINUTES_PER_DAY))) as u16
}

/// `minute + by`, around the clock.
fn later(minute: u16, by: u16) -> u16 {
    (minute + by) % MINUTES_PER_DAY
}

/// Every audit action with its target and details, newest first.
async fn audit(admin: &Client) -> Vec<(String, Option<String>, Option<String>)> {
    let page = admin.audit_log(None, Some(MAX_HISTORY_PAGE)).await.expect("audit log");
    page.entries.into_iter().map(|entry| (entry.action, entry.target, entry.reason)).collect()
}

fn audited(lines: &[(String, Option<String>, Option<String>)], action: &str, target: &str, details: &str) -> bool {
    lines.iter().any(|(a, t, r)| {
        a == action && t.as_deref() == Some(target) && r.as_deref().unwrap_or_default().contains(details)
    })
}

#[tokio::test]
async fn a_supervised_member_writes_only_to_their_guardian_and_allowed_contacts() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let kid = server.member("kid").await;
    let mum = server.member("mum").await;
    let pal = server.member("pal").await;
    let stranger = server.member("stranger").await;

    // Before supervision, anyone may write to anyone.
    let before = kid.open_direct("stranger").await.expect("unsupervised: allowed");
    stranger.send(before.id, "hello there").await.expect("unsupervised: sent");
    let info = admin.supervise("kid", "mum").await.expect("supervised");
    assert_eq!((info.username.as_str(), info.guardian.as_deref()), ("kid", Some("mum")));
    assert!(info.contacts.is_empty());

    assert_code(kid.open_direct("stranger").await, ErrorCode::Supervised);
    assert_code(stranger.open_direct("kid").await, ErrorCode::Supervised);
    assert_code(admin.open_direct("kid").await, ErrorCode::Supervised);
    assert_code(kid.open_direct("pal").await, ErrorCode::Supervised);
    let to_mum = kid.open_direct("mum").await.expect("the guardian is always a contact");
    kid.send(to_mum.id, "hi mum").await.expect("writes to the guardian");

    // The conversation opened before supervision stays readable but takes no new messages.
    assert_code(stranger.send(before.id, "are you there?").await, ErrorCode::Supervised);
    assert_code(kid.send(before.id, "yes").await, ErrorCode::Supervised);
    assert_eq!(kid.history(before.id, None, Some(10)).await.expect("readable").messages.len(), 1);

    let info = mum.allow_contact("kid", "pal", true).await.expect("the guardian allows a contact");
    assert_eq!(info.contacts, ["pal"]);
    let with_pal = kid.open_direct("pal").await.expect("an allowed contact");
    kid.send(with_pal.id, "want to play?").await.expect("writes to an allowed contact");
    pal.send(with_pal.id, "yes").await.expect("the contact writes back");

    let info = mum.allow_contact("kid", "pal", false).await.expect("the guardian takes it back");
    assert!(info.contacts.is_empty());
    assert_code(kid.send(with_pal.id, "still there?").await, ErrorCode::Supervised);
    assert_code(pal.send(with_pal.id, "hello?").await, ErrorCode::Supervised);
    assert_code(kid.join_voice(with_pal.id, &"A".repeat(43)).await, ErrorCode::Supervised);
    assert_code(pal.join_voice(with_pal.id, &"A".repeat(43)).await, ErrorCode::Supervised);
    let history = kid.history(with_pal.id, None, Some(10)).await.expect("what was said stays readable");
    assert_eq!(history.messages.len(), 2);

    let lines = audit(&admin).await;
    assert!(audited(&lines, "supervise", "kid", "guardian mum"), "{lines:?}");
    assert!(audited(&lines, "allow_contact", "kid", "contact pal"), "{lines:?}");
    assert!(audited(&lines, "disallow_contact", "kid", "contact pal"), "{lines:?}");

    mum.unsupervise("kid").await.expect("the guardian ends it");
    stranger.open_direct("kid").await.expect("no longer supervised");
    assert!(audited(&audit(&admin).await, "unsupervise", "kid", ""));
}

#[tokio::test]
async fn quiet_hours_refuse_sending_and_hold_back_mentions() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let mut kid = server.member("kid").await;
    let pal = server.member("pal").await;
    let general = admin.find_channel("general").await.expect("general").id;
    admin.supervise("kid", "chatter").await.expect("supervised by the admin");

    // Quiet hours that start two minutes from now: not quiet yet.
    let now = minute_now();
    let later_on = QuietHours::new(later(now, 2), later(now, 3)).expect("valid");
    let info = admin.set_quiet_hours("kid", Some(later_on)).await.expect("set");
    assert!(!info.quiet_now, "{info:?}");
    kid.send(general, "before bedtime").await.expect("sends outside quiet hours");

    // Quiet hours around this minute (and the next, so that a minute turning mid-test counts).
    let around = QuietHours::new(now, later(now, 2)).expect("valid");
    let info = admin.set_quiet_hours("kid", Some(around)).await.expect("set");
    assert!(info.quiet_now, "{info:?}");
    let told = next_matching(&mut kid, |event| match event {
        Event::SupervisionChanged(info) if info.quiet_hours == Some(around) => Some(info),
        _ => None,
    })
    .await;
    assert!(told.quiet_now, "the member's client learns that quiet hours are on: {told:?}");
    assert_code(kid.send(general, "still awake").await, ErrorCode::QuietHours);
    let with_admin = kid.open_direct("chatter").await.expect("opening is not sending");
    assert_code(kid.send(with_admin.id, "psst").await, ErrorCode::QuietHours);

    // A mention during quiet hours: the message arrives, the `mentioned` event does not; the
    // mention is kept for later. `pal`'s second message shows the events in between.
    let mention = pal.send(general, "@kid are you up?").await.expect("sent");
    let marker = pal.send(general, "never mind").await.expect("sent");
    let mut mentioned = false;
    next_matching(&mut kid, |event| match event {
        Event::Mentioned(_) => {
            mentioned = true;
            None
        }
        Event::MessageCreated(message) if message.id == marker.id => Some(()),
        _ => None,
    })
    .await;
    assert!(!mentioned, "no `mentioned` during quiet hours");
    let kept = kid.mentions(None, None).await.expect("mentions");
    assert_eq!(kept.messages.iter().map(|m| m.id).collect::<Vec<_>>(), [mention.id]);

    let info = admin.set_quiet_hours("kid", None).await.expect("cleared");
    assert_eq!(info.quiet_hours, None);
    kid.send(general, "good morning").await.expect("sends again");
    let lines = audit(&admin).await;
    assert!(audited(&lines, "set_quiet_hours", "kid", "UTC"), "{lines:?}");
    assert!(audited(&lines, "set_quiet_hours", "kid", "cleared"), "{lines:?}");

    assert_code(admin.set_quiet_hours("pal", Some(around)).await, ErrorCode::NotFound);
    let bad = admin.request(iptincan::proto::Request::SetQuietHours {
        username: "kid".into(),
        start_minute: Some(MINUTES_PER_DAY),
        end_minute: Some(5),
    });
    assert_code(bad.await, ErrorCode::InvalidArgument);
}

#[tokio::test]
async fn the_guardian_reads_the_history_and_the_member_sees_who_supervises_them() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let kid = server.member("kid").await;
    let mum = server.member("mum").await;
    let pal = server.member("pal").await;
    admin.supervise("kid", "mum").await.expect("supervised");
    admin.warn("kid", "be nice to your sister").await.expect("warned");

    let history = mum.moderation_history("kid").await.expect("the guardian reads it");
    assert!(history.iter().any(|entry| entry.action == "warn"), "{history:?}");
    assert!(history.iter().any(|entry| entry.action == "supervise"), "{history:?}");
    assert_code(pal.moderation_history("kid").await, ErrorCode::Forbidden);
    assert_code(mum.moderation_history("pal").await, ErrorCode::Forbidden);

    let again = server.connect().await;
    let session = again.login("kid", MEMBER_PASSWORD).await.expect("logs in");
    let supervision = session.supervision.expect("the session says so");
    assert_eq!(supervision.guardian.as_deref(), Some("mum"));
    let own = kid.supervision(None).await.expect("one's own supervision");
    assert_eq!((own.username.as_str(), own.guardian.as_deref()), ("kid", Some("mum")));
    assert_eq!(mum.supervision(Some("kid")).await.expect("the guardian's view"), own);
    assert_code(pal.supervision(Some("kid")).await, ErrorCode::Forbidden);
    assert_code(pal.supervision(None).await, ErrorCode::NotFound);
    let unsupervised = server.connect().await.login("pal", MEMBER_PASSWORD).await.expect("logs in");
    assert!(unsupervised.supervision.is_none());
}

#[tokio::test]
async fn only_admins_supervise_and_only_the_guardian_or_an_admin_looks_after() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let kid = server.member("kid").await;
    let mum = server.member("mum").await;
    let pal = server.member("pal").await;
    let _mod = server.member("mod").await;
    admin.set_role("mod", Role::Moderator).await.expect("moderator");

    assert_code(pal.supervise("kid", "pal").await, ErrorCode::Forbidden);
    assert_code(mum.supervise("kid", "mum").await, ErrorCode::Forbidden);
    assert_code(admin.supervise("chatter", "mum").await, ErrorCode::Forbidden);
    assert_code(admin.supervise("mod", "mum").await, ErrorCode::InvalidArgument);
    assert_code(admin.supervise("kid", "kid").await, ErrorCode::InvalidArgument);
    assert_code(admin.supervise("kid", "nobody").await, ErrorCode::NotFound);
    admin.supervise("kid", "mum").await.expect("supervised");
    assert_code(admin.supervise("pal", "kid").await, ErrorCode::InvalidArgument);

    assert_code(pal.allow_contact("kid", "pal", true).await, ErrorCode::Forbidden);
    assert_code(pal.set_quiet_hours("kid", QuietHours::new(0, 60)).await, ErrorCode::Forbidden);
    assert_code(pal.unsupervise("kid").await, ErrorCode::Forbidden);
    assert_code(kid.unsupervise("kid").await, ErrorCode::Forbidden);
    assert_code(kid.allow_contact("kid", "pal", true).await, ErrorCode::Forbidden);
    assert_code(mum.allow_contact("pal", "mum", true).await, ErrorCode::Forbidden);
    assert_code(admin.allow_contact("pal", "mum", true).await, ErrorCode::NotFound);

    // Moving the supervision to another guardian: the former one no longer looks after.
    let info = admin.supervise("kid", "pal").await.expect("moved");
    assert_eq!(info.guardian.as_deref(), Some("pal"));
    assert_code(mum.allow_contact("kid", "mum", true).await, ErrorCode::Forbidden);
    pal.allow_contact("kid", "mum", true).await.expect("the new guardian does");
    admin.unsupervise("kid").await.expect("an admin ends it");
    assert_code(admin.unsupervise("kid").await, ErrorCode::NotFound);
}

#[tokio::test]
async fn guardians_look_after_from_the_command_line() {
    let server = TestServer::start().await;
    let _admin = server.admin().await;
    let _kid = server.member("kid").await;
    let _mum = server.member("mum").await;
    let _pal = server.member("pal").await;
    let run = |user: &'static str, args: &'static [&'static str]| {
        let password = if user == "chatter" { ADMIN_PASSWORD } else { MEMBER_PASSWORD };
        itc_as(&server, user, password, args)
    };
    let ok = |(ok, stdout, stderr): (bool, String, String)| {
        assert!(ok, "{stderr}");
        stdout
    };

    let (refused, _, stderr) = run("pal", &["admin", "supervise", "kid", "--guardian", "pal"]).await;
    assert!(!refused && stderr.contains("cannot supervise"), "{stderr}");
    let shown = ok(run("chatter", &["admin", "supervise", "kid", "--guardian", "mum"]).await);
    assert!(shown.starts_with("kid is supervised by mum\n"), "{shown}");
    let shown = ok(run("mum", &["admin", "allow-contact", "kid", "pal"]).await);
    assert!(shown.contains("contacts: pal\n"), "{shown}");
    let shown = ok(run("mum", &["admin", "quiet-hours", "kid", "20:30", "07:00"]).await);
    assert!(shown.contains("quiet hours: 20:30 to 07:00 UTC"), "{shown}");
    let (refused, _, stderr) = run("mum", &["admin", "quiet-hours", "kid", "25:00", "07:00"]).await;
    assert!(!refused && stderr.contains("not a time of day"), "{stderr}");
    let shown = ok(run("kid", &["admin", "supervision"]).await);
    assert!(shown.starts_with("kid is supervised by mum\ncontacts: pal\nquiet hours: 20:30 to 07:00 UTC"), "{shown}");
    let shown = ok(run("mum", &["admin", "allow-contact", "kid", "pal", "--remove"]).await);
    assert!(shown.contains("contacts: (none)\n"), "{shown}");
    let shown = ok(run("mum", &["admin", "quiet-hours", "kid", "--clear"]).await);
    assert!(shown.contains("quiet hours: none"), "{shown}");
    assert_eq!(ok(run("mum", &["admin", "unsupervise", "kid"]).await), "kid is no longer supervised\n");
    let (refused, _, stderr) = run("kid", &["admin", "supervision"]).await;
    assert!(!refused && stderr.contains("not supervised"), "{stderr}");
}
