//! A jitter buffer per talker, sans-IO: it plays frames in order, conceals lost ones, and
//! the caller pulls one frame every 20 ms.
//!
//! Its depth adapts: a talk spurt starts after [`START_DEPTH`] frames, one frame less after
//! every [`CALM_FRAMES`] played with no frame arriving late (down to [`MIN_DEPTH`]: on loopback
//! or a quiet LAN one frame of lead is enough), one frame more each time a frame does arrive
//! late (up to [`MAX_DEPTH`]). A spurt keeps the timing it started with (a late frame is
//! concealed and dropped, a pause is played as silence), so the lead changes only between spurts
//! and never stretches or squeezes speech.

use std::collections::BTreeMap;

/// Frames buffered before the first talk spurt plays (40 ms).
pub const START_DEPTH: usize = 2;
/// The least lead the buffer adapts down to (20 ms).
pub const MIN_DEPTH: usize = 1;
/// The most lead it adapts up to (120 ms).
pub const MAX_DEPTH: usize = 6;
/// Frames played without a late one after which the lead shrinks by a frame (10 s).
pub const CALM_FRAMES: u32 = 500;
/// Frames held at most; older ones are dropped.
const JITTER_CAPACITY: usize = 50;
/// Concealed frames in a row after which the talker counts as gone.
const CONCEAL_LIMIT: u32 = 10;

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

/// Reorders one talker's frames by frame number and releases one per 20 ms tick, after an
/// adaptive lead of [`JitterBuffer::depth`] frames.
#[derive(Debug)]
pub struct JitterBuffer {
    frames: BTreeMap<u32, Vec<u8>>,
    next: Option<u32>,
    concealed_in_a_row: u32,
    depth: usize,
    calm: u32,
}

impl Default for JitterBuffer {
    fn default() -> JitterBuffer {
        JitterBuffer { frames: BTreeMap::new(), next: None, concealed_in_a_row: 0, depth: START_DEPTH, calm: 0 }
    }
}

impl JitterBuffer {
    /// A buffer whose first talk spurt starts after `lead` frames (kept within [`MIN_DEPTH`]
    /// and [`MAX_DEPTH`]): a recording, where latency does not matter, takes the most.
    pub fn with_lead(lead: usize) -> JitterBuffer {
        JitterBuffer { depth: lead.clamp(MIN_DEPTH, MAX_DEPTH), ..JitterBuffer::default() }
    }

    /// The lead (in frames) the next talk spurt starts with.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// Takes in a frame; late (already played) frames and duplicates are ignored. Returns
    /// whether the frame came late: after its turn, which was concealed.
    pub fn push(&mut self, frame: u32, packet: Vec<u8>) -> bool {
        if let Some(next) = self.next.filter(|next| frame < *next) {
            let late = next - frame <= MAX_DEPTH as u32;
            if late {
                // Played as concealment a moment ago: the path needs more lead.
                self.depth = (self.depth + 1).min(MAX_DEPTH);
                self.calm = 0;
            }
            return late;
        }
        self.frames.entry(frame).or_insert(packet);
        while self.frames.len() > JITTER_CAPACITY {
            self.frames.pop_first();
        }
        false
    }

    /// What to play now (call once per [`FRAME_DURATION`](super::FRAME_DURATION)).
    pub fn pop(&mut self) -> Playout {
        let next = match self.next {
            Some(next) => next,
            None if self.frames.len() >= self.depth => match self.frames.keys().next() {
                Some(first) => *first,
                None => return Playout::Silence,
            },
            None => return Playout::Silence,
        };
        if let Some(packet) = self.frames.remove(&next) {
            self.next = Some(next.wrapping_add(1));
            self.concealed_in_a_row = 0;
            self.calm += 1;
            if self.calm >= CALM_FRAMES {
                self.calm = 0;
                self.depth = (self.depth - 1).max(MIN_DEPTH);
            }
            return Playout::Frame(packet);
        }
        self.next = Some(next.wrapping_add(1));
        if self.frames.is_empty() && self.concealed_in_a_row >= CONCEAL_LIMIT {
            self.next = None;
            self.concealed_in_a_row = 0;
            return Playout::Silence;
        }
        self.concealed_in_a_row += 1;
        Playout::Conceal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_buffer_reorders_conceals_and_goes_quiet() {
        let mut buffer = JitterBuffer::default();
        assert_eq!(buffer.pop(), Playout::Silence);
        buffer.push(11, vec![11]);
        assert_eq!(buffer.pop(), Playout::Silence, "still filling");
        buffer.push(10, vec![10]);
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
        assert_eq!(buffer.depth(), START_DEPTH + 1, "12 came late");
    }

    #[test]
    fn a_late_frame_is_dropped_and_deepens_the_next_spurt() {
        let mut buffer = JitterBuffer::default();
        buffer.push(1, vec![1]);
        buffer.push(2, vec![2]);
        assert_eq!(buffer.pop(), Playout::Frame(vec![1]));
        assert_eq!(buffer.pop(), Playout::Frame(vec![2]));
        assert_eq!(buffer.pop(), Playout::Conceal, "3 is late");
        assert!(buffer.push(3, vec![3]), "3 came late");
        assert!(!buffer.push(4, vec![4]), "4 is in time");
        assert_eq!(buffer.pop(), Playout::Frame(vec![4]), "the spurt keeps its timing");
        assert_eq!(buffer.depth(), START_DEPTH + 1);
    }

    #[test]
    fn a_recording_buffer_waits_for_its_whole_lead() {
        let mut buffer = JitterBuffer::with_lead(MAX_DEPTH);
        for frame in 1..MAX_DEPTH as u32 {
            buffer.push(frame, vec![frame as u8]);
            assert_eq!(buffer.pop(), Playout::Silence, "{frame} frames are less than the lead");
        }
        buffer.push(MAX_DEPTH as u32, vec![0]);
        assert_eq!(buffer.pop(), Playout::Frame(vec![1]));
        assert_eq!(JitterBuffer::with_lead(100).depth(), MAX_DEPTH, "the lead is capped");
    }

    #[test]
    fn a_steady_path_shrinks_the_lead_to_one_frame_and_jitter_grows_it() {
        let mut buffer = JitterBuffer::default();
        for frame in 0..CALM_FRAMES * 3 {
            buffer.push(frame, vec![0]);
            assert_ne!(buffer.pop(), Playout::Conceal, "frame {frame}");
        }
        assert_eq!(buffer.depth(), MIN_DEPTH);
        // Then, talk spurt after talk spurt, a frame comes one tick late.
        let mut frame = CALM_FRAMES * 10;
        for spurt in 0..MAX_DEPTH + 2 {
            let depth = buffer.depth();
            for _ in 0..depth {
                buffer.push(frame, vec![0]);
                frame += 1;
            }
            assert_eq!(buffer.pop(), Playout::Frame(vec![0]), "spurt {spurt} starts after {depth} frames");
            while buffer.pop() != Playout::Conceal {}
            buffer.push(frame, vec![0]);
            while buffer.pop() != Playout::Silence {}
            frame += 100;
        }
        assert_eq!(buffer.depth(), MAX_DEPTH);
    }
}
