//! The speaker queue's level, sans-IO: what the audio thread adds each frame, kept as low as
//! the speaker's timing allows and no lower.
//!
//! Too deep, everything plays late: every speaker underrun plays silence that the samples
//! behind it then wait for, a burst from the microphone (a device that stalled and caught up)
//! adds several frames at once, and a speaker that has not started yet (sound servers take a
//! second or two) takes nothing while frames arrive. Too shallow, the speaker finds the queue
//! empty and plays a gap in the speech. So the level before each new frame is held at
//! [`SLACK`]: a speaker that took nothing while [`IDLE_FRAMES`] frames were added gets only
//! what it takes at once when it starts, plus the slack; a level that nearly ran dry gets
//! silence added up to the slack; and the lowest level of each [`WINDOW`] above the slack is
//! standing delay, cut at the next chance. Every change is made between talk spurts (nobody is
//! heard, and what is cut or added around is silence), so no speech is lost or broken and a
//! spurt keeps its timing, as in the jitter buffer. The cap still drops sound when the speaker
//! takes samples too slowly during speech.

use super::FRAME_SAMPLES;
use std::collections::VecDeque;

/// Frames over which the lowest level is taken (0.5 s).
pub const WINDOW: u32 = 25;
/// Samples waiting in the queue when a new frame comes (13 ms): the speaker rides out a late
/// audio thread, and callbacks that take more than a frame at once (PulseAudio's ALSA plugin
/// alternates 640 and 1,280 samples). Measured through PulseAudio with 10 ms microphone
/// periods: with 20 ms of slack, mouth-to-ear took 104-137 ms; with 13 ms, 97-110 ms, and no
/// more underruns in speech on a loaded machine (three busy processes on two cores).
pub const SLACK: usize = 2 * FRAME_SAMPLES / 3;
/// Samples queued at most (60 ms) beyond the frame being added and the device's own buffer.
pub const CAP: usize = 3 * FRAME_SAMPLES;
/// Frames added in a row while the speaker took nothing after which it counts as not
/// playing (one is a late callback).
pub const IDLE_FRAMES: u32 = 2;
/// Loudest sample that counts as silence when cutting or adding (-60 dBFS).
const SILENT: f32 = 0.001;

/// What [`PlayLevel::push`] changed besides adding the frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Adjusted {
    /// Samples dropped because the queue was over its cap (sound lost).
    pub over_cap: usize,
    /// Samples of silence cut because they were standing delay (nothing lost).
    pub cut: usize,
    /// Samples of silence added because the queue nearly ran dry.
    pub added: usize,
}

/// Watches one speaker queue's level (one per call).
#[derive(Debug)]
pub struct PlayLevel {
    start_take: usize,
    lowest: usize,
    frames: u32,
    standing: usize,
    after_last_push: Option<usize>,
    idle_frames: u32,
}

impl PlayLevel {
    /// Watches a queue whose speaker takes `start_take` samples at once when it starts
    /// ([`super::devices::SPEAKER_START_SAMPLES`]).
    pub fn new(start_take: usize) -> PlayLevel {
        PlayLevel { start_take, lowest: usize::MAX, frames: 0, standing: 0, after_last_push: None, idle_frames: 0 }
    }

    /// Adds one frame to the back of `queue` (which the speaker empties from the front), then
    /// takes out what is over the cap, and when `between_spurts` (nobody is heard in this
    /// frame) cuts standing silence or adds silence up to the slack.
    pub fn push(&mut self, queue: &mut VecDeque<f32>, frame: &[f32], between_spurts: bool) -> Adjusted {
        let before = queue.len();
        let took_nothing = self.after_last_push.is_some_and(|after| before >= after);
        self.idle_frames = if took_nothing { self.idle_frames + 1 } else { 0 };
        queue.extend(frame);
        let mut adjusted = Adjusted::default();
        if self.idle_frames >= IDLE_FRAMES {
            let keep = self.start_take + SLACK;
            adjusted.cut = cut_silence(queue, queue.len().saturating_sub(keep), between_spurts);
            self.restart_window();
        } else if before < SLACK / 2 && between_spurts && silent(frame) {
            adjusted.added = SLACK - before;
            queue.extend(std::iter::repeat_n(0.0, adjusted.added));
            self.restart_window();
        } else {
            self.lowest = self.lowest.min(queue.len());
            self.frames += 1;
            if self.frames == WINDOW {
                self.standing = self.lowest.saturating_sub(frame.len() + SLACK);
                self.restart_window();
            }
            adjusted.cut = cut_silence(queue, self.standing.min(queue.len()), between_spurts);
        }
        if adjusted.cut > 0 || adjusted.added > 0 {
            self.standing = 0;
        }
        adjusted.over_cap = queue.len().saturating_sub(CAP + frame.len());
        queue.drain(..adjusted.over_cap);
        self.after_last_push = Some(queue.len());
        adjusted
    }

    fn restart_window(&mut self) {
        (self.lowest, self.frames) = (usize::MAX, 0);
    }
}

fn silent<'a>(samples: impl IntoIterator<Item = &'a f32>) -> bool {
    samples.into_iter().all(|sample| sample.abs() < SILENT)
}

/// Cuts `count` samples from the front of `queue` if that is allowed now and they are all
/// silence; returns how many were cut.
fn cut_silence(queue: &mut VecDeque<f32>, count: usize, between_spurts: bool) -> usize {
    if !between_spurts || count == 0 || !silent(queue.iter().take(count)) {
        return 0;
    }
    queue.drain(..count);
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A speaker that takes two frames when it starts.
    const START: usize = 2 * FRAME_SAMPLES;
    const SPEECH: [f32; FRAME_SAMPLES] = [0.25; FRAME_SAMPLES];
    const QUIET: [f32; FRAME_SAMPLES] = [0.0; FRAME_SAMPLES];

    /// A speaker that takes one frame each time.
    fn play(queue: &mut VecDeque<f32>) {
        let take = FRAME_SAMPLES.min(queue.len());
        queue.drain(..take);
    }

    /// A queue at its level, and a window of frames played through it.
    fn steady() -> (PlayLevel, VecDeque<f32>) {
        let (mut level, mut queue) = (PlayLevel::new(START), VecDeque::from(vec![0.0; SLACK]));
        for _ in 0..WINDOW {
            assert_eq!(level.push(&mut queue, &QUIET, true), Adjusted::default());
            play(&mut queue);
        }
        (level, queue)
    }

    #[test]
    fn a_queue_at_the_slack_is_left_alone() {
        let (mut level, mut queue) = steady();
        for _ in 0..5 * WINDOW {
            assert_eq!(level.push(&mut queue, &SPEECH, false), Adjusted::default());
            assert_eq!(queue.len(), FRAME_SAMPLES + SLACK);
            play(&mut queue);
            assert_eq!(level.push(&mut queue, &QUIET, true), Adjusted::default());
            play(&mut queue);
        }
    }

    #[test]
    fn a_burst_of_silence_is_cut_back_to_the_slack() {
        let (mut level, mut queue) = steady();
        // Three frames at once (the microphone caught up after a stall): the third finds the
        // speaker idle, and the window finds the rest standing.
        let mut cut = 0;
        for _ in 0..3 {
            cut += level.push(&mut queue, &QUIET, true).cut;
        }
        for _ in 0..2 * WINDOW {
            play(&mut queue);
            cut += level.push(&mut queue, &QUIET, true).cut;
        }
        assert_eq!(cut, 2 * FRAME_SAMPLES);
        for _ in 0..3 * WINDOW {
            play(&mut queue);
            assert_eq!(level.push(&mut queue, &QUIET, true), Adjusted::default(), "cut once, then steady");
            assert_eq!(queue.len(), FRAME_SAMPLES + SLACK);
        }
    }

    #[test]
    fn a_speaker_that_has_not_started_gets_what_it_takes_at_start_and_the_slack() {
        let mut level = PlayLevel::new(START);
        let mut queue = VecDeque::new();
        for _ in 0..3 * WINDOW {
            assert_eq!(level.push(&mut queue, &QUIET, true).over_cap, 0);
            assert!(queue.len() <= START + SLACK + FRAME_SAMPLES);
        }
        assert_eq!(queue.len(), START + SLACK);
        // It starts: it takes what it takes at once, and from then on one frame each time.
        queue.drain(..START);
        for _ in 0..3 * WINDOW {
            assert_eq!(level.push(&mut queue, &SPEECH, false), Adjusted::default());
            assert_eq!(queue.len(), FRAME_SAMPLES + SLACK, "never empty, and nothing standing");
            play(&mut queue);
        }
    }

    #[test]
    fn a_queue_that_ran_dry_gets_the_slack_back_between_spurts_only() {
        let (mut level, mut queue) = steady();
        // The speaker took more than it was given: the level before a frame is 0.
        queue.clear();
        assert_eq!(level.push(&mut queue, &SPEECH, false).added, 0, "not during speech");
        play(&mut queue);
        assert_eq!(level.push(&mut queue, &QUIET, true).added, SLACK);
        for _ in 0..3 * WINDOW {
            play(&mut queue);
            assert_eq!(level.push(&mut queue, &QUIET, true), Adjusted::default());
            assert_eq!(queue.len(), FRAME_SAMPLES + SLACK);
        }
    }

    #[test]
    fn standing_speech_waits_for_a_pause() {
        let (mut level, mut queue) = steady();
        level.push(&mut queue, &SPEECH, false);
        let mut spoken = 0;
        for _ in 0..2 * WINDOW {
            assert_eq!(level.push(&mut queue, &SPEECH, false).cut, 0, "speech is never cut");
            spoken += FRAME_SAMPLES.min(queue.len());
            play(&mut queue);
        }
        assert_eq!(spoken, 2 * WINDOW as usize * FRAME_SAMPLES);
        // The pause reaches the front of the queue two frames later, and is cut then.
        for _ in 0..2 {
            assert_eq!(level.push(&mut queue, &QUIET, true).cut, 0);
            play(&mut queue);
        }
        assert_eq!(level.push(&mut queue, &QUIET, true).cut, FRAME_SAMPLES);
    }

    #[test]
    fn standing_delay_built_in_a_spurt_is_cut_after_it() {
        let (mut level, mut queue) = steady();
        // Two frames at once during speech: one more than the slack stands for good.
        for _ in 0..2 {
            level.push(&mut queue, &SPEECH, false);
        }
        for _ in 0..2 * WINDOW {
            level.push(&mut queue, &SPEECH, false);
            play(&mut queue);
        }
        let mut cut = 0;
        for _ in 0..2 * WINDOW {
            cut += level.push(&mut queue, &QUIET, true).cut;
            play(&mut queue);
        }
        assert_eq!(cut, 2 * FRAME_SAMPLES);
    }

    #[test]
    fn a_pause_inside_a_spurt_keeps_its_length() {
        let (mut level, mut queue) = steady();
        level.push(&mut queue, &QUIET, false);
        for _ in 0..3 * WINDOW {
            assert_eq!(level.push(&mut queue, &QUIET, false), Adjusted::default());
            play(&mut queue);
        }
        assert_eq!(level.push(&mut queue, &QUIET, true).cut, FRAME_SAMPLES, "cut once it ends");
    }

    #[test]
    fn a_speaker_that_sometimes_takes_two_frames_keeps_its_depth() {
        let (mut level, mut queue) = steady();
        for n in 0..5 * WINDOW {
            // Now and then (more often than a window) the speaker takes two frames at once
            // and then none: the level dips to nothing, and the slack comes back.
            let adjusted = level.push(&mut queue, &QUIET, true);
            assert_eq!(adjusted.cut, 0, "frame {n}");
            assert!(queue.len() >= FRAME_SAMPLES + SLACK, "frame {n}");
            play(&mut queue);
            if n % 20 == 7 {
                play(&mut queue);
            }
        }
    }

    #[test]
    fn over_the_cap_is_dropped_even_when_it_is_speech() {
        let (mut level, mut queue) = steady();
        let mut dropped = 0;
        for _ in 0..CAP / FRAME_SAMPLES + 1 {
            dropped += level.push(&mut queue, &SPEECH, false).over_cap;
        }
        assert_eq!(dropped, SLACK, "the slack and four frames are more than the cap and a frame");
        assert_eq!(queue.len(), CAP + FRAME_SAMPLES);
    }
}
