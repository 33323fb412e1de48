//! The microphone chain, sans-IO: 20 ms frames of 48 kHz mono in (the microphone's frame and
//! the far-end frame being played, as the echo reference), a processed frame out, with its
//! level for a meter and whether this member is talking.
//!
//! Stages, in order, each switchable while running: input volume; a high-pass filter and
//! acoustic echo cancellation (`aec3`, a pure Rust port of WebRTC's AEC3); noise suppression
//! (WebRTC's suppressor from `aec3`, then RNNoise from `nnnoiseless`); automatic gain; and the gate: voice activation by a level
//! threshold (with a short hang-over so words are not clipped), or push-to-talk. Noise
//! suppression, echo cancellation, gain and voice activation are on by default. Samples are
//! floats in [-1, 1].

use super::{AudioError, FRAME_SAMPLES, SAMPLE_RATE};
use aec3::audio_processing::ns::{NsConfig, SuppressionLevel};
use aec3::graph::NodeControlState;
use aec3::nodes::audio::AudioFormat;
use aec3::pipelines::linear::{self, LinearPipeline};
use nnnoiseless::DenoiseState;

/// Samples in the 10 ms blocks the echo canceller and the noise suppressor work on.
const BLOCK: usize = FRAME_SAMPLES / 2;
/// Level reported for digital silence.
pub const SILENCE_DBFS: f32 = -100.0;
/// Frames the gate stays open after the level falls below the threshold (300 ms).
const HANG_OVER_FRAMES: u32 = 15;
/// The automatic gain's target speech level.
const AGC_TARGET_DBFS: f32 = -20.0;
/// The automatic gain's range.
const AGC_MIN_DB: f32 = -10.0;
const AGC_MAX_DB: f32 = 20.0;
/// The highest peak the automatic gain makes.
const AGC_PEAK: f32 = 0.9;
/// How far the gain moves per talking frame (6 dB/s up, 30 dB/s down).
const AGC_UP_DB: f32 = 0.12;
const AGC_DOWN_DB: f32 = 0.6;

/// The chain's switches and settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Acoustic echo cancellation.
    pub echo_cancellation: bool,
    /// Noise suppression.
    pub noise_suppression: bool,
    /// Automatic gain.
    pub auto_gain: bool,
    /// Voice activation: send only while the level is above [`Settings::threshold_dbfs`].
    /// Off means open mic, unless push-to-talk is on.
    pub voice_activation: bool,
    /// Push-to-talk: send only while the caller says the key is pressed.
    pub push_to_talk: bool,
    /// The voice-activation threshold in dBFS (after processing).
    pub threshold_dbfs: f32,
    /// Input volume, a linear factor (1.0 unchanged; 0 to 4).
    pub input_volume: f32,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            echo_cancellation: true,
            noise_suppression: true,
            auto_gain: true,
            voice_activation: true,
            push_to_talk: false,
            threshold_dbfs: -50.0,
            input_volume: 1.0,
        }
    }
}

/// What the chain says about one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Analysis {
    /// The frame's RMS level in dBFS after echo cancellation and noise suppression, before
    /// gain: what the voice-activation threshold is compared with, for the level meter.
    pub level_dbfs: f32,
    /// Whether this frame is sent: the gate is open (or push-to-talk is pressed).
    pub talking: bool,
}

/// The chain's state: echo canceller, noise suppressor, gain and gate.
pub struct Processor {
    settings: Settings,
    pipeline: LinearPipeline,
    denoise: Box<DenoiseState<'static>>,
    scratch: Vec<f32>,
    gain_db: f32,
    hang_over: u32,
    pressed: bool,
}

impl std::fmt::Debug for Processor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Processor").field("settings", &self.settings).field("gain_db", &self.gain_db).finish()
    }
}

fn processing_error(err: impl std::fmt::Display) -> AudioError {
    AudioError::Processing(err.to_string())
}

/// The RMS level of `samples` in dBFS.
pub fn level_dbfs(samples: &[f32]) -> f32 {
    let energy = samples.iter().map(|s| s * s).sum::<f32>() / samples.len().max(1) as f32;
    if energy <= 0.0 {
        return SILENCE_DBFS;
    }
    (10.0 * energy.log10()).max(SILENCE_DBFS)
}

impl Processor {
    /// A chain with `settings`.
    pub fn new(settings: Settings) -> Result<Processor, AudioError> {
        let format = AudioFormat::ten_ms(SAMPLE_RATE, 1);
        let pipeline = linear::builder(format, format)
            .noise_suppression_config(NsConfig { target_level: SuppressionLevel::K12dB, ..NsConfig::default() })
            .enable_gain_controller2(false)
            .enable_post_filter(false)
            .build()
            .map_err(processing_error)?;
        let mut processor = Processor {
            settings,
            pipeline,
            denoise: DenoiseState::new(),
            scratch: vec![0.0; BLOCK],
            gain_db: 0.0,
            hang_over: 0,
            pressed: false,
        };
        processor.set(settings)?;
        Ok(processor)
    }

    /// The current settings.
    pub fn settings(&self) -> Settings {
        self.settings
    }

    /// Changes the settings; takes effect with the next frame.
    pub fn set(&mut self, settings: Settings) -> Result<(), AudioError> {
        let state = if settings.echo_cancellation { NodeControlState::Active } else { NodeControlState::Bypassed };
        let node = self.pipeline.handles().aec3.node_id();
        self.pipeline.set_node_state(node, state).map_err(processing_error)?;
        if let Some(ns) = self.pipeline.handles().noise_suppression {
            let state = if settings.noise_suppression { NodeControlState::Active } else { NodeControlState::Bypassed };
            self.pipeline.set_node_state(ns.node_id(), state).map_err(processing_error)?;
        }
        self.settings = Settings { input_volume: settings.input_volume.clamp(0.0, 4.0), ..settings };
        Ok(())
    }

    /// Sets whether the push-to-talk key is held.
    pub fn set_pressed(&mut self, pressed: bool) {
        self.pressed = pressed;
    }

    /// Processes one microphone frame in place. `far_end` is what the speaker played for the
    /// same 20 ms (the echo reference); both are [`FRAME_SAMPLES`] long.
    pub fn process(&mut self, mic: &mut [f32], far_end: &[f32]) -> Result<Analysis, AudioError> {
        if mic.len() != FRAME_SAMPLES || far_end.len() != FRAME_SAMPLES {
            return Err(AudioError::Processing(format!("a frame is {FRAME_SAMPLES} samples")));
        }
        let volume = self.settings.input_volume;
        mic.iter_mut().for_each(|s| *s *= volume);
        for (block, reference) in mic.chunks_mut(BLOCK).zip(far_end.chunks(BLOCK)) {
            self.pipeline.handle_render_frame(reference).map_err(processing_error)?;
            self.scratch.copy_from_slice(block);
            self.pipeline.process_capture_frame(&self.scratch, block).map_err(processing_error)?;
            if self.settings.noise_suppression {
                // RNNoise works on 16-bit-scaled floats.
                self.scratch.iter_mut().zip(block.iter()).for_each(|(s, b)| *s = b * 32_768.0);
                self.denoise.process_frame(block, &self.scratch);
                block.iter_mut().for_each(|s| *s /= 32_768.0);
            }
        }
        let level = level_dbfs(mic);
        let open = self.gate(level);
        if self.settings.auto_gain {
            self.auto_gain(mic, level);
        }
        let talking = if self.settings.push_to_talk { self.pressed } else { open };
        if !talking {
            mic.fill(0.0);
        }
        Ok(Analysis { level_dbfs: level, talking })
    }

    /// Moves the gain towards the target level while there is speech (a level above the
    /// threshold), never so far that the frame would clip.
    fn auto_gain(&mut self, frame: &mut [f32], level: f32) {
        if level >= self.settings.threshold_dbfs {
            let wanted = (AGC_TARGET_DBFS - level).clamp(AGC_MIN_DB, AGC_MAX_DB);
            self.gain_db += (wanted - self.gain_db).clamp(-AGC_DOWN_DB, AGC_UP_DB);
        }
        let peak = frame.iter().fold(0.0f32, |peak, s| peak.max(s.abs()));
        if peak > 0.0 {
            self.gain_db = self.gain_db.min(20.0 * (AGC_PEAK / peak).log10());
        }
        let gain = 10f32.powf(self.gain_db / 20.0);
        frame.iter_mut().for_each(|s| *s *= gain);
    }

    /// Voice activation on the level before gain (so the gain cannot open the gate on noise).
    fn gate(&mut self, level: f32) -> bool {
        if !self.settings.voice_activation {
            return true;
        }
        if level >= self.settings.threshold_dbfs {
            self.hang_over = HANG_OVER_FRAMES;
            return true;
        }
        if self.hang_over > 0 {
            self.hang_over -= 1;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    //! The issue's figures on real speech: espeak-ng sentences and sox's pink noise, made by
    //! the test (scripts/setup --test installs both).
    use super::*;
    use std::path::Path;
    use std::process::Command;

    fn run(command: &mut Command) {
        let output =
            command.output().unwrap_or_else(|err| panic!("{command:?}: {err} (scripts/setup --test installs it)"));
        assert!(output.status.success(), "{command:?}: {}", String::from_utf8_lossy(&output.stderr));
    }

    fn read(path: &Path) -> Vec<f32> {
        super::super::to_float(&super::super::read_wav(path).expect("48 kHz WAV"))
    }

    /// A sentence spoken by espeak-ng with `voice`, at 48 kHz.
    fn speech(dir: &Path, voice: &str, text: &str) -> Vec<f32> {
        let (raw, wav) = (dir.join(format!("{voice}.raw.wav")), dir.join(format!("{voice}.wav")));
        run(Command::new("espeak-ng").args(["-v", voice, "-w"]).arg(&raw).arg(text));
        run(Command::new("sox").arg(&raw).args(["-r", "48000", "-c", "1", "-b", "16"]).arg(&wav).args(["rate", "-v"]));
        read(&wav)
    }

    /// `seconds` of sox's pink noise.
    fn pink_noise(dir: &Path, seconds: usize) -> Vec<f32> {
        let wav = dir.join("pink.wav");
        // `-R`: sox seeds its generator with a fixed number, so every run mixes the same noise.
        run(Command::new("sox").args(["-R", "-n", "-r", "48000", "-c", "1", "-b", "16"]).arg(&wav).args([
            "synth",
            &seconds.to_string(),
            "pinknoise",
        ]));
        read(&wav)
    }

    fn energy(samples: &[f32]) -> f64 {
        samples.iter().map(|s| f64::from(*s).powi(2)).sum()
    }

    fn scaled(samples: &[f32], factor: f64) -> Vec<f32> {
        samples.iter().map(|s| (f64::from(*s) * factor) as f32).collect()
    }

    /// Runs `mic` (with `far_end` as the reference) through a chain with `settings`.
    fn process(settings: Settings, mic: &[f32], far_end: &[f32]) -> Vec<f32> {
        let mut processor = Processor::new(settings).expect("chain");
        let mut out = Vec::with_capacity(mic.len());
        for (frame, reference) in mic.chunks_exact(FRAME_SAMPLES).zip(far_end.chunks_exact(FRAME_SAMPLES)) {
            let mut frame = frame.to_vec();
            processor.process(&mut frame, reference).expect("processes");
            out.extend(frame);
        }
        out
    }

    /// The lag (0..=`max`) at which `output` best matches `reference`.
    fn delay(reference: &[f32], output: &[f32], max: usize) -> usize {
        let score = |lag: usize| -> f32 { reference.iter().zip(&output[lag..]).map(|(a, b)| a * b).sum() };
        (0..=max).max_by(|a, b| score(*a).total_cmp(&score(*b))).unwrap_or(0)
    }

    /// SNR the way ITU-T G.160 measures a noise suppressor's SNR improvement: the signal's
    /// power in the frames where the clean `speech` is active, less the noise power, over the
    /// noise power in the frames where it is silent (skipping the first `settle` samples).
    /// `signal` is aligned to `speech` first (the chain delays it a little).
    fn snr_db(speech: &[f32], signal: &[f32], settle: usize) -> f64 {
        let lag = delay(&speech[settle..settle + SAMPLE_RATE as usize], &signal[settle..], 2 * FRAME_SAMPLES);
        let frames = (signal.len() - lag) / FRAME_SAMPLES;
        let power = |samples: &[f32]| energy(samples) / samples.len() as f64;
        let clean: Vec<f64> = (0..frames).map(|i| power(&speech[i * FRAME_SAMPLES..][..FRAME_SAMPLES])).collect();
        let peak = clean.iter().copied().fold(0.0, f64::max);
        let (mut active, mut quiet) = (Vec::new(), Vec::new());
        for (i, clean) in clean.iter().enumerate() {
            let heard = power(&signal[lag + i * FRAME_SAMPLES..][..FRAME_SAMPLES]);
            if *clean > peak / 1000.0 {
                active.push(heard);
            } else if *clean == 0.0 && i * FRAME_SAMPLES >= settle {
                quiet.push(heard);
            }
        }
        let mean = |values: &[f64]| values.iter().sum::<f64>() / values.len().max(1) as f64;
        let noise = mean(&quiet);
        10.0 * ((mean(&active) - noise) / noise).log10()
    }

    const FAR: &str = "Dinner is ready. Please come downstairs, and bring the blue cups from the kitchen. \
                       Grandma is calling at seven, so do not be late.";
    const NEAR: &str = "I am coming now, but the cups are still in the dishwasher. Give me one more minute.";

    fn measuring() -> Settings {
        Settings {
            echo_cancellation: false,
            noise_suppression: false,
            auto_gain: false,
            voice_activation: false,
            ..Settings::default()
        }
    }

    #[test]
    fn noise_suppression_gains_ten_db_of_snr_at_five_db() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A second of noise first, as when a call starts.
        let lead_in = SAMPLE_RATE as usize;
        let mut speech_track = vec![0.0; lead_in];
        speech_track.extend(speech(dir.path(), "en", FAR));
        speech_track.resize(speech_track.len().div_ceil(FRAME_SAMPLES) * FRAME_SAMPLES, 0.0);
        let noise = pink_noise(dir.path(), speech_track.len() / SAMPLE_RATE as usize + 1);
        let noise = &noise[..speech_track.len()];
        let silence = vec![0.0; speech_track.len()];
        let mix = |noise: &[f32]| -> Vec<f32> { speech_track.iter().zip(noise).map(|(s, n)| s + n).collect() };
        // Scale the noise to 5 dB SNR.
        let settle = SAMPLE_RATE as usize / 2;
        let peak = speech_track.chunks(FRAME_SAMPLES).map(energy).fold(0.0, f64::max);
        let active = speech_track.chunks(FRAME_SAMPLES).filter(|frame| energy(frame) > peak / 1000.0);
        let (frames, speech_energy) = active.fold((0, 0.0), |(n, sum), frame| (n + 1, sum + energy(frame)));
        let speech_power = speech_energy / (frames * FRAME_SAMPLES) as f64;
        let noise_power = energy(noise) / noise.len() as f64;
        let mic = mix(&scaled(noise, (speech_power / noise_power / 10f64.powf(0.5)).sqrt()));
        let snr_in = snr_db(&speech_track, &mic, settle);
        let plain = process(measuring(), &mic, &silence);
        let suppressed = process(Settings { noise_suppression: true, ..measuring() }, &mic, &silence);
        let (snr_plain, snr_out) = (snr_db(&speech_track, &plain, settle), snr_db(&speech_track, &suppressed, settle));
        println!("SNR in {snr_in:.1} dB, without suppression {snr_plain:.1} dB, with {snr_out:.1} dB");
        assert!((snr_in - 5.0).abs() < 0.5, "the input is at 5 dB SNR: {snr_in:.1}");
        assert!(snr_out - snr_in >= 10.0, "noise suppression gained {:.1} dB of SNR", snr_out - snr_in);
    }

    /// A room-like echo path: 30 ms away, the direct sound at -6 dB and decaying reflections.
    fn room_echo(far: &[f32]) -> Vec<f32> {
        let taps: [(usize, f32); 5] = [(0, 0.5), (336, 0.2), (816, -0.12), (1392, 0.08), (1968, -0.05)];
        let delay = 30 * SAMPLE_RATE as usize / 1000;
        let mut echo = vec![0.0; far.len()];
        for (i, sample) in far.iter().enumerate() {
            for (offset, gain) in taps {
                if let Some(out) = echo.get_mut(i + delay + offset) {
                    *out += sample * gain;
                }
            }
        }
        echo
    }

    #[test]
    fn echo_cancellation_removes_twenty_db_of_echo_and_passes_the_near_end() {
        let dir = tempfile::tempdir().expect("tempdir");
        let far = speech(dir.path(), "en", FAR);
        let near = speech(dir.path(), "en+f3", NEAR);
        // The far end talks, then the near end answers while the far end is quiet.
        let total = (far.len() + near.len() + SAMPLE_RATE as usize).div_ceil(FRAME_SAMPLES) * FRAME_SAMPLES;
        let mut far_end = far.clone();
        far_end.resize(total, 0.0);
        let mut mic = room_echo(&far_end);
        let answer = far.len() + SAMPLE_RATE as usize / 2;
        mic[answer..answer + near.len()].iter_mut().zip(&near).for_each(|(m, s)| *m += s);
        let off = process(measuring(), &mic, &far_end);
        let on = process(Settings { echo_cancellation: true, ..measuring() }, &mic, &far_end);
        // Echo only, after the first two seconds of adaptation.
        let echo_span = 2 * SAMPLE_RATE as usize..far.len();
        let erle = 10.0 * (energy(&off[echo_span.clone()]) / energy(&on[echo_span])).log10();
        let near_span = answer..answer + near.len();
        let near_loss = 10.0 * (energy(&off[near_span.clone()]) / energy(&on[near_span])).log10();
        println!("ERLE {erle:.1} dB; near-end speech loses {near_loss:.1} dB");
        assert!(erle >= 20.0, "echo attenuated by only {erle:.1} dB");
        assert!(near_loss.abs() <= 3.0, "the near end lost {near_loss:.1} dB");
    }

    #[test]
    fn the_gate_opens_on_speech_holds_over_and_push_to_talk_overrides_it() {
        let mut processor =
            Processor::new(Settings { noise_suppression: false, ..Settings::default() }).expect("chain");
        let silence = vec![0.0; FRAME_SAMPLES];
        let tone: Vec<f32> = (0..FRAME_SAMPLES).map(|n| (n as f32 * 0.0573).sin() * 0.1).collect();
        let mut frame = silence.clone();
        let quiet = processor.process(&mut frame, &silence).expect("processes");
        assert!(!quiet.talking && quiet.level_dbfs <= SILENCE_DBFS + 1.0, "{quiet:?}");
        let mut frame = tone.clone();
        let loud = processor.process(&mut frame, &silence).expect("processes");
        assert!(loud.talking && loud.level_dbfs > -30.0, "{loud:?}");
        let open_for = (0..HANG_OVER_FRAMES + 5)
            .take_while(|_| processor.process(&mut silence.clone(), &silence).expect("processes").talking)
            .count();
        // The filter's tail can keep the level up for a frame.
        assert!(
            (HANG_OVER_FRAMES as usize..=HANG_OVER_FRAMES as usize + 1).contains(&open_for),
            "hang-over {open_for}"
        );
        let mut frame = silence.clone();
        assert!(processor.process(&mut frame, &silence).is_ok_and(|a| !a.talking));
        processor.set(Settings { push_to_talk: true, ..processor.settings() }).expect("set");
        let mut frame = tone.clone();
        assert!(!processor.process(&mut frame, &silence).expect("processes").talking, "not pressed");
        assert!(frame.iter().all(|s| *s == 0.0), "a closed gate sends silence");
        processor.set_pressed(true);
        let mut frame = silence.clone();
        assert!(processor.process(&mut frame, &silence).expect("processes").talking, "pressed");
        assert!(processor.process(&mut [0.0; 10], &silence).is_err(), "wrong frame size");
    }
}
