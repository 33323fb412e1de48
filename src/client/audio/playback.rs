//! What the speaker plays, sans-IO and clocked by the speaker: the device asks for samples,
//! and only then is a frame taken from each talker's jitter buffer, decoded (or concealed),
//! scaled by its per-person volume and mixed. What was played is kept, in order, as the echo
//! canceller's reference.
//!
//! Pulling frames when the device wants them (rather than pushing a frame per microphone
//! frame) keeps the sound whole when the thread that processes the microphone runs late on a
//! busy machine: it catches up later, and the speaker never gets a burst it has to cut.

use super::health::{Health, Trouble};
use super::{AudioError, JitterBuffer, Playout, VoiceDecoder, FRAME_SAMPLES};
use crate::ids::SessionId;
use std::collections::{HashMap, VecDeque};

/// Played samples kept for the echo canceller at most (200 ms); older ones are dropped.
const REFERENCE_CAPACITY: usize = 10 * FRAME_SAMPLES;
/// Played samples the echo reference keeps in hand beyond the frame it gives (20 ms), so
/// that the microphone's frames, which come at their own moments, always find theirs. It
/// delays the reference a little against the speaker, well within the echo's own delay
/// (the speaker's and the microphone's buffers).
const REFERENCE_LEAD: usize = FRAME_SAMPLES;

/// One other member as heard here.
struct Heard {
    buffer: JitterBuffer,
    decoder: VoiceDecoder,
    talking: bool,
}

/// The speaker's side of a call: jitter buffers and decoders per talker, volumes, the mix.
pub struct Playback {
    heard: HashMap<SessionId, Heard>,
    volumes: HashMap<SessionId, f32>,
    deafened: bool,
    /// The frame being played, and how much of it has been.
    frame: Vec<f32>,
    played: usize,
    decoded: Vec<i16>,
    reference: VecDeque<f32>,
    /// Whether the reference has its lead (it waits for it at the start and after a gap).
    primed: bool,
    changes: Vec<(SessionId, bool)>,
    health: Health,
}

impl std::fmt::Debug for Playback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Playback").field("talkers", &self.heard.len()).field("deafened", &self.deafened).finish()
    }
}

impl Playback {
    /// Nobody heard yet; late and concealed frames are counted in `health`.
    pub fn new(health: Health) -> Playback {
        Playback {
            heard: HashMap::new(),
            volumes: HashMap::new(),
            deafened: false,
            frame: vec![0.0; FRAME_SAMPLES],
            played: FRAME_SAMPLES,
            decoded: Vec::with_capacity(FRAME_SAMPLES),
            reference: VecDeque::with_capacity(REFERENCE_CAPACITY + FRAME_SAMPLES),
            primed: false,
            changes: Vec::new(),
            health,
        }
    }

    /// Takes in frame number `frame` (an Opus packet) from `session`.
    pub fn push(&mut self, session: SessionId, frame: u32, packet: Vec<u8>) -> Result<(), AudioError> {
        let heard = match self.heard.entry(session) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => {
                entry.insert(Heard { buffer: JitterBuffer::default(), decoder: VoiceDecoder::new()?, talking: false })
            }
        };
        if heard.buffer.push(frame, packet) {
            self.health.count(Trouble::LateFrame, 1);
        }
        Ok(())
    }

    /// Sets how loud `session` plays (a linear factor).
    pub fn set_volume(&mut self, session: SessionId, volume: f32) {
        self.volumes.insert(session, volume);
    }

    /// Plays nothing (true) or everyone again.
    pub fn set_deafened(&mut self, deafened: bool) {
        self.deafened = deafened;
    }

    /// Forgets a member who left.
    pub fn forget(&mut self, session: SessionId) {
        self.heard.remove(&session);
        self.volumes.remove(&session);
    }

    /// Fills `out` with what to play next, taking frames from the jitter buffers as needed.
    pub fn fill(&mut self, out: &mut [f32]) {
        let mut filled = 0;
        while filled < out.len() {
            if self.played == self.frame.len() {
                self.next_frame();
            }
            let n = (out.len() - filled).min(self.frame.len() - self.played);
            let samples = &self.frame[self.played..self.played + n];
            out[filled..filled + n].copy_from_slice(samples);
            self.reference.extend(samples);
            self.played += n;
            filled += n;
        }
        let excess = self.reference.len().saturating_sub(REFERENCE_CAPACITY);
        self.health.count(Trouble::EchoReferenceDropped, excess as u64);
        self.reference.drain(..excess);
    }

    /// The oldest played samples not yet taken, into `into`: the echo canceller's reference
    /// for the next microphone frame. The played samples stay a steady distance behind the
    /// speaker, so the echo's delay the canceller learns stays put. That distance is set
    /// (at the start, and whenever the speaker fell behind the microphone) on a `current`
    /// frame, one just recorded rather than one of a backlog: only the last [`REFERENCE_LEAD`]
    /// and a frame of what played are kept, so the reference never comes after its echo.
    /// Until then silence stands in.
    pub fn take_reference(&mut self, into: &mut [f32], current: bool) {
        if !self.primed && current && self.reference.len() >= into.len() + REFERENCE_LEAD {
            let excess = self.reference.len() - into.len() - REFERENCE_LEAD;
            self.reference.drain(..excess);
            self.primed = true;
        }
        if !self.primed || self.reference.len() < into.len() {
            if self.primed {
                self.health.count(Trouble::EchoReferenceGap, 1);
                self.primed = false;
            }
            into.fill(0.0);
            return;
        }
        let n = into.len();
        for (slot, sample) in into.iter_mut().zip(self.reference.drain(..n)) {
            *slot = sample;
        }
    }

    /// Who started (true) or stopped talking since the last call.
    pub fn take_changes(&mut self) -> Vec<(SessionId, bool)> {
        std::mem::take(&mut self.changes)
    }

    /// Mixes the next 20 ms of everyone heard into `self.frame`.
    fn next_frame(&mut self) {
        self.frame.fill(0.0);
        self.played = 0;
        for (session, heard) in &mut self.heard {
            let packet = match heard.buffer.pop() {
                Playout::Frame(packet) => Some(packet),
                Playout::Conceal => {
                    self.health.count(Trouble::ConcealedFrame, 1);
                    None
                }
                Playout::Silence => {
                    if heard.talking {
                        heard.talking = false;
                        self.changes.push((*session, false));
                    }
                    continue;
                }
            };
            if !heard.talking {
                heard.talking = true;
                self.changes.push((*session, true));
            }
            if let Err(err) = heard.decoder.decode_into(packet.as_deref(), &mut self.decoded) {
                tracing::warn!("voice frame: {err}");
                continue;
            }
            if self.deafened {
                continue;
            }
            let volume = self.volumes.get(session).copied().unwrap_or(1.0) / 32_768.0;
            for (sum, sample) in self.frame.iter_mut().zip(&self.decoded) {
                *sum += f32::from(*sample) * volume;
            }
        }
        self.frame.iter_mut().for_each(|s| *s = s.clamp(-1.0, 1.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::audio::VoiceEncoder;

    fn tone(n: usize) -> Vec<i16> {
        (0..FRAME_SAMPLES).map(|i| (((n * FRAME_SAMPLES + i) as f32 * 0.0573).sin() * 8000.0) as i16).collect()
    }

    #[test]
    fn the_speaker_pulls_frames_in_any_chunk_size_and_keeps_them_as_the_reference() {
        let health = Health::default();
        let mut playback = Playback::new(health.clone());
        let mut encoder = VoiceEncoder::new().expect("encoder");
        let talker = SessionId(7);
        for n in 0..10 {
            playback.push(talker, n, encoder.encode(&tone(n as usize)).expect("encodes")).expect("pushed");
        }
        // Odd chunk sizes, as a device asks: 3 frames' worth in all.
        let mut played = Vec::new();
        for size in [100, 860, 1920] {
            let mut out = vec![1.0; size];
            playback.fill(&mut out);
            played.extend(out);
        }
        assert_eq!(played.len(), 3 * FRAME_SAMPLES);
        assert!(played.iter().any(|s| s.abs() > 0.05), "the tone plays");
        assert_eq!(playback.take_changes(), vec![(talker, true)]);
        let mut reference = vec![1.0; FRAME_SAMPLES];
        playback.take_reference(&mut reference, false);
        assert!(reference.iter().all(|s| *s == 0.0), "a frame from a backlog does not set the distance");
        playback.take_reference(&mut reference, true);
        assert_eq!(
            reference,
            played[FRAME_SAMPLES..2 * FRAME_SAMPLES],
            "what played, in order, keeping only a lead of one frame"
        );
        playback.take_reference(&mut reference, true);
        assert_eq!(reference, played[2 * FRAME_SAMPLES..]);
        playback.take_reference(&mut reference, true);
        assert!(reference.iter().all(|s| *s == 0.0), "silence when the speaker is behind");
        assert_eq!(health.report().echo_reference_gaps, 1);
        let mut first = vec![0.0; FRAME_SAMPLES];
        playback.fill(&mut first);
        playback.take_reference(&mut reference, true);
        assert!(reference.iter().all(|s| *s == 0.0), "it waits for its lead again");
        playback.fill(&mut vec![0.0; FRAME_SAMPLES]);
        playback.take_reference(&mut reference, true);
        assert_eq!(reference, first, "then gives the older frame");

        playback.set_volume(talker, 0.0);
        let mut out = vec![1.0; FRAME_SAMPLES];
        playback.fill(&mut out);
        assert!(out.iter().all(|s| *s == 0.0), "volume 0 plays nothing");
        playback.set_volume(talker, 1.0);
        playback.set_deafened(true);
        playback.fill(&mut out);
        assert!(out.iter().all(|s| *s == 0.0), "deafened plays nothing");
        assert_eq!(health.report().concealed_frames, 0);
    }

    #[test]
    fn a_missing_frame_is_concealed_and_a_late_one_counted() {
        let health = Health::default();
        let mut playback = Playback::new(health.clone());
        let mut encoder = VoiceEncoder::new().expect("encoder");
        let talker = SessionId(3);
        for n in [0, 1, 3] {
            playback.push(talker, n, encoder.encode(&tone(n as usize)).expect("encodes")).expect("pushed");
        }
        let mut out = vec![0.0; 3 * FRAME_SAMPLES];
        playback.fill(&mut out);
        playback.push(talker, 2, encoder.encode(&tone(2)).expect("encodes")).expect("pushed");
        let report = health.report();
        assert_eq!((report.concealed_frames, report.late_frames), (1, 1));
        // The reference never holds more than its capacity.
        let mut long = vec![0.0; REFERENCE_CAPACITY + 5 * FRAME_SAMPLES];
        playback.fill(&mut long);
        assert!(health.report().echo_reference_dropped > 0);
    }
}
