//! The client's voice endpoint: Opus (audiopus) at 48 kHz mono in 20 ms frames, a jitter
//! buffer that plays frames in order and conceals lost ones, and 16-bit WAV files (hound) for
//! `itc voice play|record`. The jitter buffer is sans-IO: the caller pulls one frame every
//! 20 ms.

use audiopus::coder::{Decoder, Encoder};
use audiopus::packet::Packet;
use audiopus::{Application, Bitrate, Channels, MutSignals, SampleRate};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Samples per second.
pub const SAMPLE_RATE: u32 = 48_000;
/// Samples in one 20 ms frame.
pub const FRAME_SAMPLES: usize = 960;
/// One frame's duration.
pub const FRAME_DURATION: Duration = Duration::from_millis(20);
/// Opus bitrate for speech.
pub const BITRATE: i32 = 24_000;
/// Frames buffered before playout starts (60 ms).
pub const JITTER_DEPTH: usize = 3;
/// Frames held at most; older ones are dropped.
const JITTER_CAPACITY: usize = 50;
/// Concealed frames in a row after which the talker counts as gone.
const CONCEAL_LIMIT: u32 = 10;
const MAX_PACKET: usize = 1000;

/// Audio trouble: a codec error or an unusable WAV file.
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
}

/// Encodes 20 ms frames of 48 kHz mono speech.
#[derive(Debug)]
pub struct VoiceEncoder {
    encoder: Encoder,
}

impl VoiceEncoder {
    /// A speech encoder at [`BITRATE`].
    pub fn new() -> Result<VoiceEncoder, AudioError> {
        let mut encoder = Encoder::new(SampleRate::Hz48000, Channels::Mono, Application::Voip)?;
        encoder.set_bitrate(Bitrate::BitsPerSecond(BITRATE))?;
        Ok(VoiceEncoder { encoder })
    }

    /// One Opus packet for exactly [`FRAME_SAMPLES`] samples.
    pub fn encode(&mut self, frame: &[i16]) -> Result<Vec<u8>, AudioError> {
        let mut packet = vec![0u8; MAX_PACKET];
        let len = self.encoder.encode(frame, &mut packet)?;
        packet.truncate(len);
        Ok(packet)
    }
}

/// Decodes Opus packets, and conceals missing ones.
#[derive(Debug)]
pub struct VoiceDecoder {
    decoder: Decoder,
}

impl VoiceDecoder {
    /// A 48 kHz mono decoder.
    pub fn new() -> Result<VoiceDecoder, AudioError> {
        Ok(VoiceDecoder { decoder: Decoder::new(SampleRate::Hz48000, Channels::Mono)? })
    }

    /// One frame of samples from `packet`, or a concealment frame when it was lost (`None`).
    pub fn decode(&mut self, packet: Option<&[u8]>) -> Result<Vec<i16>, AudioError> {
        let mut samples = vec![0i16; FRAME_SAMPLES];
        let packet = packet.map(Packet::try_from).transpose()?;
        let output = MutSignals::try_from(&mut samples[..])?;
        let len = self.decoder.decode(packet, output, false)?;
        samples.truncate(len);
        Ok(samples)
    }
}

/// What to play in the next 20 ms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playout {
    /// Nobody is talking (or the buffer is still filling).
    Silence,
    /// This Opus packet.
    Frame(Vec<u8>),
    /// The expected frame is missing: conceal it.
    Conceal,
}

/// Reorders one talker's frames by frame number and releases one per 20 ms tick, after
/// [`JITTER_DEPTH`] frames of lead.
#[derive(Debug, Default)]
pub struct JitterBuffer {
    frames: BTreeMap<u32, Vec<u8>>,
    next: Option<u32>,
    concealed_in_a_row: u32,
}

impl JitterBuffer {
    /// Takes in a frame; late (already played) frames and duplicates are ignored.
    pub fn push(&mut self, frame: u32, packet: Vec<u8>) {
        if self.next.is_some_and(|next| frame < next) {
            return;
        }
        self.frames.entry(frame).or_insert(packet);
        while self.frames.len() > JITTER_CAPACITY {
            self.frames.pop_first();
        }
    }

    /// What to play now (call once per [`FRAME_DURATION`]).
    pub fn pop(&mut self) -> Playout {
        let next = match self.next {
            Some(next) => next,
            None if self.frames.len() >= JITTER_DEPTH => match self.frames.keys().next() {
                Some(first) => *first,
                None => return Playout::Silence,
            },
            None => return Playout::Silence,
        };
        self.next = Some(next.wrapping_add(1));
        match self.frames.remove(&next) {
            Some(packet) => {
                self.concealed_in_a_row = 0;
                Playout::Frame(packet)
            }
            None if self.frames.is_empty() && self.concealed_in_a_row >= CONCEAL_LIMIT => {
                self.next = None;
                self.concealed_in_a_row = 0;
                Playout::Silence
            }
            None => {
                self.concealed_in_a_row += 1;
                Playout::Conceal
            }
        }
    }
}

fn wav_error(path: &Path, reason: impl std::fmt::Display) -> AudioError {
    AudioError::Wav { path: path.display().to_string(), reason: reason.to_string() }
}

/// Reads a 48 kHz mono 16-bit WAV file.
pub fn read_wav(path: &Path) -> Result<Vec<i16>, AudioError> {
    let mut reader = hound::WavReader::open(path).map_err(|err| wav_error(path, err))?;
    let spec = reader.spec();
    if spec.sample_rate != SAMPLE_RATE || spec.channels != 1 || spec.bits_per_sample != 16 {
        return Err(wav_error(
            path,
            format!(
                "{} Hz, {} channel(s), {} bits; need 48000 Hz mono 16-bit (convert: sox IN -r 48000 -c 1 -b 16 OUT)",
                spec.sample_rate, spec.channels, spec.bits_per_sample
            ),
        ));
    }
    reader.samples::<i16>().collect::<Result<Vec<_>, _>>().map_err(|err| wav_error(path, err))
}

/// Writes 48 kHz mono 16-bit samples as a WAV file.
pub fn write_wav(path: &Path, samples: &[i16]) -> Result<(), AudioError> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).map_err(|err| wav_error(path, err))?;
    for sample in samples {
        writer.write_sample(*sample).map_err(|err| wav_error(path, err))?;
    }
    writer.finalize().map_err(|err| wav_error(path, err))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(frames: usize) -> Vec<i16> {
        (0..frames * FRAME_SAMPLES)
            .map(|n| ((n as f64 * 440.0 * 2.0 * std::f64::consts::PI / 48_000.0).sin() * 8000.0) as i16)
            .collect()
    }

    #[test]
    fn opus_round_trip_keeps_a_tone() {
        let mut encoder = VoiceEncoder::new().expect("encoder");
        let mut decoder = VoiceDecoder::new().expect("decoder");
        let input = tone(50);
        let mut output = Vec::new();
        for frame in input.chunks(FRAME_SAMPLES) {
            let packet = encoder.encode(frame).expect("encodes");
            assert!(packet.len() < 200, "about 24 kbit/s: {}", packet.len());
            output.extend(decoder.decode(Some(&packet)).expect("decodes"));
        }
        let concealed = decoder.decode(None).expect("conceals");
        assert_eq!(concealed.len(), FRAME_SAMPLES);
        let energy = |s: &[i16]| s.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>();
        assert!(energy(&output[FRAME_SAMPLES * 10..]) > energy(&input[FRAME_SAMPLES * 10..]) * 0.5);
    }

    #[test]
    fn jitter_buffer_reorders_conceals_and_goes_quiet() {
        let mut buffer = JitterBuffer::default();
        assert_eq!(buffer.pop(), Playout::Silence);
        buffer.push(11, vec![11]);
        buffer.push(10, vec![10]);
        assert_eq!(buffer.pop(), Playout::Silence, "still filling");
        buffer.push(13, vec![13]);
        assert_eq!(buffer.pop(), Playout::Frame(vec![10]));
        assert_eq!(buffer.pop(), Playout::Frame(vec![11]));
        assert_eq!(buffer.pop(), Playout::Conceal, "12 was lost");
        buffer.push(12, vec![12]);
        assert_eq!(buffer.pop(), Playout::Frame(vec![13]), "12 arrived too late");
        for _ in 0..CONCEAL_LIMIT {
            assert_eq!(buffer.pop(), Playout::Conceal);
        }
        assert_eq!(buffer.pop(), Playout::Silence, "the talker stopped");
    }

    #[test]
    fn wav_round_trip_and_clear_format_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.wav");
        write_wav(&path, &[1, -2, 3]).expect("writes");
        assert_eq!(read_wav(&path).expect("reads"), [1, -2, 3]);
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 22_050,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut writer = hound::WavWriter::create(dir.path().join("b.wav"), spec).expect("creates");
        writer.write_sample(0i16).expect("writes");
        writer.write_sample(0i16).expect("writes the second channel");
        writer.finalize().expect("finalizes");
        let err = read_wav(&dir.path().join("b.wav")).expect_err("wrong format");
        assert!(err.to_string().contains("need 48000 Hz mono 16-bit"), "{err}");
        assert!(read_wav(&dir.path().join("missing.wav")).is_err());
    }
}
