//! Live voice: a [`Call`] joined to the microphone and speakers. This is the API the family
//! app and `itc voice talk` use.
//!
//! Data flow: microphone (cpal thread) → bounded queue → the audio thread: echo cancellation,
//! noise suppression, gain and gate ([`processing`]) → Opus → bounded queue → the async task
//! → [`Call::send`]. Back: [`Call::recv`] → bounded queue → the audio thread: one jitter
//! buffer and decoder per talker → per-person volume → mix → speaker queue (cpal thread;
//! its level held by [`PlayLevel`]), and the same mix is the echo canceller's reference.
//! Audio work never runs on the async runtime, and every queue between the threads is
//! bounded (a full queue drops, it never blocks).
//!
//! Use: [`Talk::join`], then [`Talk::controls`] (a cheap, cloneable handle for the UI:
//! mute, deafen, per-person volume, processing settings, push-to-talk, devices) and
//! [`Talk::events`] (level ~10/s, who is talking, who joined or left, device trouble), and
//! drive it with [`Talk::run`] (which owns the client's event stream while it runs) or, where
//! the caller reads the client's events itself, with [`Talk::pump`] plus [`Talk::handle`] for
//! each event, or [`Talk::handle_update`] for each update of a reconnecting [`Session`] (the
//! app's connection). Dropping the `Talk` stops the audio; leave the channel with
//! `Client::leave_voice`.

use super::audio::devices::{self, Microphone, PlayQueue, Speaker};
use super::audio::health::{Health, HealthReport, Trouble};
use super::audio::processing::{Processor, Settings};
use super::audio::{
    to_float, to_i16, AudioError, JitterBuffer, PlayLevel, Playout, VoiceDecoder, VoiceEncoder, FRAME_DURATION,
    FRAME_SAMPLES,
};
use super::call::Call;
use super::session::{Session, State, Update};
use super::{Client, ClientError};
use crate::ids::{ChannelId, SessionId};
use crate::media::packet::{MediaHeader, StreamKind};
use crate::proto::Event;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::mpsc::{self as std_mpsc, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use tokio::sync::{mpsc, oneshot};

/// Microphone chunks queued for the audio thread (cpal delivers a few per frame).
const MIC_QUEUE: usize = 64;
/// Received voice frames queued for the audio thread.
const INCOMING_QUEUE: usize = 256;
/// Encoded frames queued for sending (1 s).
const OUTGOING_QUEUE: usize = 50;
/// Events queued for the UI; more are dropped while it is not reading.
const EVENT_QUEUE: usize = 256;
/// Control changes queued for the audio thread.
const CONTROL_QUEUE: usize = 64;
/// Microphone samples held at most before the oldest are dropped (80 ms), so a stall cannot
/// build up delay.
const MIC_BACKLOG: usize = 4 * FRAME_SAMPLES;
/// Time without microphone samples after which frames of silence stand in for them, so the
/// speaker keeps playing (devices deliver in bursts of up to a few frames before that).
const MIC_STALL: std::time::Duration = std::time::Duration::from_millis(100);
/// Frames between two level events (100 ms).
const LEVEL_EVERY: u64 = 5;
/// The largest per-person or input volume.
pub const MAX_VOLUME: f32 = 4.0;

/// What to open and how to process.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TalkOptions {
    /// The microphone's name ([`super::audio::devices::list`]); the default when `None`.
    pub microphone: Option<String>,
    /// The speaker's name; the default when `None`.
    pub speaker: Option<String>,
    /// The microphone chain's settings.
    pub processing: Settings,
}

/// Who a talking event is about. In JSON a media session id, or `null` for this member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Talker {
    /// This member.
    Me,
    /// Another member, by media session.
    Member(SessionId),
}

impl Serialize for Talker {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Talker::Me => serializer.serialize_none(),
            Talker::Member(session_id) => serializer.serialize_some(session_id),
        }
    }
}

/// What the UI hears about. In JSON (as an app's web page reads it) an object tagged by
/// `kind`: `{"kind":"level","dbfs":-42.0}`, `{"kind":"talking","session_id":7,"talking":true}`
/// (`session_id` null for this member), `{"kind":"joined","session_id":7,"username":"ann"}`,
/// `{"kind":"left","session_id":7}`, `{"kind":"device_error","message":"…"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum TalkEvent {
    /// This member's input level (about 10 per second), for the level meter.
    Level {
        /// dBFS.
        dbfs: f32,
    },
    /// Someone started or stopped talking.
    Talking {
        /// Who.
        #[serde(rename = "session_id")]
        talker: Talker,
        /// Started (true) or stopped.
        talking: bool,
    },
    /// A member is in the call (also sent for those already there at join).
    Joined {
        /// Their media session.
        session_id: SessionId,
        /// Their name.
        username: String,
    },
    /// A member left.
    Left {
        /// Their media session.
        session_id: SessionId,
    },
    /// A device could not be opened; the previous one (if any) stays in use.
    DeviceError {
        /// Why.
        message: String,
    },
}

/// A change for the audio thread.
#[derive(Debug)]
enum Control {
    Muted(bool),
    Deafened(bool),
    Volume(SessionId, f32),
    Processing(Settings),
    Pressed(bool),
    Microphone(Option<String>),
    Speaker(Option<String>),
    Forget(SessionId),
}

/// The UI's handle on a running call: every setter takes effect within a frame (20 ms).
/// Setters never block; a change is dropped only if 64 are already waiting.
#[derive(Debug, Clone)]
pub struct Controls {
    sender: SyncSender<Control>,
}

impl Controls {
    fn send(&self, control: Control) {
        if let Err(TrySendError::Full(control)) = self.sender.try_send(control) {
            tracing::warn!("voice control dropped: {control:?}");
        }
    }

    /// Mutes (stops sending) or unmutes this member.
    pub fn set_muted(&self, muted: bool) {
        self.send(Control::Muted(muted));
    }

    /// Deafens (plays nothing, and sends nothing) or undeafens.
    pub fn set_deafened(&self, deafened: bool) {
        self.send(Control::Deafened(deafened));
    }

    /// Sets how loud `session_id` plays: a linear factor, 1.0 unchanged, 0 to [`MAX_VOLUME`].
    pub fn set_volume(&self, session_id: SessionId, volume: f32) {
        self.send(Control::Volume(session_id, volume.clamp(0.0, MAX_VOLUME)));
    }

    /// Changes the microphone chain: echo cancellation, noise suppression, gain, voice
    /// activation and its threshold, push-to-talk, input volume.
    pub fn set_processing(&self, settings: Settings) {
        self.send(Control::Processing(settings));
    }

    /// Says whether the push-to-talk key is held (used when push-to-talk is on).
    pub fn set_pressed(&self, pressed: bool) {
        self.send(Control::Pressed(pressed));
    }

    /// Switches to another microphone (`None`: the default) while running.
    pub fn set_microphone(&self, name: Option<String>) {
        self.send(Control::Microphone(name));
    }

    /// Switches to another speaker (`None`: the default) while running.
    pub fn set_speaker(&self, name: Option<String>) {
        self.send(Control::Speaker(name));
    }
}

/// A live call: the [`Call`], the audio thread and the queues between them.
#[derive(Debug)]
pub struct Talk {
    call: Call,
    controls: Controls,
    events: Option<mpsc::Receiver<TalkEvent>>,
    event_sender: mpsc::Sender<TalkEvent>,
    outgoing: mpsc::Receiver<(u32, Vec<u8>)>,
    incoming: SyncSender<(SessionId, u32, Vec<u8>)>,
    health: Health,
}

impl Talk {
    /// Joins the voice channel `channel_id` and starts the audio devices with `options`.
    pub async fn join(client: &Client, channel_id: ChannelId, options: TalkOptions) -> Result<Talk, ClientError> {
        let (control_sender, controls) = std_mpsc::sync_channel(CONTROL_QUEUE);
        let (event_sender, events) = mpsc::channel(EVENT_QUEUE);
        let (outgoing_sender, outgoing) = mpsc::channel(OUTGOING_QUEUE);
        let (incoming, incoming_receiver) = std_mpsc::sync_channel(INCOMING_QUEUE);
        let (started, started_receiver) = oneshot::channel();
        let health = Health::default();
        let queues = AudioQueues {
            controls,
            incoming: incoming_receiver,
            outgoing: outgoing_sender,
            events: event_sender.clone(),
            health: health.clone(),
        };
        std::thread::Builder::new()
            .name("itc-audio".into())
            .spawn(move || AudioLoop::start(options, queues, started))
            .map_err(|err| ClientError::Audio(AudioError::Device(format!("cannot start the audio thread: {err}"))))?;
        started_receiver
            .await
            .map_err(|_| ClientError::Audio(AudioError::Device("the audio thread stopped".into())))??;
        let call = Call::join(client, channel_id).await?;
        for (session_id, username) in call.members() {
            let _ = event_sender.try_send(TalkEvent::Joined { session_id, username });
        }
        Ok(Talk {
            call,
            controls: Controls { sender: control_sender },
            events: Some(events),
            event_sender,
            outgoing,
            incoming,
            health,
        })
    }

    /// What went wrong in the audio path so far: underruns, overruns, late frames (see
    /// [`HealthReport`]).
    pub fn health(&self) -> HealthReport {
        self.health.report()
    }

    /// The handle for changing settings while the call runs.
    pub fn controls(&self) -> Controls {
        self.controls.clone()
    }

    /// The events for the UI (once; later calls get `None`).
    pub fn events(&mut self) -> Option<mpsc::Receiver<TalkEvent>> {
        self.events.take()
    }

    /// The underlying call (its safety number, members, session).
    pub fn call(&self) -> &Call {
        &self.call
    }

    /// Acts on one event from the client: key exchange, and members joining or leaving.
    pub async fn handle(&mut self, client: &Client, event: &Event) -> Result<(), ClientError> {
        let channel = self.call.channel_id();
        match event {
            Event::VoiceJoined { channel_id, session_id, user, .. }
                if *channel_id == channel && *session_id != self.call.session_id() =>
            {
                let joined = TalkEvent::Joined { session_id: *session_id, username: user.username.clone() };
                let _ = self.event_sender.try_send(joined);
            }
            Event::VoiceLeft { channel_id, session_id, .. } if *channel_id == channel => {
                self.controls.send(Control::Forget(*session_id));
                let _ = self.event_sender.try_send(TalkEvent::Left { session_id: *session_id });
            }
            _ => {}
        }
        self.call.handle(client, event).await
    }

    /// Acts on one update of the [`Session`] the call was joined on: its server events as
    /// [`Talk::handle`] does (through the session's current connection). A lost connection
    /// ends the call (the server ends its voice session with the connection): the answer is
    /// then an error, and the caller drops the `Talk` (and may join again once connected).
    pub async fn handle_update(&mut self, session: &Session, update: &Update) -> Result<(), ClientError> {
        let lost = || ClientError::Closed("the connection to the server was lost".into());
        match update {
            Update::Event(event) => {
                let client = session.client().ok_or_else(lost)?;
                self.handle(&client, event).await
            }
            // The connection the call was joined on (a session's first update).
            Update::State(State::Connected(_)) => Ok(()),
            Update::State(_) => Err(lost()),
            _ => Ok(()),
        }
    }

    /// Moves media for a while: sends what the microphone produced and hands what arrives to
    /// the audio thread. Returns after one packet either way; call it in a loop (it is
    /// cancel-safe, so it can sit in a `select!` beside the client's events).
    pub async fn pump(&mut self) -> Result<(), ClientError> {
        tokio::select! {
            packet = self.outgoing.recv() => {
                let Some((frame, packet)) = packet else {
                    return Err(ClientError::Audio(AudioError::Device("the audio thread stopped".into())));
                };
                let header =
                    MediaHeader { source: 0, stream: StreamKind::Voice, flags: 0, frame, fragment: 0, fragments: 1 };
                self.call.send(header, &packet).await
            }
            received = self.call.recv() => {
                let (header, packet) = received?;
                if let Err(TrySendError::Disconnected(_)) =
                    self.incoming.try_send((SessionId(header.source), header.frame, packet))
                {
                    return Err(ClientError::Audio(AudioError::Device("the audio thread stopped".into())));
                }
                Ok(())
            }
        }
    }

    /// Runs the call until the control connection closes or something fails: media, and the
    /// client's events.
    pub async fn run(&mut self, client: &mut Client) -> Result<(), ClientError> {
        loop {
            tokio::select! {
                pumped = self.pump() => pumped?,
                event = client.next_event() => match event {
                    Some(event) => self.handle(client, &event).await?,
                    None => return Err(ClientError::Closed("the control connection closed".into())),
                },
            }
        }
    }
}

/// The audio thread's ends of the queues.
struct AudioQueues {
    controls: Receiver<Control>,
    incoming: Receiver<(SessionId, u32, Vec<u8>)>,
    outgoing: mpsc::Sender<(u32, Vec<u8>)>,
    events: mpsc::Sender<TalkEvent>,
    health: Health,
}

/// One other member as heard here.
struct Heard {
    buffer: JitterBuffer,
    decoder: VoiceDecoder,
    talking: bool,
}

/// The audio thread: devices, processing, codec, jitter buffers and the mix.
struct AudioLoop {
    queues: AudioQueues,
    mic_sender: SyncSender<Vec<f32>>,
    mic_samples: Receiver<Vec<f32>>,
    microphone: Microphone,
    speaker: Speaker,
    play: PlayQueue,
    play_level: PlayLevel,
    processor: Processor,
    encoder: VoiceEncoder,
    heard: HashMap<SessionId, Heard>,
    volumes: HashMap<SessionId, f32>,
    muted: bool,
    deafened: bool,
    sending: bool,
    frame: u64,
    pending: Vec<f32>,
}

impl AudioLoop {
    /// Opens everything, says how that went, then runs until the `Talk` is dropped.
    fn start(options: TalkOptions, queues: AudioQueues, started: oneshot::Sender<Result<(), AudioError>>) {
        match AudioLoop::open(options, queues) {
            Ok(audio) => {
                if started.send(Ok(())).is_ok() {
                    audio.run();
                }
            }
            Err(err) => {
                let _ = started.send(Err(err));
            }
        }
    }

    fn open(options: TalkOptions, queues: AudioQueues) -> Result<AudioLoop, AudioError> {
        let (mic_sender, mic_samples) = std_mpsc::sync_channel(MIC_QUEUE);
        let play = PlayQueue::default();
        let microphone = Microphone::open(options.microphone.as_deref(), mic_sender.clone(), &queues.health)?;
        let speaker = Speaker::open(options.speaker.as_deref(), play.clone(), &queues.health)?;
        tracing::info!(microphone = microphone.name(), speaker = speaker.name(), "voice devices open");
        Ok(AudioLoop {
            queues,
            mic_sender,
            mic_samples,
            microphone,
            speaker,
            play,
            play_level: PlayLevel::new(devices::SPEAKER_START_SAMPLES),
            processor: Processor::new(options.processing)?,
            encoder: VoiceEncoder::new()?,
            heard: HashMap::new(),
            volumes: HashMap::new(),
            muted: false,
            deafened: false,
            sending: false,
            frame: 0,
            pending: Vec::with_capacity(MIC_BACKLOG + FRAME_SAMPLES),
        })
    }

    /// One frame each time the microphone has delivered 20 ms; a silent one when it has
    /// stalled, so the speaker keeps playing.
    fn run(mut self) {
        // The `Talk` was dropped.
        while !self.queues.outgoing.is_closed() {
            loop {
                match self.queues.controls.try_recv() {
                    Ok(control) => self.apply(control),
                    Err(std_mpsc::TryRecvError::Empty) => break,
                    Err(std_mpsc::TryRecvError::Disconnected) => return,
                }
            }
            match self.mic_samples.recv_timeout(MIC_STALL) {
                Ok(chunk) => self.pending.extend(chunk),
                Err(RecvTimeoutError::Timeout) => {
                    self.queues.health.count(Trouble::MicrophoneStall, 1);
                    self.pending.resize(FRAME_SAMPLES, 0.0);
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
            if self.pending.len() > MIC_BACKLOG {
                let excess = self.pending.len() - MIC_BACKLOG;
                self.queues.health.count(Trouble::MicrophoneSamplesDropped, excess as u64);
                self.pending.drain(..excess);
            }
            while self.pending.len() >= FRAME_SAMPLES {
                let mut mic: Vec<f32> = self.pending.drain(..FRAME_SAMPLES).collect();
                let started = std::time::Instant::now();
                if let Err(err) = self.tick(&mut mic) {
                    tracing::warn!("voice frame: {err}");
                }
                if started.elapsed() > FRAME_DURATION {
                    self.queues.health.count(Trouble::SlowFrame, 1);
                }
            }
        }
    }

    fn event(&self, event: TalkEvent) {
        let _ = self.queues.events.try_send(event);
    }

    fn apply(&mut self, control: Control) {
        match control {
            Control::Muted(muted) => self.muted = muted,
            Control::Deafened(deafened) => self.deafened = deafened,
            Control::Volume(session, volume) => {
                self.volumes.insert(session, volume);
            }
            Control::Processing(settings) => {
                if let Err(err) = self.processor.set(settings) {
                    tracing::warn!("voice processing settings: {err}");
                }
            }
            Control::Pressed(pressed) => self.processor.set_pressed(pressed),
            Control::Microphone(name) => {
                match Microphone::open(name.as_deref(), self.mic_sender.clone(), &self.queues.health) {
                    Ok(microphone) => self.microphone = microphone,
                    Err(err) => self.event(TalkEvent::DeviceError { message: err.to_string() }),
                }
            }
            Control::Speaker(name) => match Speaker::open(name.as_deref(), self.play.clone(), &self.queues.health) {
                Ok(speaker) => self.speaker = speaker,
                Err(err) => self.event(TalkEvent::DeviceError { message: err.to_string() }),
            },
            Control::Forget(session) => {
                self.heard.remove(&session);
                self.volumes.remove(&session);
            }
        }
    }

    /// The mix of everyone heard for the next 20 ms.
    fn mix(&mut self) -> Result<Vec<f32>, AudioError> {
        while let Ok((session, frame, packet)) = self.queues.incoming.try_recv() {
            let heard = match self.heard.entry(session) {
                std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
                std::collections::hash_map::Entry::Vacant(entry) => entry.insert(Heard {
                    buffer: JitterBuffer::default(),
                    decoder: VoiceDecoder::new()?,
                    talking: false,
                }),
            };
            if heard.buffer.push(frame, packet) {
                self.queues.health.count(Trouble::LateFrame, 1);
            }
        }
        let mut mix = vec![0.0f32; FRAME_SAMPLES];
        let mut changes = Vec::new();
        for (session, heard) in &mut self.heard {
            let samples = match heard.buffer.pop() {
                Playout::Frame(packet) => heard.decoder.decode(Some(&packet))?,
                Playout::Conceal => {
                    self.queues.health.count(Trouble::ConcealedFrame, 1);
                    heard.decoder.decode(None)?
                }
                Playout::Silence => {
                    if heard.talking {
                        heard.talking = false;
                        changes.push((*session, false));
                    }
                    continue;
                }
            };
            if !heard.talking {
                heard.talking = true;
                changes.push((*session, true));
            }
            let volume = self.volumes.get(session).copied().unwrap_or(1.0);
            for (sum, sample) in mix.iter_mut().zip(to_float(&samples)) {
                *sum += sample * volume;
            }
        }
        for (session, talking) in changes {
            self.event(TalkEvent::Talking { talker: Talker::Member(session), talking });
        }
        mix.iter_mut().for_each(|s| *s = s.clamp(-1.0, 1.0));
        Ok(mix)
    }

    fn tick(&mut self, mic: &mut [f32]) -> Result<(), AudioError> {
        self.frame += 1;
        let mut mix = self.mix()?;
        if self.deafened {
            mix.fill(0.0);
        } else {
            let mut play = match self.play.lock() {
                Ok(play) => play,
                Err(poisoned) => poisoned.into_inner(),
            };
            let between_spurts = self.heard.values().all(|heard| !heard.talking);
            let adjusted = self.play_level.push(&mut play, &mix, between_spurts);
            self.queues.health.count(Trouble::SpeakerSamplesDropped, adjusted.over_cap as u64);
        }
        let analysis = self.processor.process(mic, &mix)?;
        if self.frame.is_multiple_of(LEVEL_EVERY) {
            self.event(TalkEvent::Level { dbfs: analysis.level_dbfs });
        }
        let sending = analysis.talking && !self.muted && !self.deafened;
        if sending != self.sending {
            self.sending = sending;
            self.event(TalkEvent::Talking { talker: Talker::Me, talking: sending });
        }
        if sending {
            let packet = self.encoder.encode(&to_i16(mic))?;
            // Frame numbers count time, so the far end's jitter buffer sees the pauses.
            if let Err(mpsc::error::TrySendError::Full(_)) = self.queues.outgoing.try_send((self.frame as u32, packet))
            {
                self.queues.health.count(Trouble::FrameNotSent, 1);
                tracing::debug!("voice frame dropped: the network side is behind");
            }
        }
        Ok(())
    }
}
