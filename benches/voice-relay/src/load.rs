//! The voice load, the same for every server: `members` endpoints in one channel, the first
//! `talkers` of them sending a 100-byte frame every 20 ms (like Opus), their phases spread
//! evenly over the 20 ms as real, unsynchronised speakers are. Every frame carries its send
//! time, so each receiver measures the latency it added on one clock. Also reads the server's
//! CPU and memory from /proc around the measured window, and names a run's figures for the
//! `RESULT` line.

use crate::common::{clock_ticks, mib, proc_cpu, proc_memory, AnyResult, ResultLine};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Frames a talker sends per second.
pub const PACKETS_PER_SECOND: u64 = 50;
/// Bytes of (opaque) voice payload per frame.
pub const PAYLOAD: usize = 100;
/// Time between a talker's frames.
const FRAME_INTERVAL: Duration = Duration::from_millis(1000 / PACKETS_PER_SECOND);
/// Load before the measured window starts.
const WARM_UP: Duration = Duration::from_secs(1);

/// One member's connection to the server under test: sends a voice payload, receives the
/// payloads others sent.
pub trait VoiceEndpoint: Send + 'static {
    /// Sends one voice frame with this payload.
    fn send(&mut self, payload: &[u8]) -> impl Future<Output = AnyResult<()>> + Send;
    /// The payload of the next voice frame that arrives.
    fn recv(&mut self) -> impl Future<Output = AnyResult<Vec<u8>>> + Send;
}

/// How much load to offer.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub members: u64,
    pub talkers: u64,
    pub seconds: u64,
}

impl Load {
    /// Forwarded packets expected in the measured window.
    pub fn expected(&self) -> u64 {
        self.talkers * PACKETS_PER_SECOND * (self.members - 1) * self.seconds
    }
}

/// What one run measured.
pub struct Measured {
    pub received: u64,
    pub window: Duration,
    /// Sorted, in microseconds.
    pub latencies_us: Vec<u32>,
    /// Server CPU seconds in the window.
    pub server_cpu: f64,
    /// This process's CPU seconds in the window (the load generator).
    pub load_cpu: f64,
    /// Server (peak, current) RSS in KiB.
    pub server_memory: Option<(u64, u64)>,
}

impl Measured {
    pub fn packets_per_second(&self) -> f64 {
        self.received as f64 / self.window.as_secs_f64()
    }

    /// Server CPU milliseconds per 1,000 forwarded packets.
    pub fn cpu_ms_per_1000(&self) -> f64 {
        1_000_000.0 * self.server_cpu / self.received.max(1) as f64
    }

    /// A latency percentile in milliseconds (`q` from 0 to 1).
    pub fn latency_ms(&self, q: f64) -> f64 {
        let index = ((self.latencies_us.len() as f64 - 1.0) * q).round() as usize;
        self.latencies_us.get(index).map_or(0.0, |us| f64::from(*us) / 1000.0)
    }

    /// Forwarded packets lost, in percent of those `load` should have delivered.
    pub fn loss_percent(&self, load: &Load) -> f64 {
        100.0 * (1.0 - self.received as f64 / load.expected().max(1) as f64)
    }

    /// Adds the headline figures to `result`, each name starting with `prefix`.
    pub fn add_to(&self, result: &mut ResultLine, prefix: &str, load: &Load) {
        result.add(&format!("{prefix}_forwarded_per_s"), self.packets_per_second(), 0);
        result.add(&format!("{prefix}_loss_pct"), self.loss_percent(load), 2);
        result.add(&format!("{prefix}_p50_ms"), self.latency_ms(0.50), 3);
        result.add(&format!("{prefix}_p99_ms"), self.latency_ms(0.99), 3);
        result.add(&format!("{prefix}_cpu_ms_per_1000"), self.cpu_ms_per_1000(), 2);
        if let Some((peak, now)) = self.server_memory {
            result.add(&format!("{prefix}_rss_mib"), mib(now), 1);
            result.add(&format!("{prefix}_peak_rss_mib"), mib(peak), 1);
        }
    }
}

/// Latencies seen by every receiver, collected at the end.
#[derive(Default)]
struct Tally {
    measuring: AtomicBool,
    latencies_us: Mutex<Vec<u32>>,
}

/// Runs `load` through `endpoints` (one per member, talkers first) against the server process
/// `server_pid`, and measures it.
pub async fn drive<E: VoiceEndpoint>(endpoints: Vec<E>, load: Load, server_pid: u32) -> AnyResult<Measured> {
    let epoch = Instant::now();
    let start = tokio::time::Instant::now() + Duration::from_millis(50);
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (index, endpoint) in endpoints.into_iter().enumerate() {
        let index = index as u64;
        let first_frame =
            (index < load.talkers).then(|| start + FRAME_INTERVAL.mul_f64(index as f64 / load.talkers as f64));
        tasks.push(tokio::spawn(member(endpoint, first_frame, epoch, tally.clone(), stop.clone())));
    }

    tokio::time::sleep_until(start + WARM_UP).await;
    let pid = server_pid.to_string();
    let ticks = clock_ticks();
    let server_before = proc_cpu(&pid, ticks).ok_or("cannot read the server's CPU time")?;
    let load_before = proc_cpu("self", ticks).unwrap_or(0.0);
    tally.measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(load.seconds)).await;
    tally.measuring.store(false, Ordering::Relaxed);
    let window = started.elapsed();
    let server_cpu = proc_cpu(&pid, ticks).ok_or("cannot read the server's CPU time")? - server_before;
    let load_cpu = proc_cpu("self", ticks).unwrap_or(0.0) - load_before;
    let server_memory = proc_memory(&pid);
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.map_err(|err| format!("a member task failed: {err}"))?;
    }
    let mut latencies_us = std::mem::take(&mut *tally.latencies_us.lock().unwrap_or_else(|p| p.into_inner()));
    latencies_us.sort_unstable();
    Ok(Measured { received: latencies_us.len() as u64, window, latencies_us, server_cpu, load_cpu, server_memory })
}

/// One member: talks from `first_frame` on (if a talker), and times every frame it hears.
async fn member<E: VoiceEndpoint>(
    mut endpoint: E,
    first_frame: Option<tokio::time::Instant>,
    epoch: Instant,
    tally: Arc<Tally>,
    stop: Arc<AtomicBool>,
) {
    let talking = first_frame.is_some();
    let mut ticker = tokio::time::interval_at(first_frame.unwrap_or_else(tokio::time::Instant::now), FRAME_INTERVAL);
    let mut payload = vec![0u8; PAYLOAD];
    let mut latencies = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        tokio::select! {
            _ = ticker.tick(), if talking => {
                payload[..8].copy_from_slice(&(epoch.elapsed().as_nanos() as u64).to_be_bytes());
                let _ = endpoint.send(&payload).await;
            }
            received = endpoint.recv() => {
                let Ok(frame) = received else { break };
                let Some(sent) = frame.get(..8).and_then(|bytes| <[u8; 8]>::try_from(bytes).ok()) else { continue };
                if tally.measuring.load(Ordering::Relaxed) {
                    let latency_ns = (epoch.elapsed().as_nanos() as u64).saturating_sub(u64::from_be_bytes(sent));
                    latencies.push(u32::try_from(latency_ns / 1000).unwrap_or(u32::MAX));
                }
            }
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
    tally.latencies_us.lock().unwrap_or_else(|p| p.into_inner()).extend(latencies);
}
