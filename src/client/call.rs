//! A call: a voice session whose media is sealed end to end ([`crate::e2e`]) on top of the
//! hop-by-hop [`MediaLink`]. It runs the key schedule: a new sender key at join and whenever a
//! member joins or leaves, wrapped for every current member; keys shared by others are
//! unwrapped with this device's key and installed. Feed it the client's events with
//! [`Call::handle`].

use super::audio::{JitterBuffer, Playout, VoiceDecoder, VoiceEncoder, FRAME_DURATION, FRAME_SAMPLES, MAX_DEPTH};
use super::media::MediaLink;
use super::{Client, ClientError};
use crate::e2e::{self, DeviceKey, FrameOpener, FrameSealer, KeyContext, WrappedKey};
use crate::ids::{ChannelId, SessionId};
use crate::media::packet::{MediaHeader, StreamKind, MAX_MEDIA_PAYLOAD};
use crate::proto::{Event, VideoStream, WrappedKeyFor};
use std::collections::{HashMap, VecDeque};

/// Largest video frame sent or reassembled (before end-to-end sealing).
pub const MAX_VIDEO_FRAME: usize = 1024 * 1024;
/// Frames being reassembled at once; the oldest incomplete one is given up first.
const REASSEMBLY_SLOTS: usize = 16;

/// What arrived from another member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// A voice frame (an Opus packet).
    Voice {
        /// Its header (source, frame number).
        header: MediaHeader,
        /// The frame.
        payload: Vec<u8>,
    },
    /// A whole, reassembled video frame.
    Video {
        /// The sender's media session.
        source: SessionId,
        /// Camera or screen.
        stream: VideoStream,
        /// Frame number.
        frame: u32,
        /// A keyframe.
        keyframe: bool,
        /// The frame.
        data: Vec<u8>,
    },
}

/// A video frame's identity: source session, stream, frame number.
type FrameKey = (SessionId, StreamKind, u32);

/// Fragments of the video frames under way, bounded.
#[derive(Debug, Default)]
struct Reassembly {
    frames: HashMap<FrameKey, Vec<Option<Vec<u8>>>>,
    order: VecDeque<FrameKey>,
}

impl Reassembly {
    /// Adds a fragment; returns the whole sealed frame once every fragment is in.
    fn add(&mut self, header: &MediaHeader, fragment: Vec<u8>) -> Option<Vec<u8>> {
        let key = (SessionId(header.source), header.stream, header.frame);
        let count = usize::from(header.fragments);
        // A sealed frame of at most MAX_VIDEO_FRAME bytes needs no more fragments than this.
        if count > MAX_VIDEO_FRAME / MAX_MEDIA_PAYLOAD + 2 {
            return None;
        }
        if !self.frames.contains_key(&key) {
            if self.order.len() >= REASSEMBLY_SLOTS {
                if let Some(oldest) = self.order.pop_front() {
                    self.frames.remove(&oldest);
                }
            }
            self.order.push_back(key);
        }
        let parts = self.frames.entry(key).or_insert_with(|| vec![None; count]);
        if parts.len() != count {
            return None;
        }
        parts[usize::from(header.fragment)] = Some(fragment);
        if parts.iter().any(Option::is_none) {
            return None;
        }
        self.order.retain(|k| *k != key);
        let parts = self.frames.remove(&key)?;
        Some(parts.into_iter().flatten().flatten().collect())
    }
}

/// An end-to-end encrypted call in one voice channel.
#[derive(Debug)]
pub struct Call {
    link: MediaLink,
    device: DeviceKey,
    channel_id: ChannelId,
    session_id: SessionId,
    epoch: u16,
    sealer: FrameSealer,
    opener: FrameOpener,
    /// The other members: their device key and username.
    members: HashMap<SessionId, (String, String)>,
    undecryptable: u64,
    reassembly: Reassembly,
}

fn e2e_error(err: e2e::E2eError) -> ClientError {
    ClientError::Protocol(err.to_string())
}

impl Call {
    /// Joins `channel_id`, registers the media link and shares a first sender key.
    pub async fn join(client: &Client, channel_id: ChannelId) -> Result<Call, ClientError> {
        let device = DeviceKey::generate();
        let session = client.join_voice(channel_id, &device.public_base64()).await?;
        let link = MediaLink::open(client.host(), &session).await?;
        let members = session
            .members
            .into_iter()
            .map(|member| (member.session_id, (member.device_key, member.user.username)))
            .collect();
        let sealer = FrameSealer::generate(e2e::key_id(session.session_id, 0)).map_err(e2e_error)?;
        let call = Call {
            link,
            device,
            channel_id: session.channel_id,
            session_id: session.session_id,
            epoch: 0,
            sealer,
            opener: FrameOpener::default(),
            members,
            undecryptable: 0,
            reassembly: Reassembly::default(),
        };
        call.share_sender_key(client).await?;
        Ok(call)
    }

    /// This member's media session (the `source` others see).
    pub fn session_id(&self) -> SessionId {
        self.session_id
    }

    /// Whether `sender`'s key has arrived, so its media can be heard.
    pub fn can_hear(&self, sender: SessionId) -> bool {
        self.opener.has_sender(sender)
    }

    /// The other members in the call: media session and username.
    pub fn members(&self) -> Vec<(SessionId, String)> {
        self.members.iter().map(|(session, (_, username))| (*session, username.clone())).collect()
    }

    /// Frames dropped because no key opened them.
    pub fn undecryptable(&self) -> u64 {
        self.undecryptable
    }

    /// The call's safety number: the same on every member's screen when nobody's device key
    /// was substituted.
    pub fn safety_number(&self) -> String {
        let own = self.device.public_base64();
        let mut keys: Vec<&str> = self.members.values().map(|(key, _)| key.as_str()).collect();
        keys.push(&own);
        e2e::safety_number(&keys)
    }

    /// Makes a new sender key and wraps it for every current member.
    async fn rotate(&mut self, client: &Client) -> Result<(), ClientError> {
        self.epoch = self.epoch.wrapping_add(1);
        self.sealer = FrameSealer::generate(e2e::key_id(self.session_id, self.epoch)).map_err(e2e_error)?;
        self.share_sender_key(client).await
    }

    async fn share_sender_key(&self, client: &Client) -> Result<(), ClientError> {
        if self.members.is_empty() {
            return Ok(());
        }
        let context = KeyContext { channel_id: self.channel_id, key_id: self.sealer.key_id() };
        let mut wrapped = Vec::with_capacity(self.members.len());
        for (session_id, (device_key, _)) in &self.members {
            let copy = e2e::wrap(device_key, self.sealer.secret(), context).map_err(e2e_error)?;
            wrapped.push(WrappedKeyFor { session_id: *session_id, enc: copy.enc, ciphertext: copy.ciphertext });
        }
        match client.share_media_key(self.sealer.key_id(), wrapped).await {
            // Events can be stale: our session has already ended (moved, or the channel was
            // deleted), or a recipient's has. The event saying so follows; for a recipient that
            // is a `voice_left`, which rotates and shares again with those who remain.
            Err(err)
                if matches!(
                    err.code(),
                    Some(crate::proto::ErrorCode::NotAllowedNow | crate::proto::ErrorCode::NotFound)
                ) =>
            {
                Ok(())
            }
            other => other,
        }
    }

    /// The voice channel of the call.
    pub fn channel_id(&self) -> ChannelId {
        self.channel_id
    }

    /// Acts on one event from the control channel: membership changes rotate the sender key,
    /// shared keys are installed, and a move by an admin rejoins in the new channel with fresh
    /// keys. Other events are ignored.
    pub async fn handle(&mut self, client: &Client, event: &Event) -> Result<(), ClientError> {
        match event {
            Event::VoiceMoved { channel_id } => {
                *self = Call::join(client, *channel_id).await?;
                Ok(())
            }
            Event::VoiceJoined { channel_id, session_id, device_key, user }
                if *channel_id == self.channel_id && *session_id != self.session_id =>
            {
                self.members.insert(*session_id, (device_key.clone(), user.username.clone()));
                self.rotate(client).await
            }
            Event::VoiceLeft { channel_id, session_id, .. }
                if *channel_id == self.channel_id && self.members.remove(session_id).is_some() =>
            {
                self.opener.forget_sender(*session_id);
                self.rotate(client).await
            }
            Event::MediaKey { channel_id, sender, key_id, enc, ciphertext } if *channel_id == self.channel_id => {
                let context = KeyContext { channel_id: *channel_id, key_id: *key_id };
                let wrapped = WrappedKey { enc: enc.clone(), ciphertext: ciphertext.clone() };
                let valid_sender = e2e::key_sender(*key_id) == *sender && self.members.contains_key(sender);
                if let (true, Ok(secret)) = (valid_sender, self.device.unwrap(&wrapped, context)) {
                    self.opener.install(*key_id, &secret).map_err(e2e_error)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Seals `payload` end to end and sends it.
    pub async fn send(&mut self, header: MediaHeader, payload: &[u8]) -> Result<(), ClientError> {
        let sealed = self.sealer.seal(payload).map_err(e2e_error)?;
        self.link.send(header, &sealed).await
    }

    /// The next voice frame from another member (video is skipped; see [`Call::receive`]).
    pub async fn recv(&mut self) -> Result<(MediaHeader, Vec<u8>), ClientError> {
        loop {
            if let Received::Voice { header, payload } = self.receive().await? {
                return Ok((header, payload));
            }
        }
    }

    /// The next voice frame or whole video frame from another member that this device can
    /// open, once, and whose sealing key belongs to the member the relay names as its source
    /// (so a relay can neither replay frames nor relabel who is speaking).
    pub async fn receive(&mut self) -> Result<Received, ClientError> {
        loop {
            let (header, payload) = self.link.recv().await?;
            let stream = header.stream.video();
            let sealed = match stream {
                None => payload,
                Some(_) => match self.reassembly.add(&header, payload) {
                    Some(whole) => whole,
                    None => continue,
                },
            };
            let opened = match self.opener.open(&sealed) {
                Ok(opened) if opened.sender == SessionId(header.source) => opened,
                _ => {
                    self.undecryptable += 1;
                    continue;
                }
            };
            return Ok(match stream {
                None => Received::Voice { header, payload: opened.payload },
                Some(stream) => Received::Video {
                    source: SessionId(header.source),
                    stream,
                    frame: header.frame,
                    keyframe: header.flags & 1 != 0,
                    data: opened.payload,
                },
            });
        }
    }

    /// Seals one video frame end to end and sends it in fragments that fit the path MTU.
    /// Start the stream first with `Client::set_video`.
    pub async fn send_video(
        &mut self,
        stream: VideoStream,
        frame: u32,
        keyframe: bool,
        data: &[u8],
    ) -> Result<(), ClientError> {
        if data.len() > MAX_VIDEO_FRAME {
            return Err(ClientError::Protocol(format!("a video frame is at most {MAX_VIDEO_FRAME} bytes")));
        }
        let sealed = self.sealer.seal(data).map_err(e2e_error)?;
        let parts: Vec<&[u8]> = sealed.chunks(MAX_MEDIA_PAYLOAD).collect();
        let fragments =
            u16::try_from(parts.len()).map_err(|_| ClientError::Protocol("video frame too large".into()))?;
        let stream = StreamKind::from(stream);
        for (index, part) in parts.into_iter().enumerate() {
            let header =
                MediaHeader { source: 0, stream, flags: u8::from(keyframe), frame, fragment: index as u16, fragments };
            self.link.send(header, part).await?;
        }
        Ok(())
    }

    /// Handles control events until `duration` has passed.
    async fn pump_events(&mut self, client: &mut Client, duration: std::time::Duration) -> Result<(), ClientError> {
        let deadline = tokio::time::Instant::now() + duration;
        loop {
            match tokio::time::timeout_at(deadline, client.next_event()).await {
                Ok(Some(event)) => self.handle(client, &event).await?,
                Ok(None) => return Err(ClientError::Closed("the control connection closed".into())),
                Err(_) => return Ok(()),
            }
        }
    }

    /// Speaks 48 kHz mono `samples` into the call in real time, one Opus frame every 20 ms,
    /// after handling key exchange for `lead_in`.
    pub async fn play(
        &mut self,
        client: &mut Client,
        samples: &[i16],
        lead_in: std::time::Duration,
    ) -> Result<(), ClientError> {
        let mut encoder = VoiceEncoder::new()?;
        self.pump_events(client, lead_in).await?;
        let mut ticker = tokio::time::interval(FRAME_DURATION);
        for (index, chunk) in samples.chunks(FRAME_SAMPLES).enumerate() {
            let mut frame = chunk.to_vec();
            frame.resize(FRAME_SAMPLES, 0);
            loop {
                tokio::select! {
                    _ = ticker.tick() => break,
                    event = client.next_event() => match event {
                        Some(event) => self.handle(client, &event).await?,
                        None => return Err(ClientError::Closed("the control connection closed".into())),
                    },
                }
            }
            let packet = encoder.encode(&frame)?;
            let header = MediaHeader {
                source: 0,
                stream: StreamKind::Voice,
                flags: 0,
                frame: index as u32,
                fragment: 0,
                fragments: 1,
            };
            self.send(header, &packet).await?;
        }
        Ok(())
    }

    /// Records what the call sounds like for `duration`: every talker through its own jitter
    /// buffer and decoder (lost frames concealed), mixed. Starts with the first sound heard.
    /// Latency does not matter here, so each buffer starts with the most lead it has.
    pub async fn record(
        &mut self,
        client: &mut Client,
        duration: std::time::Duration,
    ) -> Result<Vec<i16>, ClientError> {
        let mut talkers: HashMap<SessionId, (JitterBuffer, VoiceDecoder)> = HashMap::new();
        let mut recording: Vec<i16> = Vec::new();
        let deadline = tokio::time::Instant::now() + duration;
        let mut ticker = tokio::time::interval(FRAME_DURATION);
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => break,
                _ = ticker.tick() => {
                    let mut mix = vec![0i32; FRAME_SAMPLES];
                    let mut heard = false;
                    for (buffer, decoder) in talkers.values_mut() {
                        let samples = match buffer.pop() {
                            Playout::Frame(packet) => decoder.decode(Some(&packet))?,
                            Playout::Conceal => decoder.decode(None)?,
                            Playout::Silence => continue,
                        };
                        heard = true;
                        for (sum, sample) in mix.iter_mut().zip(samples) {
                            *sum += i32::from(sample);
                        }
                    }
                    if heard || !recording.is_empty() {
                        recording.extend(mix.into_iter().map(|sum| sum.clamp(i16::MIN.into(), i16::MAX.into()) as i16));
                    }
                }
                event = client.next_event() => match event {
                    Some(event) => self.handle(client, &event).await?,
                    None => return Err(ClientError::Closed("the control connection closed".into())),
                },
                received = self.recv() => {
                    let (header, packet) = received?;
                    if header.stream == StreamKind::Voice {
                        let talker = match talkers.entry(SessionId(header.source)) {
                            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
                            std::collections::hash_map::Entry::Vacant(entry) => {
                                entry.insert((JitterBuffer::with_lead(MAX_DEPTH), VoiceDecoder::new()?))
                            }
                        };
                        talker.0.push(header.frame, packet);
                    }
                }
            }
        }
        Ok(recording)
    }
}
