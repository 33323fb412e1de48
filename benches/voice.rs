//! Voice relay benchmark: `BENCH_MEMBERS` clients in one voice channel, `BENCH_TALKERS` of them
//! sending 50 packets a second (100-byte payloads, like 20 ms Opus frames) for `BENCH_SECONDS`.
//! The real release `itc-server` runs in its own process on 127.0.0.1. Prints forwarded packets
//! per second, server CPU seconds per 1,000 forwarded packets, added relay latency (p50/p99,
//! sender to receiver on one clock, loopback), loss, and the server's RSS.
//!
//! Environment: `BENCH_MEMBERS` (50, 2–400), `BENCH_TALKERS` (20, 1–members),
//! `BENCH_SECONDS` (10, 1–60), `ITC_SERVER_BIN` (default: the release `itc-server`).
//! Bounded: the run gives up after `BENCH_SECONDS` + 60 s.

mod common;

use common::{clock_ticks, default_server_bin, mib, proc_cpu, proc_memory, AnyResult, ServerProc};
use iptincan::client::media::MediaLink;
use iptincan::client::{Client, Target};
use iptincan::media::packet::{MediaHeader, StreamKind};
use iptincan::proto::ChannelKind;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PACKETS_PER_SECOND: u64 = 50;
const PAYLOAD: usize = 100;
const SERVER_TOML: &str = "[server]\nname = \"IPTinCan voice benchmark\"\nbind_address = \"127.0.0.1\"\ntcp_port = 0\nudp_port = 0\nrest_port = 0\nmax_users = 500\nlog_level = \"warn\"\n";

fn env_count(name: &str, default: u64, min: u64, max: u64) -> AnyResult<u64> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(text) => match text.trim().parse::<u64>() {
            Ok(value) if (min..=max).contains(&value) => Ok(value),
            _ => Err(format!("{name} must be a whole number from {min} to {max}, not {text:?}")),
        },
    }
}

/// What every member's receiver counts, shared.
#[derive(Default)]
struct Tally {
    measuring: AtomicBool,
    received: AtomicU64,
    latencies_us: Mutex<Vec<u32>>,
}

fn main() {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("bench voice: cannot start a runtime: {err}");
            std::process::exit(1);
        }
    };
    if let Err(err) = runtime.block_on(run()) {
        eprintln!("bench voice: {err}");
        std::process::exit(1);
    }
}

async fn run() -> AnyResult<()> {
    let members = env_count("BENCH_MEMBERS", 50, 2, 400)?;
    let talkers = env_count("BENCH_TALKERS", 20, 1, members)?;
    let seconds = env_count("BENCH_SECONDS", 10, 1, 60)?;
    let bin = match std::env::var_os("ITC_SERVER_BIN") {
        Some(path) => path.into(),
        None => default_server_bin()?,
    };
    let limit = Duration::from_secs(seconds + 60);
    tokio::time::timeout(limit, measure(bin, members, talkers, seconds))
        .await
        .map_err(|_| format!("gave up after {} s", limit.as_secs()))?
}

async fn measure(bin: std::path::PathBuf, members: u64, talkers: u64, seconds: u64) -> AnyResult<()> {
    let mut server = ServerProc::start(SERVER_TOML, "itc-bench-voice-", &bin)?;
    let pid = server.pid.to_string();
    let target = Target::parse(&server.code).map_err(|err| err.to_string())?;
    let admin = Client::connect(&target, None).await.map_err(|err| err.to_string())?;
    admin.login("chatter", "chatter").await.map_err(|err| err.to_string())?;
    admin.change_password("chatter", "benchmark-admin").await.map_err(|err| err.to_string())?;
    let channel = admin.create_channel("bench", None, ChannelKind::Voice).await.map_err(|err| err.to_string())?.id;

    println!("bench voice: {members} members, {talkers} talking at {PACKETS_PER_SECOND} packets/s, {seconds} s");
    let mut joined = Vec::new();
    for n in 0..members {
        let client = Client::connect(&target, None).await.map_err(|err| err.to_string())?;
        client.register(&format!("voice-{n}"), "benchmark-pass").await.map_err(|err| err.to_string())?;
        let device_key = iptincan::e2e::DeviceKey::generate().public_base64();
        let session = client.join_voice(channel, &device_key).await.map_err(|err| err.to_string())?;
        let link = MediaLink::open(client.host(), &session).await.map_err(|err| err.to_string())?;
        joined.push((client, link));
    }

    let epoch = Instant::now();
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    let mut clients = Vec::new();
    for (index, (client, mut link)) in joined.into_iter().enumerate() {
        clients.push(client);
        let (tally, stop) = (tally.clone(), stop.clone());
        let talking = (index as u64) < talkers;
        tasks.push(tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_millis(1000 / PACKETS_PER_SECOND));
            let mut frame = 0u32;
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                tokio::select! {
                    _ = ticker.tick(), if talking => {
                        let mut payload = vec![0u8; PAYLOAD];
                        payload[..8].copy_from_slice(&(epoch.elapsed().as_nanos() as u64).to_be_bytes());
                        let header = MediaHeader { source: 0, stream: StreamKind::Voice, flags: 0, frame, fragment: 0, fragments: 1 };
                        frame = frame.wrapping_add(1);
                        let _ = link.send(header, &payload).await;
                    }
                    received = link.recv() => {
                        let Ok((_, payload)) = received else { break };
                        if tally.measuring.load(Ordering::Relaxed) && payload.len() >= 8 {
                            let mut sent = [0u8; 8];
                            sent.copy_from_slice(&payload[..8]);
                            let latency = epoch.elapsed().as_nanos() as u64 - u64::from_be_bytes(sent);
                            latencies.push((latency / 1000) as u32);
                        }
                    }
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
            }
            tally.received.fetch_add(latencies.len() as u64, Ordering::Relaxed);
            tally.latencies_us.lock().unwrap_or_else(|p| p.into_inner()).extend(latencies);
        }));
    }

    tokio::time::sleep(Duration::from_secs(1)).await;
    let ticks = clock_ticks();
    let cpu_before = proc_cpu(&pid, ticks).unwrap_or(0.0);
    let bench_before = proc_cpu("self", ticks).unwrap_or(0.0);
    tally.measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    tally.measuring.store(false, Ordering::Relaxed);
    let window = started.elapsed().as_secs_f64();
    let cpu = proc_cpu(&pid, ticks).unwrap_or(0.0) - cpu_before;
    let bench_cpu = proc_cpu("self", ticks).unwrap_or(0.0) - bench_before;
    let memory = proc_memory(&pid);
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        let _ = task.await;
    }
    drop(clients);

    let received = tally.received.load(Ordering::Relaxed);
    let expected = talkers * PACKETS_PER_SECOND * (members - 1) * seconds;
    let mut latencies = std::mem::take(&mut *tally.latencies_us.lock().unwrap_or_else(|p| p.into_inner()));
    latencies.sort_unstable();
    let percentile = |q: f64| {
        latencies.get(((latencies.len() as f64 - 1.0) * q).round() as usize).map_or(0.0, |us| f64::from(*us) / 1000.0)
    };
    println!();
    println!("== IPTinCan voice relay benchmark ==");
    println!("members / talkers:             {members} / {talkers} at {PACKETS_PER_SECOND} packets/s, {PAYLOAD}-byte payloads");
    println!(
        "forwarded packets received:    {received} of {expected} expected ({:.2}% loss)",
        100.0 * (1.0 - received as f64 / expected.max(1) as f64)
    );
    println!("forwarded packets/s:           {:.0}", received as f64 / window);
    println!(
        "relay latency (ms):            p50 {:.3}  p99 {:.3}  max {:.3}",
        percentile(0.50),
        percentile(0.99),
        percentile(1.0)
    );
    println!("server CPU:                    {cpu:.2} s in {window:.1} s ({:.0}% of one core)", 100.0 * cpu / window);
    println!("server CPU per 1,000 packets:  {:.2} ms", 1_000_000.0 * cpu / received.max(1) as f64);
    println!("bench (clients) CPU:           {bench_cpu:.2} s");
    if let Some((peak, now)) = memory {
        println!("server RSS:                    {:.1} MiB (peak {:.1} MiB)", mib(now), mib(peak));
    }
    println!("server:                        {}", server.stop());
    Ok(())
}
