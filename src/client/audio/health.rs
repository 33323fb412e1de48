//! The live audio path's trouble counters: where sound was lost or delayed, counted by the
//! device callbacks and the audio thread with relaxed atomics (no lock, no allocation), and
//! read as a [`HealthReport`] by whoever wants to know why a call sounded bad.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The counters one live call shares between its threads; clones count into the same ones.
#[derive(Debug, Clone, Default)]
pub struct Health {
    counters: Arc<Counters>,
}

/// One counter per [`Trouble`], indexed by it.
type Counters = [AtomicU64; Trouble::COUNT];

/// What went wrong so far in a live call, by where. In JSON an object with these fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct HealthReport {
    /// Speaker callbacks that found fewer samples waiting than the device asked for (the gap
    /// played as silence): the audio thread fed the speaker too late.
    pub speaker_underruns: u64,
    /// Underruns the sound system reported on the speaker (ALSA's xrun): the speaker's own
    /// thread ran too late.
    pub speaker_xruns: u64,
    /// Speaker samples dropped because more were waiting than the queue holds: the speaker
    /// took them too slowly.
    pub speaker_samples_dropped: u64,
    /// Overruns the sound system reported on the microphone (ALSA's xrun).
    pub microphone_xruns: u64,
    /// Microphone chunks dropped because the audio thread's queue was full.
    pub microphone_chunks_dropped: u64,
    /// Microphone samples dropped because the audio thread was more than its backlog behind.
    pub microphone_samples_dropped: u64,
    /// Times the microphone delivered nothing for a while and silence stood in for it.
    pub microphone_stalls: u64,
    /// Received frames that arrived after their turn to play (concealed instead).
    pub late_frames: u64,
    /// Frames played as loss concealment (lost or late).
    pub concealed_frames: u64,
    /// Encoded frames dropped because the network side was behind.
    pub frames_not_sent: u64,
    /// Frames whose processing (mix, echo cancellation, suppression, Opus) took longer than a
    /// frame lasts.
    pub slow_frames: u64,
}

/// The counters, by name, for [`Health::count`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Trouble {
    /// See [`HealthReport::speaker_underruns`].
    SpeakerUnderrun,
    /// See [`HealthReport::speaker_xruns`].
    SpeakerXrun,
    /// See [`HealthReport::speaker_samples_dropped`].
    SpeakerSamplesDropped,
    /// See [`HealthReport::microphone_xruns`].
    MicrophoneXrun,
    /// See [`HealthReport::microphone_chunks_dropped`].
    MicrophoneChunkDropped,
    /// See [`HealthReport::microphone_samples_dropped`].
    MicrophoneSamplesDropped,
    /// See [`HealthReport::microphone_stalls`].
    MicrophoneStall,
    /// See [`HealthReport::late_frames`].
    LateFrame,
    /// See [`HealthReport::concealed_frames`].
    ConcealedFrame,
    /// See [`HealthReport::frames_not_sent`].
    FrameNotSent,
    /// See [`HealthReport::slow_frames`].
    SlowFrame,
}

impl Trouble {
    const COUNT: usize = Trouble::SlowFrame as usize + 1;
}

impl Health {
    /// Adds `n` to the counter of `trouble`.
    pub fn count(&self, trouble: Trouble, n: u64) {
        if n > 0 {
            self.counters[trouble as usize].fetch_add(n, Ordering::Relaxed);
        }
    }

    /// The counts so far.
    pub fn report(&self) -> HealthReport {
        let get = |trouble: Trouble| self.counters[trouble as usize].load(Ordering::Relaxed);
        HealthReport {
            speaker_underruns: get(Trouble::SpeakerUnderrun),
            speaker_xruns: get(Trouble::SpeakerXrun),
            speaker_samples_dropped: get(Trouble::SpeakerSamplesDropped),
            microphone_xruns: get(Trouble::MicrophoneXrun),
            microphone_chunks_dropped: get(Trouble::MicrophoneChunkDropped),
            microphone_samples_dropped: get(Trouble::MicrophoneSamplesDropped),
            microphone_stalls: get(Trouble::MicrophoneStall),
            late_frames: get(Trouble::LateFrame),
            concealed_frames: get(Trouble::ConcealedFrame),
            frames_not_sent: get(Trouble::FrameNotSent),
            slow_frames: get(Trouble::SlowFrame),
        }
    }
}

impl std::fmt::Display for HealthReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "speaker underruns {}, xruns {}, samples dropped {}; microphone xruns {}, chunks dropped {}, \
             samples dropped {}, stalls {}; late frames {}, concealed {}; not sent {}; slow frames {}",
            self.speaker_underruns,
            self.speaker_xruns,
            self.speaker_samples_dropped,
            self.microphone_xruns,
            self.microphone_chunks_dropped,
            self.microphone_samples_dropped,
            self.microphone_stalls,
            self.late_frames,
            self.concealed_frames,
            self.frames_not_sent,
            self.slow_frames
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_count_into_the_same_counters() {
        let health = Health::default();
        let callback = health.clone();
        callback.count(Trouble::SpeakerUnderrun, 1);
        callback.count(Trouble::SpeakerUnderrun, 1);
        health.count(Trouble::LateFrame, 3);
        health.count(Trouble::SlowFrame, 0);
        let report = health.report();
        assert_eq!((report.speaker_underruns, report.late_frames, report.slow_frames), (2, 3, 0));
        assert_eq!(report, HealthReport { speaker_underruns: 2, late_frames: 3, ..HealthReport::default() });
    }
}
