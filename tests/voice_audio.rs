//! Real speech through a real call: espeak-ng speaks a sentence, sox resamples it to 48 kHz,
//! one `itc voice play` process speaks it into a voice channel (Opus, SFrame, relay), another
//! `itc voice record` process records what it hears, and the recording must match the original
//! (aligned cross-correlation ≥ 0.9). A member of another channel records nothing.

mod common;

use common::{client_binary, run_bounded, spawn_until_ready, write_config, ServerProcess};
use iptincan::client::audio::read_wav;
use iptincan::client::Client;
use iptincan::proto::ChannelKind;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn require(tool: &str) {
    let found = Command::new(tool).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status();
    assert!(found.is_ok(), "{tool} is missing: install espeak-ng and sox (scripts/test does)");
}

fn speech(dir: &Path) -> std::path::PathBuf {
    require("espeak-ng");
    require("sox");
    let raw = dir.join("speech.wav");
    let wav = dir.join("speech48.wav");
    let sentence = "Dinner is ready. Please come downstairs, and bring the blue cups from the kitchen.";
    let (ok, _, err) = run_bounded(Command::new("espeak-ng").arg("-w").arg(&raw).arg(sentence));
    assert!(ok, "espeak-ng: {err}");
    let (ok, _, err) = run_bounded(
        Command::new("sox").arg(&raw).args(["-r", "48000", "-c", "1", "-b", "16"]).arg(&wav).args(["rate", "-v"]),
    );
    assert!(ok, "sox: {err}");
    wav
}

/// Starts `itc voice record` and waits until it has joined.
fn recorder(server: &ServerProcess, user: &str, channel: &str, out: &Path, seconds: u64) -> Child {
    let mut command = Command::new(client_binary());
    command
        .env("ITC_SERVER", &server.code)
        .env("ITC_PASSWORD", "member-password")
        .env("ITC_KNOWN_HOSTS", out.with_extension("hosts"))
        .args(["-u", user, "voice", "record", channel])
        .arg(out)
        .args(["--seconds", &seconds.to_string()]);
    spawn_until_ready(command, "recording")
}

fn wait(mut child: Child, limit: Duration) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "itc voice record failed");
            return;
        }
        assert!(started.elapsed() < limit, "itc voice record did not finish");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Normalised cross-correlation at `lag` (recorded shifted left by `lag` samples).
fn correlation_at(reference: &[i16], recorded: &[i16], lag: isize, step: usize) -> f64 {
    let (mut dot, mut energy_a, mut energy_b) = (0f64, 0f64, 0f64);
    let mut i = 0;
    while i < reference.len() {
        let j = i as isize + lag;
        if j >= 0 && (j as usize) < recorded.len() {
            let (a, b) = (f64::from(reference[i]), f64::from(recorded[j as usize]));
            dot += a * b;
            energy_a += a * a;
            energy_b += b * b;
        }
        i += step;
    }
    if energy_a == 0.0 || energy_b == 0.0 {
        return 0.0;
    }
    dot / (energy_a * energy_b).sqrt()
}

/// The best alignment within ±0.25 s: coarse on every 8th sample, then exact around the best.
fn best_correlation(reference: &[i16], recorded: &[i16]) -> f64 {
    let span = 12_000isize;
    let coarse = (-span..=span).step_by(8).max_by(|a, b| {
        correlation_at(reference, recorded, *a, 8).total_cmp(&correlation_at(reference, recorded, *b, 8))
    });
    let coarse = coarse.unwrap_or(0);
    (coarse - 8..=coarse + 8).map(|lag| correlation_at(reference, recorded, lag, 1)).fold(f64::MIN, f64::max)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speech_crosses_a_call_intact_and_nowhere_else() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reference_path = speech(dir.path());
    let reference = read_wav(&reference_path).expect("reads the speech");
    let seconds = (reference.len() as u64).div_ceil(48_000) + 4;

    let data = dir.path().join("server");
    std::fs::create_dir(&data).expect("data dir");
    write_config(&data, "", "");
    let server = ServerProcess::spawn(&data, &[]).expect("starts");
    let admin = Client::connect(&server.target(), None).await.expect("connects");
    admin.login("chatter", "chatter").await.expect("logs in");
    admin.change_password("chatter", "family-admin-pass").await.expect("changes");
    admin.create_channel("living-room", None, ChannelKind::Voice).await.expect("creates");
    admin.create_channel("kitchen", None, ChannelKind::Voice).await.expect("creates");
    for user in ["ann", "bob", "eve"] {
        let client = Client::connect(&server.target(), None).await.expect("connects");
        client.register(user, "member-password").await.expect("registers");
    }

    let heard = dir.path().join("bob.wav");
    let elsewhere = dir.path().join("eve.wav");
    let bob = recorder(&server, "bob", "living-room", &heard, seconds);
    let eve = recorder(&server, "eve", "kitchen", &elsewhere, seconds);
    let (ok, _, err) = run_bounded(
        Command::new(client_binary())
            .env("ITC_SERVER", &server.code)
            .env("ITC_PASSWORD", "member-password")
            .env("ITC_KNOWN_HOSTS", dir.path().join("ann.hosts"))
            .args(["-u", "ann", "voice", "play", "living-room"])
            .arg(&reference_path),
    );
    assert!(ok, "itc voice play: {err}");
    wait(bob, Duration::from_secs(seconds + 15));
    wait(eve, Duration::from_secs(seconds + 15));

    let recorded = read_wav(&heard).expect("bob's recording");
    assert!(recorded.len() >= reference.len() / 2, "bob heard {} of {} samples", recorded.len(), reference.len());
    let score = best_correlation(&reference, &recorded);
    println!("aligned cross-correlation of the call recording with the original: {score:.3}");
    assert!(score >= 0.9, "the speech did not survive the call: correlation {score:.3}");
    let other = read_wav(&elsewhere).expect("eve's recording");
    assert!(other.iter().all(|sample| *sample == 0), "the kitchen heard the living room");
    server.terminate();
}
