//! A jitter buffer per talker, sans-IO: it plays frames in order, conceals lost ones, and
//! the caller pulls one frame every 20 ms.

use std::collections::BTreeMap;

/// Frames buffered before playout starts (60 ms).
pub const JITTER_DEPTH: usize = 3;
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
