//! Real speech through a real call: espeak-ng speaks a sentence, sox resamples it to 48 kHz,
//! one `itc voice play` process speaks it into a voice channel (Opus, SFrame, relay), another
//! `itc voice record` process records what it hears, and the recording must match the original
//! (aligned cross-correlation ≥ 0.9). A member of another channel records nothing.

mod common;

use common::audio::{best_correlation, finish, recorder, speech, voice_server};
use common::{client_binary, run_bounded, MEMBER_PASSWORD};
use iptincan::client::audio::read_wav;
use std::process::Command;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speech_crosses_a_call_intact_and_nowhere_else() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reference_path = speech(dir.path());
    let reference = read_wav(&reference_path).expect("reads the speech");
    let seconds = (reference.len() as u64).div_ceil(48_000) + 4;

    let server = voice_server(dir.path(), &["living-room", "kitchen"], &["ann", "bob", "eve"]).await;

    let heard = dir.path().join("bob.wav");
    let elsewhere = dir.path().join("eve.wav");
    let bob = recorder(Command::new(client_binary()), &server.code, "bob", "living-room", &heard, seconds);
    let eve = recorder(Command::new(client_binary()), &server.code, "eve", "kitchen", &elsewhere, seconds);
    let (ok, _, err) = run_bounded(
        Command::new(client_binary())
            .env("ITC_SERVER", &server.code)
            .env("ITC_PASSWORD", MEMBER_PASSWORD)
            .env("ITC_KNOWN_HOSTS", dir.path().join("ann.hosts"))
            .args(["-u", "ann", "voice", "play", "living-room"])
            .arg(&reference_path),
    );
    assert!(ok, "itc voice play: {err}");
    finish(bob, Duration::from_secs(seconds + 15));
    finish(eve, Duration::from_secs(seconds + 15));

    let recorded = read_wav(&heard).expect("bob's recording");
    assert!(recorded.len() >= reference.len() / 2, "bob heard {} of {} samples", recorded.len(), reference.len());
    let score = best_correlation(&reference, &recorded);
    println!("aligned cross-correlation of the call recording with the original: {score:.3}");
    assert!(score >= 0.9, "the speech did not survive the call: correlation {score:.3}");
    let other = read_wav(&elsewhere).expect("eve's recording");
    assert!(other.iter().all(|sample| *sample == 0), "the kitchen heard the living room");
    server.terminate();
}
