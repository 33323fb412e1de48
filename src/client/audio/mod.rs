//! The client's voice audio, by concern: `codec` (Opus at 48 kHz mono in 20 ms frames),
//! `jitter` (a sans-IO jitter buffer per talker), `play_level` (the speaker queue's cap and
//! standing delay, sans-IO), `wav` (16-bit WAV files for
//! `itc voice play|record`), `processing` (the sans-IO microphone chain: echo cancellation,
//! noise suppression, gain, gate, level meter), `devices` (microphones and speakers through
//! cpal) and `health` (the live path's trouble counters: underruns, overruns, late frames).
//! None of these knows about the network; [`crate::client::talk`] joins them to a call and
//! mixes the talkers at their volumes.

mod codec;
pub mod devices;
pub mod health;
mod jitter;
mod play_level;
pub mod processing;
mod wav;

pub use codec::{VoiceDecoder, VoiceEncoder};
pub use jitter::{JitterBuffer, Playout, MAX_DEPTH};
pub use play_level::{Adjusted, PlayLevel};
pub use wav::{read_wav, write_wav};

use std::time::Duration;

/// Samples per second.
pub const SAMPLE_RATE: u32 = 48_000;
/// Samples in one 20 ms frame.
pub const FRAME_SAMPLES: usize = 960;
/// One frame's duration.
pub const FRAME_DURATION: Duration = Duration::from_millis(20);
/// Opus bitrate for speech: 32 kbit/s, which keeps the waveform closer than 24 (0.932 against
/// 0.927 correlation through the live path) for 80 bytes a frame.
pub const BITRATE: i32 = 32_000;

/// Audio trouble: a codec error, an unusable WAV file, the processing chain or a device.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AudioError {
    /// Opus refused.
    #[error("opus: {0}")]
    Opus(#[from] audiopus::Error),
    /// The WAV file could not be read or written.
    #[error("{path}: {reason}")]
    Wav {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The echo canceller refused a frame or a setting.
    #[error("voice processing: {0}")]
    Processing(String),
    /// An audio device could not be found, opened or started.
    #[error("audio device: {0}")]
    Device(String),
}

/// Converts 16-bit samples to floats in [-1, 1].
pub fn to_float(samples: &[i16]) -> Vec<f32> {
    samples.iter().map(|s| f32::from(*s) / 32_768.0).collect()
}

/// Converts floats in [-1, 1] to 16-bit samples, clipping.
pub fn to_i16(samples: &[f32]) -> Vec<i16> {
    samples.iter().map(|s| (s * 32_768.0).clamp(-32_768.0, 32_767.0) as i16).collect()
}
