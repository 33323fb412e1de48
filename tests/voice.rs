//! Voice channels over the real UDP relay: media reaches the other members of the channel and
//! no one else; forged, replayed, truncated, unknown-session and wrong-address packets are
//! dropped and counted; a flood of junk or of a member's own voice does not stop a pair from talking.

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::{assert_code, next_matching, TestServer, WAIT};
use iptincan::client::call::Call;
use iptincan::client::media::MediaLink;
use iptincan::client::Client;
use iptincan::media::packet::{Direction, DropReason, Kind, MediaHeader, Session, StreamKind};
use iptincan::proto::{ChannelId, ChannelKind, ErrorCode, Event, VideoStream, VoiceSession, WrappedKeyFor};
use std::time::Duration;

fn voice_frame(frame: u32) -> MediaHeader {
    MediaHeader { source: 0, stream: StreamKind::Voice, flags: 0, frame, fragment: 0, fragments: 1 }
}

async fn join(client: &Client, channel_id: ChannelId) -> (VoiceSession, MediaLink) {
    let device_key = iptincan::e2e::DeviceKey::generate().public_base64();
    let session = client.join_voice(channel_id, &device_key).await.expect("joins");
    let link = MediaLink::open(client.host(), &session).await.expect("media link registers");
    (session, link)
}

async fn nothing_arrives(link: &mut MediaLink) -> bool {
    tokio::time::timeout(Duration::from_millis(300), link.recv()).await.is_err()
}

struct Room {
    server: TestServer,
    living_room: ChannelId,
    kitchen: ChannelId,
}

async fn room() -> Room {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let living_room = admin.create_channel("Living room", None, ChannelKind::Voice).await.expect("creates").id;
    let kitchen = admin.create_channel("Kitchen", None, ChannelKind::Voice).await.expect("creates").id;
    Room { server, living_room, kitchen }
}

/// Ann and Bob, members both in the living room, with registered media links.
struct Pair {
    ann: Client,
    bob: Client,
    ann_session: VoiceSession,
    ann_link: MediaLink,
    bob_link: MediaLink,
}

async fn pair(room: &Room) -> Pair {
    let ann = room.server.member("ann").await;
    let bob = room.server.member("bob").await;
    let (ann_session, ann_link) = join(&ann, room.living_room).await;
    let (_, bob_link) = join(&bob, room.living_room).await;
    Pair { ann, bob, ann_session, ann_link, bob_link }
}

#[tokio::test]
async fn voice_reaches_the_channel_and_no_one_else() {
    let room = room().await;
    let ann = room.server.member("ann").await;
    let mut bob = room.server.member("bob").await;
    let eve = room.server.member("eve").await;
    let (ann_session, mut ann_link) = join(&ann, room.living_room).await;
    let (_, mut bob_link) = join(&bob, room.living_room).await;
    let (_, mut eve_link) = join(&eve, room.kitchen).await;
    let announced = next_matching(&mut bob, |event| match event {
        Event::VoiceJoined { user, session_id, .. } if user.username == "ann" => Some(session_id),
        _ => None,
    })
    .await;
    assert_eq!(announced, ann_session.session_id, "others learn which media source is ann");

    for frame in 0..20u32 {
        ann_link.send(voice_frame(frame), format!("opus-{frame}").as_bytes()).await.expect("sends");
    }
    for frame in 0..20u32 {
        let (header, payload) = tokio::time::timeout(WAIT, bob_link.recv()).await.expect("in time").expect("receives");
        assert_eq!(header.source, ann_session.session_id);
        assert_eq!(header.frame, frame);
        assert_eq!(payload, format!("opus-{frame}").as_bytes());
    }
    assert!(nothing_arrives(&mut eve_link).await, "the kitchen hears nothing from the living room");
    assert!(nothing_arrives(&mut ann_link).await, "a sender does not hear itself");
    assert_eq!(room.server.running().media_forwarded(), 20);

    bob_link.send(voice_frame(0), b"reply").await.expect("sends");
    let (_, payload) = tokio::time::timeout(WAIT, ann_link.recv()).await.expect("in time").expect("receives");
    assert_eq!(payload, b"reply");

    ann.leave_voice().await.expect("leaves");
    bob_link.send(voice_frame(1), b"anyone?").await.expect("sends");
    assert!(nothing_arrives(&mut ann_link).await, "after leaving, nothing arrives");
    ann_link.send(voice_frame(21), b"ghost").await.expect("the socket still sends");
    assert!(nothing_arrives(&mut bob_link).await, "the old session is gone");

    let key = iptincan::e2e::DeviceKey::generate().public_base64();
    let refused = |result: Result<VoiceSession, iptincan::client::ClientError>| result.err().and_then(|e| e.code());
    assert_eq!(refused(ann.join_voice(ChannelId(9999), &key).await), Some(ErrorCode::NotFound));
    let general = ann.find_channel("general").await.expect("general").id;
    assert_eq!(refused(ann.join_voice(general, &key).await), Some(ErrorCode::NotFound));
    assert_eq!(refused(ann.join_voice(room.living_room, "short").await), Some(ErrorCode::InvalidArgument));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_packets_are_dropped_and_counted_and_a_flood_does_not_stop_a_pair() {
    let room = room().await;
    let Pair { ann: _ann, bob: _bob, ann_session, mut ann_link, mut bob_link } = pair(&room).await;
    let media_addr = std::net::SocketAddr::from(([127, 0, 0, 1], ann_session.udp_port));
    let attacker = tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("binds");
    let key: [u8; 32] = URL_SAFE_NO_PAD.decode(&ann_session.key).expect("base64").try_into().expect("32 bytes");

    // An attacker who even knows ann's key cannot reuse her packet numbers, and cannot send
    // media from another address.
    let mut stolen = Session::new(ann_session.session_id, &key, Direction::ToServer);
    let mut wire = Vec::new();
    stolen.seal(Kind::Keepalive, &[], &mut wire).expect("seals");
    attacker.send_to(&wire, media_addr).await.expect("sends"); // sequence 0: replayed
    for _ in 0..1000 {
        stolen.seal(Kind::Media, b"skip", &mut wire).expect("seals");
    }
    let mut plaintext = Vec::new();
    voice_frame(0).encode(b"injected", &mut plaintext);
    stolen.seal(Kind::Media, &plaintext, &mut wire).expect("seals");
    attacker.send_to(&wire, media_addr).await.expect("sends"); // wrong address
    let mut stranger = Session::new(ann_session.session_id, &[1; 32], Direction::ToServer);
    for _ in 0..2000 {
        stranger.seal(Kind::Keepalive, &[], &mut wire).expect("seals");
    }
    attacker.send_to(&wire, media_addr).await.expect("sends"); // bad tag
    let mut nobody = Session::new(ann_session.session_id ^ 0x5a5a_5a5a, &key, Direction::ToServer);
    nobody.seal(Kind::Keepalive, &[], &mut wire).expect("seals");
    attacker.send_to(&wire, media_addr).await.expect("sends"); // unknown session
    attacker.send_to(&[1, 2, 3], media_addr).await.expect("sends"); // truncated

    let expected = [
        DropReason::Replayed,
        DropReason::WrongAddress,
        DropReason::BadTag,
        DropReason::UnknownSession,
        DropReason::Truncated,
    ];
    let started = std::time::Instant::now();
    loop {
        let drops = room.server.running().media_drops();
        if expected.iter().all(|reason| drops.get(*reason) >= 1) {
            break;
        }
        assert!(started.elapsed() < WAIT, "drops counted: {drops:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(nothing_arrives(&mut bob_link).await, "nothing injected reached bob");

    // A bounded flood runs while the pair talks: junk from an attacker, and genuine voice
    // packets from cat, a member in the kitchen, each at 5,000 datagrams/s (100 times a
    // talker's rate; paced, so that it tests the relay and not the kernel's socket buffer on a
    // busy 2-core machine). The pair keeps talking.
    let cat = room.server.member("cat").await;
    let (_, mut cat_link) = join(&cat, room.kitchen).await;
    let junk = vec![0xeeu8; 200];
    let flood = tokio::spawn(async move {
        let mut pace = tokio::time::interval(Duration::from_millis(10));
        let mut frame = 0;
        for _ in 0..300 {
            pace.tick().await;
            for _ in 0..50 {
                let _ = attacker.send_to(&junk, media_addr).await;
                let _ = cat_link.send(voice_frame(frame), b"flood").await;
                frame += 1;
            }
        }
    });
    let mut heard = 0;
    for frame in 0..50u32 {
        ann_link.send(voice_frame(frame), b"still here").await.expect("sends");
        if let Ok(Ok((header, payload))) = tokio::time::timeout(Duration::from_millis(100), bob_link.recv()).await {
            assert_eq!((header.source, payload.as_slice()), (ann_session.session_id, &b"still here"[..]));
            heard += 1;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    flood.await.expect("the flood ends");
    let drops = room.server.running().media_drops();
    let (junk_dropped, over_rate) = (drops.get(DropReason::BadVersion), drops.get(DropReason::OverRate));
    println!(
        "during a flood of {junk_dropped} junk and {over_rate} over-rate datagrams bob heard {heard} of 50 frames"
    );
    assert!(junk_dropped >= 1000, "the flood overlapped the talk ({junk_dropped} junk datagrams counted)");
    assert!(over_rate >= 1000, "cat's flood was held to her budget ({over_rate} over-rate drops)");
    assert!(heard >= 45, "during the flood bob heard only {heard} of 50 frames");
}

#[tokio::test]
async fn disconnecting_ends_the_media_session_and_tells_the_channel() {
    let room = room().await;
    let Pair { ann, mut bob, ann_session, mut ann_link, mut bob_link } = pair(&room).await;
    drop(ann);
    let left = next_matching(&mut bob, |event| match event {
        Event::VoiceLeft { session_id, .. } => Some(session_id),
        _ => None,
    })
    .await;
    assert_eq!(left, ann_session.session_id);
    ann_link.send(voice_frame(0), b"from beyond").await.expect("the socket still sends");
    assert!(nothing_arrives(&mut bob_link).await);
    let started = std::time::Instant::now();
    while room.server.running().media_drops().get(DropReason::UnknownSession) == 0 {
        assert!(started.elapsed() < WAIT, "the ended session's packet was counted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Processes events on every client until `done` holds (bounded).
async fn settle(parties: &mut [(&mut Client, &mut Call)], done: impl Fn(&[(&mut Client, &mut Call)]) -> bool) {
    let started = std::time::Instant::now();
    while !done(parties) {
        assert!(started.elapsed() < WAIT, "keys were not exchanged in time");
        for (client, call) in parties.iter_mut() {
            if let Ok(Some(event)) = tokio::time::timeout(Duration::from_millis(20), client.next_event()).await {
                let handled = call.handle(client, &event).await;
                assert!(handled.is_ok(), "session {} handling {event:?}: {handled:?}", call.session_id());
            }
        }
    }
}

/// Lets in-flight key exchanges land, then handles every event already queued (bounded).
async fn drain(parties: &mut [(&mut Client, &mut Call)]) {
    tokio::time::sleep(Duration::from_millis(200)).await;
    for (client, call) in parties.iter_mut() {
        while let Ok(Some(event)) = tokio::time::timeout(Duration::from_millis(50), client.next_event()).await {
            call.handle(client, &event).await.expect("handles");
        }
    }
}

/// Calls are sealed end to end: members hear each other; what the relay handles (seen here by
/// a member who never unwraps keys, exactly as the server sees it after the hop-by-hop layer)
/// carries no plaintext; the safety numbers match; after a member leaves, keys rotate.
#[tokio::test]
async fn calls_are_end_to_end_encrypted_and_keys_rotate() {
    let room = room().await;
    let mut ann = room.server.member("ann").await;
    let mut bob = room.server.member("bob").await;
    let curious = room.server.member("curious").await;
    let mut ann_call = Call::join(&ann, room.living_room).await.expect("ann joins");
    let mut bob_call = Call::join(&bob, room.living_room).await.expect("bob joins");
    let (ann_id, bob_id) = (ann_call.session_id(), bob_call.session_id());
    {
        let mut parties = [(&mut ann, &mut ann_call), (&mut bob, &mut bob_call)];
        settle(&mut parties, |p| p[0].1.can_hear(bob_id) && p[1].1.can_hear(ann_id)).await;
    }
    assert_eq!(ann_call.safety_number(), bob_call.safety_number());

    // A member who never unwraps keys sees exactly what the relay handles.
    let (_, mut relay_view) = join(&curious, room.living_room).await;
    {
        let mut parties = [(&mut ann, &mut ann_call), (&mut bob, &mut bob_call)];
        // Both rotate for the newcomer; wait until each holds the other's newest key.
        settle(&mut parties, |p| p[0].1.can_hear(bob_id) && p[1].1.can_hear(ann_id)).await;
        drain(&mut parties).await;
    }
    assert_ne!(ann_call.safety_number(), "", "a number is shown");
    for frame in 0..10u32 {
        let marker = format!("opus-MARKER-{frame}");
        ann_call.send(voice_frame(frame), marker.as_bytes()).await.expect("sends");
        let (header, payload) = tokio::time::timeout(WAIT, bob_call.recv()).await.expect("in time").expect("bob hears");
        assert_eq!((header.source, payload.as_slice()), (ann_id, marker.as_bytes()));
        let (_, seen_by_relay) =
            tokio::time::timeout(WAIT, relay_view.recv()).await.expect("in time").expect("relayed");
        assert!(!seen_by_relay.windows(marker.len()).any(|w| w == marker.as_bytes()), "plaintext reached the relay");
        assert!(seen_by_relay.len() > marker.len(), "sealed: header and tag added");
    }

    // Bob leaves: ann drops his keys and rotates hers (the unit tests show an old key cannot
    // open frames sealed under the new one); what the relay carries stays sealed.
    bob.leave_voice().await.expect("leaves");
    let started = std::time::Instant::now();
    loop {
        assert!(started.elapsed() < WAIT, "ann saw bob leave");
        if let Ok(Some(event)) = tokio::time::timeout(Duration::from_millis(50), ann.next_event()).await {
            let left = matches!(event, Event::VoiceLeft { session_id, .. } if session_id == bob_id);
            ann_call.handle(&ann, &event).await.expect("handles");
            if left {
                break;
            }
        }
    }
    assert!(!ann_call.can_hear(bob_id), "a member who left is forgotten");
    ann_call.send(voice_frame(99), b"after bob left").await.expect("sends");
    let (_, sealed) = tokio::time::timeout(WAIT, relay_view.recv()).await.expect("in time").expect("relayed");
    assert!(!sealed.windows(14).any(|w| w == b"after bob left"));
    assert_eq!(ann_call.undecryptable(), 0);
}

#[tokio::test]
async fn deleting_a_voice_channel_ends_its_calls() {
    let room = room().await;
    let admin = room.server.admin().await;
    let Pair { ann, mut bob, ann_session, mut ann_link, mut bob_link } = pair(&room).await;
    admin.delete_channel(room.living_room).await.expect("deletes");
    let mut left = Vec::new();
    while left.len() < 2 {
        left.push(
            next_matching(&mut bob, |event| match event {
                Event::VoiceLeft { session_id, .. } => Some(session_id),
                _ => None,
            })
            .await,
        );
    }
    assert!(left.contains(&ann_session.session_id), "{left:?}");
    ann_link.send(voice_frame(0), b"still there?").await.expect("the socket still sends");
    assert!(nothing_arrives(&mut bob_link).await, "the deleted channel relays nothing");

    // Ann's session ended with the channel: she has no key to share, to no one.
    let bob_session = left.into_iter().find(|id| *id != ann_session.session_id).expect("bob's session ended too");
    let key_id = u64::from(ann_session.session_id) << 16;
    let copy = WrappedKeyFor { session_id: bob_session, enc: "AAAA".into(), ciphertext: "AAAA".into() };
    for wrapped in [vec![], vec![copy]] {
        assert_code(ann.share_media_key(key_id, wrapped).await, ErrorCode::NotAllowedNow);
    }
}

#[tokio::test]
async fn mute_deafen_and_server_mute_are_enforced_by_the_relay() {
    let room = room().await;
    let admin = room.server.admin().await;
    let Pair { ann, mut bob, ann_session, mut ann_link, mut bob_link } = pair(&room).await;

    bob.set_voice_state(false, true).await.expect("deafens");
    let state = next_matching(&mut bob, |event| match event {
        Event::VoiceState { self_deafened: true, .. } => Some(()),
        _ => None,
    })
    .await;
    assert_eq!(state, ());
    ann_link.send(voice_frame(0), b"can you hear me").await.expect("sends");
    assert!(nothing_arrives(&mut bob_link).await, "deafened: nothing reaches bob");

    bob.set_voice_state(false, false).await.expect("undeafens");
    ann.set_voice_state(true, false).await.expect("mutes");
    ann_link.send(voice_frame(1), b"muted words").await.expect("the socket still sends");
    assert!(nothing_arrives(&mut bob_link).await, "muted: the relay forwards nothing from ann");

    ann.set_voice_state(false, false).await.expect("unmutes");
    ann_link.send(voice_frame(2), b"back").await.expect("sends");
    let (header, payload) = tokio::time::timeout(WAIT, bob_link.recv()).await.expect("in time").expect("receives");
    assert_eq!((header.source, payload.as_slice()), (ann_session.session_id, &b"back"[..]));

    let refused = bob.server_mute("ann", true).await.err().and_then(|e| e.code());
    assert_eq!(refused, Some(ErrorCode::Forbidden), "members cannot mute others");
    admin.server_mute("ann", true).await.expect("admin mutes ann");
    ann_link.send(voice_frame(3), b"silenced").await.expect("the socket still sends");
    assert!(nothing_arrives(&mut bob_link).await, "server-muted");
    ann.set_voice_state(false, false).await.expect("self-unmute does not lift a server mute");
    ann_link.send(voice_frame(4), b"still silenced").await.expect("sends");
    assert!(nothing_arrives(&mut bob_link).await);
    admin.server_mute("ann", false).await.expect("admin unmutes");
    ann_link.send(voice_frame(5), b"free").await.expect("sends");
    let (_, payload) = tokio::time::timeout(WAIT, bob_link.recv()).await.expect("in time").expect("receives");
    assert_eq!(payload, b"free");
    let absent = admin.server_mute("nobody", true).await.err().and_then(|e| e.code());
    assert_eq!(absent, Some(ErrorCode::NotFound));
}

#[tokio::test]
async fn direct_conversations_are_one_to_one_calls() {
    let room = room().await;
    let ann = room.server.member("ann").await;
    let bob = room.server.member("bob").await;
    let mut eve = room.server.member("eve").await;
    let direct = ann.open_direct("bob").await.expect("opens").id;
    let (ann_session, mut ann_link) = join(&ann, direct).await;
    let (_, mut bob_link) = join(&bob, direct).await;
    let key = iptincan::e2e::DeviceKey::generate().public_base64();
    let refused = eve.join_voice(direct, &key).await.err().and_then(|e| e.code());
    assert_eq!(refused, Some(ErrorCode::NotFound), "a third person cannot join a 1:1 call");
    ann_link.send(voice_frame(0), b"just us").await.expect("sends");
    let (header, payload) = tokio::time::timeout(WAIT, bob_link.recv()).await.expect("in time").expect("receives");
    assert_eq!((header.source, payload.as_slice()), (ann_session.session_id, &b"just us"[..]));
    let deadline = tokio::time::Instant::now() + Duration::from_millis(300);
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, eve.next_event()).await {
        let about_the_call =
            matches!(event, Event::VoiceJoined { .. } | Event::VoiceLeft { .. } | Event::VoiceState { .. });
        assert!(!about_the_call, "a third person learns nothing of a 1:1 call: {event:?}");
    }
}

#[tokio::test]
async fn talking_indicators_follow_the_packet_flow() {
    let room = room().await;
    let Pair { ann: _ann, mut bob, ann_session, mut ann_link, bob_link: _bob_link } = pair(&room).await;
    for frame in 0..5u32 {
        ann_link.send(voice_frame(frame), b"la la").await.expect("sends");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let talking = next_matching(&mut bob, |event| match event {
            Event::Talking { session_id, talking, .. } if session_id == ann_session.session_id => Some(talking),
            _ => None,
        })
        .await;
        seen.push(talking);
    }
    assert_eq!(seen, [true, false], "ann lit up while sending, then went quiet");
}

/// Video: a large frame is fragmented, relayed only to a subscriber, reassembled exactly and
/// opened end to end; keyframe requests reach the sender; the 9th video sender is refused.
#[tokio::test]
async fn video_frames_reach_subscribers_only_and_senders_are_capped() {
    use iptincan::client::call::Received;
    let room = room().await;
    let mut ann = room.server.member("ann").await;
    let mut bob = room.server.member("bob").await;
    let mut eve = room.server.member("eve").await;
    let mut ann_call = Call::join(&ann, room.living_room).await.expect("ann joins");
    let mut bob_call = Call::join(&bob, room.living_room).await.expect("bob joins");
    let mut eve_call = Call::join(&eve, room.living_room).await.expect("eve joins");
    let ann_id = ann_call.session_id();
    {
        let mut parties = [(&mut ann, &mut ann_call), (&mut bob, &mut bob_call), (&mut eve, &mut eve_call)];
        settle(&mut parties, |p| p[1].1.can_hear(ann_id) && p[2].1.can_hear(ann_id)).await;
        drain(&mut parties).await;
    }

    ann.set_video(VideoStream::Screen, true).await.expect("starts screen share");
    bob.watch_video(ann_id, VideoStream::Screen, true).await.expect("bob watches");
    let frame: Vec<u8> = (0..100_000u32).map(|n| (n.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    ann_call.send_video(VideoStream::Screen, 7, true, &frame).await.expect("sends a 100 kB frame");
    match tokio::time::timeout(WAIT, bob_call.receive()).await.expect("in time").expect("receives") {
        Received::Video { source, stream, frame: number, keyframe, data } => {
            assert_eq!((source, stream, number, keyframe), (ann_id, VideoStream::Screen, 7, true));
            assert_eq!(data, frame, "reassembled exactly");
        }
        other => panic!("expected video, got {other:?}"),
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(300), eve_call.receive()).await.is_err(),
        "eve did not subscribe"
    );

    let bob_id = bob_call.session_id();
    bob.request_keyframe(ann_id, VideoStream::Screen).await.expect("asks");
    let asked = next_matching(&mut ann, |event| match event {
        Event::KeyframeRequested { from_session, stream } => Some((from_session, stream)),
        _ => None,
    })
    .await;
    assert_eq!(asked, (bob_id, VideoStream::Screen));
    bob.report_bandwidth(ann_id, VideoStream::Screen, 800).await.expect("reports");
    let reported = next_matching(&mut ann, |event| match event {
        Event::BandwidthReport { kbps, .. } => Some(kbps),
        _ => None,
    })
    .await;
    assert_eq!(reported, 800);

    // Ann shares her screen; seven more members turn cameras on (eight senders); the ninth is
    // refused with a clear error.
    let mut cameras = Vec::new();
    for n in 0..7 {
        let member = room.server.member(&format!("cam{n}")).await;
        let key = iptincan::e2e::DeviceKey::generate().public_base64();
        member.join_voice(room.living_room, &key).await.expect("joins");
        member.set_video(VideoStream::Camera, true).await.expect("room for a video sender");
        cameras.push(member);
    }
    let ninth = room.server.member("ninth").await;
    let key = iptincan::e2e::DeviceKey::generate().public_base64();
    ninth.join_voice(room.living_room, &key).await.expect("joins");
    match ninth.set_video(VideoStream::Camera, true).await {
        Err(err) => {
            assert_eq!(err.code(), Some(ErrorCode::LimitReached));
            assert!(err.to_string().contains("8 video senders"), "{err}");
        }
        Ok(()) => panic!("a ninth video sender was let in"),
    }
}

/// `server.max_video_senders` sets the cap: with 2, the third member's camera is refused while
/// the first two may still add their screens.
#[tokio::test]
async fn the_video_sender_cap_follows_the_configuration() {
    let server = TestServer::start_with(|config| config.server.max_video_senders = 2).await;
    let admin = server.admin().await;
    let channel = admin.create_channel("Den", None, ChannelKind::Voice).await.expect("creates").id;
    let mut senders = Vec::new();
    for name in ["ann", "bob", "cat"] {
        let member = server.member(name).await;
        let key = iptincan::e2e::DeviceKey::generate().public_base64();
        member.join_voice(channel, &key).await.expect("joins");
        senders.push(member);
    }
    senders[0].set_video(VideoStream::Camera, true).await.expect("first sender");
    senders[1].set_video(VideoStream::Camera, true).await.expect("second sender");
    let refused = senders[2].set_video(VideoStream::Camera, true).await.expect_err("a third is refused");
    assert_eq!(refused.code(), Some(ErrorCode::LimitReached));
    assert!(refused.to_string().contains("maximum of 2 video senders"), "{refused}");
    senders[1].set_video(VideoStream::Screen, true).await.expect("a sender may add its screen");
    senders[0].set_video(VideoStream::Camera, false).await.expect("stops");
    senders[2].set_video(VideoStream::Camera, true).await.expect("room again once one stopped");
}

/// An admin moves a member to another voice channel: the member's call rejoins there with
/// fresh keys; the old channel no longer reaches them, the new one does.
#[tokio::test]
async fn an_admin_moves_a_member_to_another_channel() {
    let room = room().await;
    let admin = room.server.admin().await;
    let mut ann = room.server.member("ann").await;
    let mut bob = room.server.member("bob").await;
    let mut cook = room.server.member("cook").await;
    let mut ann_call = Call::join(&ann, room.living_room).await.expect("ann joins");
    let mut bob_call = Call::join(&bob, room.living_room).await.expect("bob joins");
    let mut cook_call = Call::join(&cook, room.kitchen).await.expect("cook joins");

    assert_eq!(bob.move_voice("ann", room.kitchen).await.err().and_then(|e| e.code()), Some(ErrorCode::Forbidden));
    admin.move_voice("bob", room.kitchen).await.expect("moves bob");
    let cook_id = cook_call.session_id();
    {
        let mut parties = [(&mut ann, &mut ann_call), (&mut bob, &mut bob_call), (&mut cook, &mut cook_call)];
        settle(&mut parties, |p| p[1].1.channel_id() == room.kitchen && p[1].1.can_hear(cook_id)).await;
        let bob_id = parties[1].1.session_id();
        settle(&mut parties, |p| p[2].1.can_hear(bob_id)).await;
    }
    assert_eq!(bob_call.channel_id(), room.kitchen);
    cook_call.send(voice_frame(0), b"dinner?").await.expect("sends");
    let (_, payload) =
        tokio::time::timeout(WAIT, bob_call.recv()).await.expect("in time").expect("bob hears the kitchen");
    assert_eq!(payload, b"dinner?");
    ann_call.send(voice_frame(0), b"hello living room").await.expect("sends");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), bob_call.recv()).await.is_err(),
        "bob left the living room"
    );
    let refused = admin.move_voice("nobody", room.kitchen).await.err().and_then(|e| e.code());
    assert_eq!(refused, Some(ErrorCode::NotFound));
}
