//! The live voice path end to end through real audio devices: a headless PulseAudio with one
//! null sink per member as speaker and one whose monitor is the microphone, a server on
//! loopback, and two `itc voice talk` members (cpal → ALSA's pulse plugin → PulseAudio).
//! The issue's figures, in one run so that the measurements do not load the machine for each
//! other: espeak-ng speech played into Ann's microphone comes out of Bob's speaker intact
//! (aligned correlation ≥ 0.9) and within 150 ms (mouth to ear); the speech mixed with sox's
//! pink noise at 5 dB SNR comes out with ≥ 10 dB more SNR (noise suppression); and while Bob
//! talks, Ann's speaker leaking into her microphone at -6 dB comes back to Bob ≥ 20 dB
//! quieter with her echo cancellation on than off (ERLE). Needs root (a private PulseAudio)
//! and pulseaudio, pulseaudio-utils, libasound2-plugins, espeak-ng and sox (scripts/setup --test).
//!
//! Measured here (a 2-core machine, debug build): mouth-to-ear 97-110 ms and correlation
//! 0.93 idle, 107 ms and 0.93 with three busy processes beside it. What keeps it there is the
//! speaker queue's level control (`client::audio::play_level`); before it, a queue filled while
//! the sound server started its devices stood for the whole call (124-144 ms idle), and the
//! test failed on a loaded machine. Each run prints the audio path's counters, which say why
//! a figure is off (underruns, xruns, late or slow frames).

mod common;

use common::audio::{best_alignment, require, speech, voice_server};
use common::{client_binary, run_bounded, spawn_until_ready_with_stderr, MEMBER_PASSWORD};
use iptincan::client::audio::{read_wav, write_wav};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// A private PulseAudio daemon; stopped on drop.
struct Pulse {
    runtime: PathBuf,
    home: PathBuf,
}

impl Pulse {
    fn start(dir: &Path, sinks: &[&str]) -> Pulse {
        require("pulseaudio");
        let pulse = Pulse { runtime: dir.join("runtime"), home: dir.join("home") };
        std::fs::create_dir_all(&pulse.runtime).expect("runtime dir");
        std::fs::create_dir_all(&pulse.home).expect("home dir");
        let mut command = pulse.command("pulseaudio");
        command.args(["-n", "--daemonize=yes", "--exit-idle-time=-1"]);
        command.args(["-L", "module-native-protocol-unix"]);
        for sink in sinks {
            command.args(["-L", &format!("module-null-sink sink_name={sink} rate=48000")]);
        }
        let (ok, _, err) = run_bounded(&mut command);
        assert!(ok, "pulseaudio: {err}");
        pulse
    }

    /// `program` talking to this daemon.
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        command.env("XDG_RUNTIME_DIR", &self.runtime).env("HOME", &self.home);
        command
    }

    /// Runs `pactl` and returns what it printed.
    fn pactl(&self, args: &[&str]) -> String {
        let (ok, out, err) = run_bounded(self.command("pactl").args(args));
        assert!(ok, "pactl {args:?}: {err}");
        out
    }

    /// Plays a WAV file into `sink` to the end.
    fn play(&self, sink: &str, wav: &Path) {
        let (ok, _, err) = run_bounded(self.command("paplay").args(["-d", sink]).arg(wav));
        assert!(ok, "paplay: {err}");
    }
}

impl Drop for Pulse {
    fn drop(&mut self) {
        let _ = self.command("pactl").arg("exit").status();
    }
}

/// A running `itc voice talk`.
struct Talker {
    child: Child,
    name: String,
    stderr: Receiver<String>,
}

impl Talker {
    /// Leaves the call (Ctrl-C, so that it prints its last counters) and prints what its
    /// audio path counted: the underruns, overruns and late frames that explain a bad figure.
    fn leave(mut self) {
        let _ = Command::new("kill").args(["-INT", &self.child.id().to_string()]).status();
        let started = Instant::now();
        while self.child.try_wait().ok().flatten().is_none() && started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
        stop(std::slice::from_mut(&mut self.child));
        let health = self.stderr.try_iter().filter(|line| line.starts_with("audio health")).last();
        println!("{}: {}", self.name, health.as_deref().unwrap_or("no audio health line"));
    }
}

/// `itc voice talk` as `user` with `mic_…`/`spk_…` as its devices; `name` says which phase
/// it is for when its counters are printed.
fn talker(pulse: &Pulse, code: &str, user: &str, name: &str, dir: &Path, extra: &[&str]) -> Talker {
    let mut itc = pulse.command(client_binary());
    itc.env("ITC_SERVER", code)
        .env("ITC_PASSWORD", MEMBER_PASSWORD)
        .env("ITC_KNOWN_HOSTS", dir.join(format!("{user}.hosts")))
        .env("PULSE_SOURCE", format!("mic_{user}.monitor"))
        .env("PULSE_SINK", format!("spk_{user}"))
        .args(["-u", user, "voice", "talk", "living-room", "--seconds", "300", "--health"])
        .args(extra);
    let (child, stderr) = spawn_until_ready_with_stderr(itc, "talking in");
    Talker { child, name: name.to_owned(), stderr }
}

/// Starts recording `source` as raw 48 kHz 16-bit samples with `channels` into `path`.
fn record(pulse: &Pulse, source: &str, channels: u8, path: &Path) -> Child {
    let mut recorder = pulse.command("parec");
    recorder.args(["-d", source, "--rate", "48000", "--channels", &channels.to_string(), "--format", "s16le"]);
    recorder.stdout(std::fs::File::create(path).expect("recording file"));
    recorder.spawn().expect("parec")
}

/// Raw 16-bit samples.
fn samples(path: &Path) -> Vec<i16> {
    let bytes = std::fs::read(path).expect("reads the recording");
    bytes.chunks_exact(2).map(|pair| i16::from_le_bytes([pair[0], pair[1]])).collect()
}

/// Where `samples` first gets loud, less 0.1 s.
fn onset(samples: &[i16]) -> usize {
    samples.iter().position(|s| s.unsigned_abs() > 3000).unwrap_or(0).saturating_sub(4800)
}

/// The first field of the first line of `pactl list short …` output whose field `column` is
/// `value`.
fn first_field(listing: &str, column: usize, value: &str) -> Option<String> {
    listing
        .lines()
        .map(|line| line.split('\t').collect::<Vec<_>>())
        .find(|fields| fields.get(column) == Some(&value))
        .map(|fields| fields[0].to_owned())
}

/// Stops processes (recorders, talkers).
fn stop(children: &mut [Child]) {
    for child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn energy(samples: &[i16]) -> f64 {
    samples.iter().map(|s| f64::from(*s).powi(2)).sum()
}

/// `seconds` of sox's pink noise (the same every run: `-R`).
fn pink_noise(dir: &Path, seconds: usize) -> Vec<i16> {
    let wav = dir.join("pink.wav");
    let (ok, _, err) =
        run_bounded(Command::new("sox").args(["-R", "-n", "-r", "48000", "-c", "1", "-b", "16"]).arg(&wav).args([
            "synth",
            &seconds.to_string(),
            "pinknoise",
        ]));
    assert!(ok, "sox: {err}");
    read_wav(&wav).expect("the noise")
}

/// 20 ms frames of `track` with speech in them: more than a thousandth of the loudest's power.
fn speech_frames(track: &[i16]) -> Vec<bool> {
    let frames: Vec<f64> = track.chunks(960).map(energy).collect();
    let peak = frames.iter().copied().fold(0.0, f64::max);
    frames.iter().map(|frame| *frame > peak / 1000.0).collect()
}

/// SNR as ITU-T G.160 measures a noise suppressor: the power of `signal` in the frames where
/// the clean `track` has speech, less the noise power, over the power where `track` is silent
/// (skipping the first half second); `signal` is lined up with `track` first.
fn snr_db(track: &[i16], signal: &[i16]) -> f64 {
    let (lag, alike) = best_alignment(track, signal, 96_000);
    println!("SNR alignment: lag {lag}, correlation {alike:.3}");
    let active = speech_frames(track);
    let (mut speech, mut noise) = ((0.0, 0usize), (0.0, 0usize));
    for (i, frame) in track.chunks_exact(960).enumerate().skip(25) {
        let start = i as isize * 960 + lag;
        let Some(heard) = usize::try_from(start).ok().and_then(|start| signal.get(start..start + 960)) else {
            continue;
        };
        let sum = if active[i] {
            &mut speech
        } else if energy(frame) == 0.0 {
            &mut noise
        } else {
            continue;
        };
        *sum = (sum.0 + energy(heard), sum.1 + 1);
    }
    let (speech, noise) = (speech.0 / speech.1.max(1) as f64, noise.0 / noise.1.max(1) as f64);
    10.0 * ((speech - noise) / noise).log10()
}

/// The speech with a second of silence before it, and that mixed with pink noise at 5 dB SNR
/// (the noise power against the speech frames' power), as (clean, noisy).
fn noisy_speech(dir: &Path, speech: &[i16]) -> (Vec<i16>, Vec<i16>) {
    let mut track = vec![0i16; 48_000];
    track.extend(speech);
    track.resize(track.len().div_ceil(960) * 960, 0);
    let noise = pink_noise(dir, track.len() / 48_000 + 1);
    let active = speech_frames(&track);
    let spoken: Vec<&[i16]> = track.chunks(960).zip(&active).filter(|(_, a)| **a).map(|(f, _)| f).collect();
    let speech_power = spoken.iter().map(|f| energy(f)).sum::<f64>() / (spoken.len() * 960) as f64;
    let noise_power = energy(&noise[..track.len()]) / track.len() as f64;
    let scale = (speech_power / noise_power / 10f64.powf(0.5)).sqrt();
    let noisy = track.iter().zip(&noise).map(|(s, n)| (f64::from(*s) + f64::from(*n) * scale) as i16).collect();
    (track, noisy)
}

/// Plays `wav` into `sink` while recording Bob's speaker; returns the recording.
fn heard_by_bob(pulse: &Pulse, dir: &Path, sink: &str, wav: &Path, name: &str) -> Vec<i16> {
    let path = dir.join(format!("{name}.raw"));
    let mut recorder = [record(pulse, "spk_bob.monitor", 1, &path)];
    pulse.play(sink, wav);
    std::thread::sleep(Duration::from_secs(1));
    stop(&mut recorder);
    samples(&path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_path_meets_the_issue_figures() {
    let load = || std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average at the start: {}", load().trim());
    require("espeak-ng");
    let dir = tempfile::tempdir().expect("tempdir");
    let reference_path = speech(dir.path());
    let reference = read_wav(&reference_path).expect("speech");
    let pulse = Pulse::start(dir.path(), &["mic_ann", "spk_ann", "mic_bob", "spk_bob", "probe"]);
    let server = voice_server(dir.path(), &["living-room"], &["ann", "bob"]).await;
    let talk = |user: &str, name: &str, extra: &[&str]| talker(&pulse, &server.code, user, name, dir.path(), extra);

    let bob = talk("bob", "Bob (all phases)", &[]);
    // Noise suppression off on Ann's side for this figure: RNNoise reshapes even clean speech
    // (0.85 with it on, measured here), and this checks that the path itself is intact.
    let ann = talk("ann", "Ann (speech and latency)", &["--no-noise-suppression"]);
    // The probe hears Ann's microphone on the left and Bob's speaker on the right through
    // two equal loopbacks, so the lag between its channels is the mouth-to-ear delay.
    for (source, position) in [("mic_ann.monitor", "front-left"), ("spk_bob.monitor", "front-right")] {
        pulse.pactl(&[
            "load-module",
            "module-loopback",
            &format!("source={source}"),
            "sink=probe",
            "channels=1",
            &format!("channel_map={position}"),
            "remix=no",
            "latency_msec=20",
        ]);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let probe = dir.path().join("probe.raw");
    let mut prober = [record(&pulse, "probe.monitor", 2, &probe)];
    let heard = heard_by_bob(&pulse, dir.path(), "mic_ann", &reference_path, "heard");
    stop(&mut prober);
    let (_, score) = best_alignment(&reference, &heard, 96_000);
    println!("Bob's speaker against the speech: aligned correlation {score:.3}");
    let probe = samples(&probe);
    let (mouth, ear): (Vec<i16>, Vec<i16>) = probe.chunks_exact(2).map(|pair| (pair[0], pair[1])).unzip();
    // The first second of speech in the microphone against what the speaker played from then.
    let start = onset(&mouth);
    let (lag, alike) = best_alignment(&mouth[start..(start + 48_000).min(mouth.len())], &ear[start..], 24_000);
    let latency_ms = lag as f64 / 48.0;
    println!("mouth-to-ear latency {latency_ms:.0} ms (correlation of the first second {alike:.3})");

    // Noise suppression alone: an open microphone, no gain, no echo cancellation.
    ann.leave();
    let ann = talk("ann", "Ann (noise suppression)", &["--open-mic", "--no-auto-gain", "--no-echo-cancellation"]);
    let (track, noisy) = noisy_speech(dir.path(), &reference);
    let noisy_path = dir.path().join("noisy.wav");
    write_wav(&noisy_path, &noisy).expect("writes the noisy speech");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let suppressed = heard_by_bob(&pulse, dir.path(), "mic_ann", &noisy_path, "suppressed");
    let (snr_in, snr_out) = (snr_db(&track, &noisy), snr_db(&track, &suppressed));
    println!("noise suppression: SNR in {snr_in:.1} dB, out of Bob's speaker {snr_out:.1} dB");

    // Echo: Ann's speaker leaks into her microphone at -6 dB while Bob talks; what comes back
    // to Bob, with Ann's echo cancellation off and then on (open microphone, no gain, no noise
    // suppression, so that only the canceller differs).
    ann.leave();
    pulse.pactl(&["load-module", "module-loopback", "source=spk_ann.monitor", "sink=mic_ann", "latency_msec=30"]);
    // The leak is the only stream playing into Ann's microphone.
    let sinks = pulse.pactl(&["list", "short", "sinks"]);
    let microphone = first_field(&sinks, 1, "mic_ann").expect("Ann's microphone sink");
    let inputs = pulse.pactl(&["list", "short", "sink-inputs"]);
    let leak = first_field(&inputs, 1, &microphone).expect("the leak's sink input");
    pulse.pactl(&["set-sink-input-volume", &leak, "-6dB"]);
    let mut returned = Vec::new();
    for cancelling in [false, true] {
        let mut flags = vec!["--open-mic", "--no-auto-gain", "--no-noise-suppression"];
        if !cancelling {
            flags.push("--no-echo-cancellation");
        }
        let ann = talk("ann", &format!("Ann (echo, cancelling {cancelling})"), &flags);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let back = heard_by_bob(&pulse, dir.path(), "mic_bob", &reference_path, &format!("echo-{cancelling}"));
        ann.leave();
        // After two seconds of the canceller's adaptation, to the end of the speech.
        let span = back.get(96_000..reference.len()).unwrap_or_default();
        println!(
            "echo phase (cancelling {cancelling}): {} samples recorded, level {:.1} dBFS",
            back.len(),
            10.0 * (energy(span) / span.len().max(1) as f64 / 32768f64.powi(2)).log10()
        );
        returned.push(energy(span));
    }
    let erle = 10.0 * (returned[0] / returned[1].max(1.0)).log10();
    println!("echo cancellation: Bob's voice comes back {erle:.1} dB quieter with it on (ERLE)");
    bob.leave();
    println!("load average at the end: {}", load().trim());

    assert!(score >= 0.9, "the speech did not survive the live path: correlation {score:.3}");
    assert!(alike >= 0.8, "the probe could not line up Ann's microphone and Bob's speaker: {alike:.3}");
    assert!((0.0..=150.0).contains(&latency_ms), "mouth-to-ear latency {latency_ms:.0} ms");
    assert!((snr_in - 5.0).abs() < 0.5, "the input is at 5 dB SNR: {snr_in:.1}");
    assert!(snr_out - snr_in >= 10.0, "noise suppression gained {:.1} dB of SNR", snr_out - snr_in);
    assert!(returned[0] > 0.0, "with cancellation off, Bob heard no echo of himself");
    assert!(erle >= 20.0, "echo attenuated by only {erle:.1} dB");
    server.terminate();
}
