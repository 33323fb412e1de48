//! What the network sees of a call: tshark captures the UDP traffic to and from the relay on
//! loopback while a member speaks Opus through an end-to-end encrypted call, and the capture
//! contains neither the Opus frames nor the plaintext marker the sender put in its payload.
//! Needs tshark and the right to capture (root); skips with a printed reason otherwise.

mod common;

use common::{spawn_until_ready, TestServer, WAIT};
use iptincan::client::audio::{VoiceEncoder, FRAME_SAMPLES};
use iptincan::client::call::Call;
use iptincan::media::packet::{MediaHeader, StreamKind};
use iptincan::proto::ChannelKind;
use std::process::Command;
use std::time::{Duration, Instant};

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wire_carries_neither_opus_frames_nor_plaintext() {
    let can_capture = Command::new("tshark").arg("-D").output();
    match can_capture {
        Ok(output) if output.status.success() && String::from_utf8_lossy(&output.stdout).contains("lo") => {}
        other => {
            println!("SKIPPED the_wire_carries_neither_opus_frames_nor_plaintext: tshark cannot capture on lo here ({other:?})");
            return;
        }
    }
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let channel = admin.create_channel("Living room", None, ChannelKind::Voice).await.expect("creates").id;
    let mut ann = server.member("ann").await;
    let mut bob = server.member("bob").await;
    let mut ann_call = Call::join(&ann, channel).await.expect("ann joins");
    let mut bob_call = Call::join(&bob, channel).await.expect("bob joins");
    let ann_id = ann_call.session_id();
    let started = Instant::now();
    while !bob_call.can_hear(ann_id) {
        assert!(started.elapsed() < WAIT, "keys exchanged");
        for (client, call) in [(&mut ann, &mut ann_call), (&mut bob, &mut bob_call)] {
            if let Ok(Some(event)) = tokio::time::timeout(Duration::from_millis(20), client.next_event()).await {
                call.handle(client, &event).await.expect("handles");
            }
        }
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("call.pcap");
    let udp_port = server.running().media_addr().port();
    let mut capture = Command::new("tshark");
    capture.args(["-i", "lo", "-f", &format!("udp port {udp_port}"), "-a", "duration:6", "-w"]).arg(&pcap);
    let mut tshark = spawn_until_ready(capture, "Capturing on");
    // "Capturing on" is printed just before the filter is live.
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Ann speaks a tone as Opus, then a frame holding a plaintext marker; bob hears them all.
    let mut encoder = VoiceEncoder::new().expect("encoder");
    let mut opus_frames = Vec::new();
    for frame in 0..25u32 {
        let samples: Vec<i16> = (0..FRAME_SAMPLES)
            .map(|n| ((n as f64 * 0.0577).sin() * 9000.0 + (frame as f64 * 1.3).cos() * 500.0) as i16)
            .collect();
        let packet = encoder.encode(&samples).expect("encodes");
        let header = MediaHeader { source: 0, stream: StreamKind::Voice, flags: 0, frame, fragment: 0, fragments: 1 };
        ann_call.send(header, &packet).await.expect("sends");
        opus_frames.push(packet);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let marker = b"PLAINTEXT-MARKER-7e1f-do-not-leak";
    let header = MediaHeader { source: 0, stream: StreamKind::Voice, flags: 0, frame: 25, fragment: 0, fragments: 1 };
    ann_call.send(header, marker).await.expect("sends");
    for _ in 0..26 {
        tokio::time::timeout(WAIT, bob_call.recv()).await.expect("in time").expect("bob hears");
    }

    let started = Instant::now();
    while tshark.try_wait().expect("wait").is_none() {
        assert!(started.elapsed() < WAIT, "tshark stops after its duration");
        std::thread::sleep(Duration::from_millis(50));
    }
    let captured = std::fs::read(&pcap).expect("the capture file");
    let datagrams = Command::new("tshark").arg("-r").arg(&pcap).output().expect("reads the capture");
    let listed = String::from_utf8_lossy(&datagrams.stdout).lines().count();
    assert!(listed >= 48, "the capture holds the call's traffic both ways ({listed} of 52 packets)");
    assert!(!contains(&captured, marker), "the plaintext marker crossed the wire");
    for (index, frame) in opus_frames.iter().enumerate() {
        assert!(!contains(&captured, frame), "Opus frame {index} crossed the wire readable");
    }
    let search = Command::new("tshark")
        .arg("-r")
        .arg(&pcap)
        .args(["-Y", "frame contains \"PLAINTEXT-MARKER\""])
        .output()
        .expect("filters the capture");
    assert!(String::from_utf8_lossy(&search.stdout).trim().is_empty(), "tshark finds the marker");
}
