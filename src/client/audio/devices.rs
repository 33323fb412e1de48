//! Microphones and speakers through cpal (ALSA on Linux, which reaches PulseAudio and
//! PipeWire through their ALSA plugin; WASAPI on Windows): list them, and open one by name
//! (or the system default) as a 48 kHz mono stream of float samples.
//!
//! On Linux the PulseAudio/PipeWire device behind ALSA's `default`/`pulse` device is chosen
//! with the `PULSE_SOURCE` and `PULSE_SINK` environment variables. A device that cannot run
//! at 48 kHz is refused with a clear error (no resampler here). The callbacks run on cpal's
//! own threads and only move samples in and out of bounded queues.

use super::health::{Health, Trouble};
use super::{AudioError, SAMPLE_RATE};
use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, Sample, SampleFormat, SizedSample, StreamConfig};
use std::collections::VecDeque;
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Time allowed for a device to start.
const OPEN_TIMEOUT: Duration = Duration::from_secs(5);
/// The microphone's period asked for (20 ms, one Opus frame; cpal keeps two). A capture
/// period is delay (the samples wait until it is full), and a late reader loses nothing: the
/// sound server holds what was recorded. Through PulseAudio's ALSA plugin every period costs
/// a wake-up of cpal's thread and of the plugin's, with a dozen calls into PulseAudio: with
/// 10 ms periods that thread took a quarter of the client's CPU in a call. Measured: 20 ms
/// periods cut the client's CPU in `bench-client`'s call (with Opus at complexity 5) from
/// 12.6 % to 10.3 % of a core and added 7-10 ms mouth to ear (`tests/voice_live.rs`: 111-117
/// ms). The device's own default when it refuses.
const INPUT_BUFFER_FRAMES: u32 = 960;
/// The speaker's period asked for (20 ms; cpal keeps two): what is queued here plays after
/// everything before it, but a period too short underruns when a busy machine schedules the
/// callback late (10 ms did). Measured through PulseAudio: 26 ms from callback to playback,
/// where 40 ms periods took 54 ms.
const OUTPUT_BUFFER_FRAMES: u32 = 960;
/// Samples a speaker takes at once when it starts: cpal fills both of its periods.
pub const SPEAKER_START_SAMPLES: usize = 2 * OUTPUT_BUFFER_FRAMES as usize;

/// One audio device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// The name to choose it by: the system's device id (ALSA's `pulse`, `default`, …).
    pub name: String,
    /// What the system says it is.
    pub description: String,
    /// Whether it is the system's default for its direction.
    pub default: bool,
}

/// Which way a device goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// A microphone.
    Input,
    /// Speakers or headphones.
    Output,
}

fn device_error(err: impl std::fmt::Display) -> AudioError {
    AudioError::Device(err.to_string())
}

fn device_name(device: &cpal::Device) -> String {
    device.id().map(|id| id.id().to_owned()).unwrap_or_else(|_| device.to_string())
}

/// The devices of one direction, the default first.
pub fn list(direction: Direction) -> Result<Vec<DeviceInfo>, AudioError> {
    let host = cpal::default_host();
    let (default, devices) = match direction {
        Direction::Input => (host.default_input_device(), host.input_devices().map_err(device_error)?),
        Direction::Output => (host.default_output_device(), host.output_devices().map_err(device_error)?),
    };
    let default = default.map(|device| device_name(&device));
    let mut list: Vec<DeviceInfo> = devices
        .map(|device| {
            let name = device_name(&device);
            let description = device.description().map(|d| d.name().to_owned()).unwrap_or_default();
            DeviceInfo { default: default.as_deref() == Some(name.as_str()), name, description }
        })
        .collect();
    list.sort_by_key(|info| !info.default);
    Ok(list)
}

/// The device called `name`, or the default one.
fn find(direction: Direction, name: Option<&str>) -> Result<cpal::Device, AudioError> {
    let host = cpal::default_host();
    let Some(name) = name else {
        let default = match direction {
            Direction::Input => host.default_input_device(),
            Direction::Output => host.default_output_device(),
        };
        return default.ok_or_else(|| AudioError::Device(format!("no default {direction:?} device").to_lowercase()));
    };
    let mut devices = match direction {
        Direction::Input => host.input_devices().map_err(device_error)?,
        Direction::Output => host.output_devices().map_err(device_error)?,
    };
    devices
        .find(|device| device_name(device) == name)
        .ok_or_else(|| AudioError::Device(format!("no {direction:?} device called {name:?} (see `itc voice devices`)")))
}

/// The stream layout: 48 kHz, the device's channel count, its sample format.
fn config(device: &cpal::Device, direction: Direction) -> Result<(StreamConfig, SampleFormat), AudioError> {
    let default = match direction {
        Direction::Input => device.default_input_config(),
        Direction::Output => device.default_output_config(),
    }
    .map_err(device_error)?;
    let config = StreamConfig {
        channels: default.channels(),
        sample_rate: SAMPLE_RATE,
        buffer_size: cpal::BufferSize::Fixed(match direction {
            Direction::Input => INPUT_BUFFER_FRAMES,
            Direction::Output => OUTPUT_BUFFER_FRAMES,
        }),
    };
    Ok((config, default.sample_format()))
}

/// An open microphone; dropping it stops it.
pub struct Microphone {
    _stream: cpal::Stream,
    name: String,
}

impl std::fmt::Debug for Microphone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Microphone").field("name", &self.name).finish()
    }
}

impl Microphone {
    /// Opens the microphone called `name` (the default when `None`) and sends its samples,
    /// mixed down to mono, to `samples` in chunks as the device delivers them; chunks that
    /// do not fit the queue are dropped (and counted in `health`, with the device's overruns).
    pub fn open(name: Option<&str>, samples: SyncSender<Vec<f32>>, health: &Health) -> Result<Microphone, AudioError> {
        let device = find(Direction::Input, name)?;
        let (config, format) = config(&device, Direction::Input)?;
        let stream = match format {
            SampleFormat::F32 => input_stream::<f32>(&device, config, samples, health),
            SampleFormat::I16 => input_stream::<i16>(&device, config, samples, health),
            other => return Err(AudioError::Device(format!("unsupported microphone sample format {other}"))),
        }?;
        stream.play().map_err(device_error)?;
        Ok(Microphone { _stream: stream, name: device_name(&device) })
    }

    /// The device's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Builds with the small buffer, or the device's default buffer when it refuses that.
fn build<S>(config: StreamConfig, build: impl Fn(StreamConfig) -> Result<S, cpal::Error>) -> Result<S, AudioError> {
    build(config)
        .or_else(|_| build(StreamConfig { buffer_size: cpal::BufferSize::Default, ..config }))
        .map_err(|err| AudioError::Device(format!("{err} (the device must run at {SAMPLE_RATE} Hz)")))
}

/// The error callback of a stream: counts the sound system's xruns as `xrun`, logs the rest.
fn on_error(health: &Health, xrun: Trouble, what: &'static str) -> impl FnMut(cpal::Error) + Send + 'static {
    let health = health.clone();
    move |err| match err.kind() {
        cpal::ErrorKind::Xrun => health.count(xrun, 1),
        _ => tracing::warn!("{what}: {err}"),
    }
}

fn input_stream<T>(
    device: &cpal::Device,
    config: StreamConfig,
    samples: SyncSender<Vec<f32>>,
    health: &Health,
) -> Result<cpal::Stream, AudioError>
where
    T: SizedSample,
    f32: FromSample<T>,
{
    let channels = usize::from(config.channels.max(1));
    build(config, |config| {
        let samples = samples.clone();
        let dropped = health.clone();
        device.build_input_stream::<T, _, _>(
            config,
            move |data: &[T], _| {
                let mono = data
                    .chunks(channels)
                    .map(|frame| frame.iter().map(|s| f32::from_sample(*s)).sum::<f32>() / channels as f32)
                    .collect();
                if samples.try_send(mono).is_err() {
                    dropped.count(Trouble::MicrophoneChunkDropped, 1);
                }
            },
            on_error(health, Trouble::MicrophoneXrun, "microphone"),
            Some(OPEN_TIMEOUT),
        )
    })
}

/// Mono samples waiting for the speaker, bounded by the writer.
pub type PlayQueue = Arc<Mutex<VecDeque<f32>>>;

/// An open speaker; dropping it stops it.
pub struct Speaker {
    _stream: cpal::Stream,
    name: String,
}

impl std::fmt::Debug for Speaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Speaker").field("name", &self.name).finish()
    }
}

impl Speaker {
    /// Opens the speaker called `name` (the default when `None`), playing mono samples from
    /// `queue` on every channel, silence when it runs dry (counted in `health` as an
    /// underrun, with the device's own).
    pub fn open(name: Option<&str>, queue: PlayQueue, health: &Health) -> Result<Speaker, AudioError> {
        let device = find(Direction::Output, name)?;
        let (config, format) = config(&device, Direction::Output)?;
        let stream = match format {
            SampleFormat::F32 => output_stream::<f32>(&device, config, queue, health),
            SampleFormat::I16 => output_stream::<i16>(&device, config, queue, health),
            other => return Err(AudioError::Device(format!("unsupported speaker sample format {other}"))),
        }?;
        stream.play().map_err(device_error)?;
        Ok(Speaker { _stream: stream, name: device_name(&device) })
    }

    /// The device's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

fn output_stream<T>(
    device: &cpal::Device,
    config: StreamConfig,
    queue: PlayQueue,
    health: &Health,
) -> Result<cpal::Stream, AudioError>
where
    T: SizedSample + FromSample<f32>,
{
    let channels = usize::from(config.channels.max(1));
    build(config, |config| {
        let queue = queue.clone();
        let underruns = health.clone();
        device.build_output_stream::<T, _, _>(
            config,
            move |data: &mut [T], _| {
                let mut queue = match queue.lock() {
                    Ok(queue) => queue,
                    Err(poisoned) => poisoned.into_inner(),
                };
                if queue.len() < data.len() / channels {
                    underruns.count(Trouble::SpeakerUnderrun, 1);
                }
                for frame in data.chunks_mut(channels) {
                    let sample = T::from_sample(queue.pop_front().unwrap_or(0.0));
                    frame.fill(sample);
                }
            },
            on_error(health, Trouble::SpeakerXrun, "speaker"),
            Some(OPEN_TIMEOUT),
        )
    })
}
