//! 16-bit 48 kHz mono WAV files (hound) for `itc voice play|record` and the tests.

use super::{AudioError, SAMPLE_RATE};
use std::path::Path;

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
