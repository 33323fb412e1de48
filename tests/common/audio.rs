//! Audio for the call tests: a server with voice channels and members, a spoken sentence made
//! with espeak-ng and sox, and the aligned cross-correlation of a recording with the original.

use super::{run_bounded, spawn_until_ready, write_config, ServerProcess, ADMIN_PASSWORD, MEMBER_PASSWORD};
use iptincan::client::Client;
use iptincan::proto::ChannelKind;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The real server in `dir/server` with an admin (who made the voice `channels`) and the
/// `members`, registered with [`MEMBER_PASSWORD`].
pub async fn voice_server(dir: &Path, channels: &[&str], members: &[&str]) -> ServerProcess {
    let data = dir.join("server");
    std::fs::create_dir(&data).expect("data dir");
    write_config(&data, "", "");
    let server = ServerProcess::spawn(&data, &[]).expect("starts");
    let admin = Client::connect(&server.target(), None).await.expect("connects");
    admin.login("chatter", "chatter").await.expect("logs in");
    admin.change_password("chatter", ADMIN_PASSWORD).await.expect("changes");
    for channel in channels {
        admin.create_channel(channel, None, ChannelKind::Voice).await.expect("creates");
    }
    for user in members {
        let client = Client::connect(&server.target(), None).await.expect("connects");
        client.register(user, MEMBER_PASSWORD).await.expect("registers");
    }
    server
}

/// Fails the test with a hint when `tool` is not installed.
pub fn require(tool: &str) {
    let found = Command::new(tool).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status();
    assert!(found.is_ok(), "{tool} is missing: install espeak-ng and sox (scripts/test does)");
}

/// A spoken sentence (espeak-ng), resampled to 48 kHz mono 16-bit, as a WAV file in `dir`.
pub fn speech(dir: &Path) -> std::path::PathBuf {
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
pub fn best_correlation(reference: &[i16], recorded: &[i16]) -> f64 {
    best_alignment(reference, recorded, 12_000).1
}

/// The lag (samples `recorded` is behind `reference`, within ±`span`) with the best
/// correlation, and that correlation.
pub fn best_alignment(reference: &[i16], recorded: &[i16], span: isize) -> (isize, f64) {
    let coarse = (-span..=span).step_by(8).max_by(|a, b| {
        correlation_at(reference, recorded, *a, 8).total_cmp(&correlation_at(reference, recorded, *b, 8))
    });
    let coarse = coarse.unwrap_or(0);
    (coarse - 8..=coarse + 8)
        .map(|lag| (lag, correlation_at(reference, recorded, lag, 1)))
        .fold((0, f64::MIN), |best, next| if next.1 > best.1 { next } else { best })
}

/// Starts `itc voice record` (`itc` is the program to run, e.g. inside a namespace) as `user`
/// with the members' password, and waits until it has joined.
pub fn recorder(mut itc: Command, code: &str, user: &str, channel: &str, out: &Path, seconds: u64) -> Child {
    itc.env("ITC_SERVER", code)
        .env("ITC_PASSWORD", MEMBER_PASSWORD)
        .env("ITC_KNOWN_HOSTS", out.with_extension("hosts"))
        .args(["-u", user, "voice", "record", channel])
        .arg(out)
        .args(["--seconds", &seconds.to_string()]);
    spawn_until_ready(itc, "recording")
}

/// Waits (at most `limit`) for a recorder to finish; it must succeed.
pub fn finish(mut child: Child, limit: Duration) {
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
