//! Chat fan-out benchmark: many connected clients in #general, a few of them sending at a fixed
//! rate; measures deliveries per second, end-to-end latency, and the server's memory and CPU.
//!
//! Runs the real release `itc-server` binary as a separate process (so its RSS and CPU are its
//! own) on 127.0.0.1 with a throw-away data directory, connects with the connection code it
//! prints (the code pins the certificate), registers `BENCH_CLIENTS` users, and lets
//! `BENCH_SENDERS` of them send `BENCH_RATE` messages a second each for a warm-up of
//! `BENCH_WARMUP` seconds plus `BENCH_SECONDS` measured seconds. Every client (senders too)
//! counts the `message_created` events it receives; a message body carries the send time in
//! nanoseconds since a clock shared by all clients of this process, so end-to-end latency is
//! receive time − send time on one monotonic clock.
//!
//! Environment:
//! - `BENCH_CLIENTS` (200, at most 500), `BENCH_SENDERS` (10), `BENCH_RATE` messages per second
//!   per sender (15; at most 19, the server allows 20 per user), `BENCH_SECONDS` (10),
//!   `BENCH_WARMUP` (1), `BENCH_REGISTER_CONCURRENCY` (8);
//! - `ITC_SERVER_BIN`: the server binary [default: `itc-server` next to this bench's folder,
//!   i.e. `target/release/itc-server`].
//!
//! The whole run is bounded by `BENCH_SECONDS + 60` s (setup included, plus 2 s per 10 clients
//! over 200); past that it prints what it has and exits non-zero.
//!
//! A run that completes ends with one `RESULT` line on stdout (clients, senders, deliveries/s,
//! delivered %, latency p50/p90/p99, dropped events, the server's peak RSS and CPU); a failed run
//! prints its partial figures without it and exits non-zero.
//!
//! Run with `scripts/bench-chat` (or `cargo build --release --bins && cargo bench --bench chat`).

mod common;

use common::{
    clock_ticks, default_server_bin, mib, proc_cpu, proc_memory, reset_peak_rss, AnyResult, ResultLine, ServerProc,
};
use iptincan::client::{Client, Target};
use iptincan::proto::{ChannelId, ErrorCode, Event};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

const PASSWORD: &str = "benchmark-pass";
/// Most clients: the server is configured with `max_users = 500`.
const MAX_CLIENTS: usize = 500;
/// The server's per-user send throttle refills 20 a second; stay below it.
const MAX_RATE: f64 = 19.0;
/// How long to wait for every in-window message to reach every client after sending stops.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
struct Settings {
    clients: usize,
    senders: usize,
    rate: f64,
    seconds: f64,
    warmup: f64,
    register_concurrency: usize,
    server_bin: PathBuf,
}

fn env_number(name: &str, default: f64, min: f64, max: f64) -> AnyResult<f64> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(text) => match text.trim().parse::<f64>() {
            Ok(value) if value.is_finite() && (min..=max).contains(&value) => Ok(value),
            _ => Err(format!("{name}={text:?}: expected a number from {min} to {max}")),
        },
    }
}

impl Settings {
    fn from_env() -> AnyResult<Settings> {
        let clients = env_number("BENCH_CLIENTS", 200.0, 1.0, MAX_CLIENTS as f64)? as usize;
        let senders = env_number("BENCH_SENDERS", 10.0, 1.0, clients as f64)? as usize;
        let rate = env_number("BENCH_RATE", 15.0, 0.1, MAX_RATE).map_err(|err| {
            format!("{err} (the server throttles each user to 20 messages a second; raise BENCH_SENDERS for more load)")
        })?;
        let seconds = env_number("BENCH_SECONDS", 10.0, 1.0, 3600.0)?;
        let warmup = env_number("BENCH_WARMUP", 1.0, 0.0, 60.0)?;
        let register_concurrency = env_number("BENCH_REGISTER_CONCURRENCY", 8.0, 1.0, 64.0)? as usize;
        let server_bin = match std::env::var_os("ITC_SERVER_BIN") {
            Some(path) => PathBuf::from(path),
            None => default_server_bin()?,
        };
        Ok(Settings { clients, senders, rate, seconds, warmup, register_concurrency, server_bin })
    }

    /// The bound on the whole run.
    fn overall_timeout(&self) -> Duration {
        let extra_clients = self.clients.saturating_sub(200) as f64 / 10.0 * 2.0;
        Duration::from_secs_f64(self.seconds + self.warmup + 60.0 + extra_clients)
    }
}

const SERVER_TOML: &str = r#"[auth]
registrations_per_address = 10000
registrations_per_server = 100000
[server]
new_connections_per_minute = 100000
name = "IPTinCan chat benchmark"
bind_address = "127.0.0.1"
tcp_port = 0
udp_port = 0
rest_port = 0
max_users = 500
log_level = "warn"
"#;

// ---- shared measurement state ----------------------------------------------------------------

#[derive(Default)]
struct Marks {
    /// Nanoseconds since `epoch`.
    window_start: u64,
    window_end: u64,
    setup_seconds: Option<f64>,
    setup_peak_kib: Option<u64>,
    setup_rss_kib: Option<u64>,
    peak_reset: bool,
    server_cpu_window: Option<(f64, f64)>,
    bench_cpu_window: Option<(f64, f64)>,
    drain_seconds: Option<f64>,
    phase: &'static str,
    first_send_error: Option<String>,
    first_close: Option<String>,
}

struct State {
    settings: Settings,
    epoch: Instant,
    server_pid: String,
    ticks: f64,
    marks: Mutex<Marks>,
    registered: AtomicU64,
    sent_total: AtomicU64,
    sent_in_window: AtomicU64,
    send_errors: AtomicU64,
    send_rate_limited: AtomicU64,
    /// Deliveries of messages sent inside the window (any receive time).
    delivered_window_sent: AtomicU64,
    /// Deliveries received inside the window (any send time).
    delivered_window_received: AtomicU64,
    delivered_total: AtomicU64,
    other_events: AtomicU64,
    closed_connections: AtomicU64,
    dropped_events: AtomicU64,
    senders_done: AtomicBool,
    /// Senders that have not yet finished their last send.
    senders_active: AtomicU64,
    /// End-to-end latency in µs of in-window messages, one vector per client.
    latencies: Vec<Mutex<Vec<u32>>>,
    /// Send → reply round trip in µs, in-window sends.
    send_rtts: Mutex<Vec<u32>>,
}

impl State {
    fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    fn marks(&self) -> std::sync::MutexGuard<'_, Marks> {
        self.marks.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_phase(&self, phase: &'static str) {
        self.marks().phase = phase;
    }
}

// ---- clients -------------------------------------------------------------------------------

fn body(sender: usize, seq: u64, sent_ns: u64) -> String {
    format!("bench {sender} {seq} {sent_ns}")
}

fn parse_sent_ns(body: &str) -> Option<u64> {
    let mut parts = body.split(' ');
    if parts.next()? != "bench" {
        return None;
    }
    parts.nth(2)?.parse().ok()
}

struct Receiver {
    index: usize,
    channel_id: ChannelId,
    state: Arc<State>,
    window: (u64, u64),
    samples: Vec<u32>,
}

impl Receiver {
    fn on_event(&mut self, event: Event) {
        let received_ns = self.state.now_ns();
        let Event::MessageCreated(message) = event else {
            self.state.other_events.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if message.channel_id != self.channel_id {
            self.state.other_events.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let Some(sent_ns) = parse_sent_ns(&message.body) else {
            self.state.other_events.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let (start, end) = self.window;
        self.state.delivered_total.fetch_add(1, Ordering::Relaxed);
        if (start..end).contains(&received_ns) {
            self.state.delivered_window_received.fetch_add(1, Ordering::Relaxed);
        }
        if (start..end).contains(&sent_ns) {
            self.state.delivered_window_sent.fetch_add(1, Ordering::Relaxed);
            let micros = received_ns.saturating_sub(sent_ns) / 1000;
            self.samples.push(micros.min(u32::MAX as u64) as u32);
            if self.samples.len() >= 256 {
                self.flush();
            }
        }
    }

    fn flush(&mut self) {
        if let Some(slot) = self.state.latencies.get(self.index) {
            slot.lock().unwrap_or_else(|p| p.into_inner()).append(&mut self.samples);
        }
    }

    fn closed(&mut self, what: String) {
        self.state.closed_connections.fetch_add(1, Ordering::Relaxed);
        let mut marks = self.state.marks();
        if marks.first_close.is_none() {
            marks.first_close = Some(what);
        }
    }
}

enum Step {
    Stop,
    Send,
    Event(Option<Box<Event>>),
}

/// One client: reads events until told to stop; a sender also sends on its schedule.
/// Returns the client's dropped-event count.
async fn run_client(
    mut client: Client,
    mut receiver: Receiver,
    schedule: Option<(tokio::time::Instant, Duration, tokio::time::Instant)>,
    mut stop: watch::Receiver<bool>,
) -> u64 {
    let state = receiver.state.clone();
    let sender = receiver.index;
    let (start, end) = receiver.window;
    let (mut next_send, period, send_until) = match schedule {
        Some((first, period, until)) => (first, period, Some(until)),
        None => (tokio::time::Instant::now(), Duration::ZERO, None),
    };
    let mut sending = send_until.is_some();
    let mut seq = 0u64;
    loop {
        let step = tokio::select! {
            biased;
            _ = stop.changed() => Step::Stop,
            _ = tokio::time::sleep_until(next_send), if sending => Step::Send,
            event = client.next_event() => Step::Event(event.map(Box::new)),
        };
        match step {
            Step::Stop => break,
            Step::Event(Some(event)) => receiver.on_event(*event),
            Step::Event(None) => {
                receiver.closed(format!(
                    "client {} lost its connection (dropped events so far: {})",
                    receiver.index,
                    client.dropped_events()
                ));
                break;
            }
            Step::Send => {
                let now = tokio::time::Instant::now();
                if send_until.is_some_and(|until| now >= until) {
                    sending = false;
                    state.senders_active.fetch_sub(1, Ordering::Relaxed);
                    continue;
                }
                seq += 1;
                let sent_ns = state.now_ns();
                let result = client.send(receiver.channel_id, &body(sender, seq, sent_ns)).await;
                let rtt_us = (state.now_ns().saturating_sub(sent_ns) / 1000) as u32;
                match result {
                    Ok(_) => {
                        state.sent_total.fetch_add(1, Ordering::Relaxed);
                        if (start..end).contains(&sent_ns) {
                            state.sent_in_window.fetch_add(1, Ordering::Relaxed);
                            state.send_rtts.lock().unwrap_or_else(|p| p.into_inner()).push(rtt_us);
                        }
                    }
                    Err(err) => {
                        state.send_errors.fetch_add(1, Ordering::Relaxed);
                        if err.code() == Some(ErrorCode::RateLimited) {
                            state.send_rate_limited.fetch_add(1, Ordering::Relaxed);
                        }
                        let mut marks = state.marks();
                        if marks.first_send_error.is_none() {
                            marks.first_send_error = Some(format!("sender {sender}: {err}"));
                        }
                    }
                }
                // Fixed schedule; when late, skip ahead instead of bursting (never exceeds the rate).
                next_send += period;
                let now = tokio::time::Instant::now();
                if next_send < now {
                    next_send = now;
                }
            }
        }
    }
    if sending {
        state.senders_active.fetch_sub(1, Ordering::Relaxed);
    }
    receiver.flush();
    let dropped = client.dropped_events();
    state.dropped_events.fetch_add(dropped, Ordering::Relaxed);
    dropped
}

async fn register_all(state: &Arc<State>, target: &Target) -> AnyResult<Vec<Client>> {
    let count = state.settings.clients;
    let permits = Arc::new(tokio::sync::Semaphore::new(state.settings.register_concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..count {
        let (permits, target, state) = (permits.clone(), target.clone(), state.clone());
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let name = format!("bench-user-{index}");
            let client = Client::connect(&target, None).await.map_err(|err| format!("{name}: connect: {err}"))?;
            client.register(&name, PASSWORD).await.map_err(|err| format!("{name}: register: {err}"))?;
            state.registered.fetch_add(1, Ordering::Relaxed);
            Ok::<_, String>((index, client))
        });
    }
    let mut clients: Vec<Option<Client>> = (0..count).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        let (index, client) = joined.map_err(|err| format!("registration task failed: {err}"))??;
        clients[index] = Some(client);
    }
    clients.into_iter().enumerate().map(|(i, c)| c.ok_or_else(|| format!("client {i} missing"))).collect()
}

async fn run(state: Arc<State>, code: String) -> AnyResult<()> {
    let settings = state.settings.clone();
    let target = Target::parse(&code).map_err(|err| format!("connection code: {err}"))?;

    state.set_phase("registering users");
    let setup_started = Instant::now();
    let clients = register_all(&state, &target).await?;
    let channel = clients[0].find_channel("general").await.map_err(|err| format!("find #general: {err}"))?;
    {
        let mut marks = state.marks();
        marks.setup_seconds = Some(setup_started.elapsed().as_secs_f64());
        let memory = proc_memory(&state.server_pid);
        marks.setup_peak_kib = memory.map(|(hwm, _)| hwm);
        marks.setup_rss_kib = memory.map(|(_, rss)| rss);
        marks.peak_reset = reset_peak_rss(&state.server_pid);
    }
    println!(
        "setup: {} users registered and connected in {:.1} s; #general is channel {}",
        clients.len(),
        setup_started.elapsed().as_secs_f64(),
        channel.id
    );

    // Timeline, on the shared clock.
    let lead = Duration::from_millis(300);
    let now_ns = state.now_ns();
    let send_start_ns = now_ns + lead.as_nanos() as u64;
    let window_start_ns = send_start_ns + (settings.warmup * 1e9) as u64;
    let window_end_ns = window_start_ns + (settings.seconds * 1e9) as u64;
    {
        let mut marks = state.marks();
        marks.window_start = window_start_ns;
        marks.window_end = window_end_ns;
    }
    let at = |ns: u64| tokio::time::Instant::from_std(state.epoch + Duration::from_nanos(ns));
    let period = Duration::from_secs_f64(1.0 / settings.rate);

    let (stop_tx, stop_rx) = watch::channel(false);
    state.senders_active.store(settings.senders as u64, Ordering::Relaxed);
    let mut tasks = tokio::task::JoinSet::new();
    for (index, client) in clients.into_iter().enumerate() {
        let schedule = (index < settings.senders).then(|| {
            // Stagger the senders evenly over one period.
            let offset = period.mul_f64(index as f64 / settings.senders as f64);
            (at(send_start_ns) + offset, period, at(window_end_ns))
        });
        let receiver = Receiver {
            index,
            channel_id: channel.id,
            state: state.clone(),
            window: (window_start_ns, window_end_ns),
            samples: Vec::with_capacity(512),
        };
        tasks.spawn(run_client(client, receiver, schedule, stop_rx.clone()));
    }

    state.set_phase("warming up");
    tokio::time::sleep_until(at(window_start_ns)).await;
    let server_cpu0 = proc_cpu(&state.server_pid, state.ticks);
    let bench_cpu0 = proc_cpu("self", state.ticks);
    state.set_phase("measuring");
    tokio::time::sleep_until(at(window_end_ns)).await;
    let server_cpu1 = proc_cpu(&state.server_pid, state.ticks);
    let bench_cpu1 = proc_cpu("self", state.ticks);
    {
        let mut marks = state.marks();
        marks.server_cpu_window = server_cpu0.zip(server_cpu1);
        marks.bench_cpu_window = bench_cpu0.zip(bench_cpu1);
    }
    state.senders_done.store(true, Ordering::Relaxed);

    // Let the last sends finish and the in-window messages arrive everywhere (bounded).
    state.set_phase("draining");
    let drain_started = Instant::now();
    while state.senders_active.load(Ordering::Relaxed) > 0 && drain_started.elapsed() < DRAIN_TIMEOUT {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let receivers = settings.clients as u64;
    let (mut last, mut last_change) = (u64::MAX, Instant::now());
    while drain_started.elapsed() < DRAIN_TIMEOUT {
        let expected = state.sent_in_window.load(Ordering::Relaxed) * receivers;
        let delivered = state.delivered_window_sent.load(Ordering::Relaxed);
        if delivered >= expected {
            break;
        }
        if delivered != last {
            (last, last_change) = (delivered, Instant::now());
        } else if last_change.elapsed() > Duration::from_secs(3) {
            break; // nothing more is coming (lost connections or lost messages)
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    state.marks().drain_seconds = Some(drain_started.elapsed().as_secs_f64());

    state.set_phase("stopping clients");
    let _ = stop_tx.send(true);
    let stop_deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !tasks.is_empty() {
        match tokio::time::timeout_at(stop_deadline, tasks.join_next()).await {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(_) => {
                tasks.abort_all();
                break;
            }
        }
    }
    state.set_phase("done");
    Ok(())
}

// ---- report ----------------------------------------------------------------------------------

fn percentile(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64 / 1000.0
}

/// Prints the figures, and returns them as the `RESULT` line.
fn report(state: &State) -> ResultLine {
    let s = &state.settings;
    let mut result = ResultLine::default();
    let marks = state.marks();
    // A run cut short (timeout, Ctrl-C) is measured up to now.
    let window_end = marks.window_end.min(state.now_ns());
    let window = if marks.window_start == 0 { 0.0 } else { window_end.saturating_sub(marks.window_start) as f64 / 1e9 };
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let sent_window = load(&state.sent_in_window);
    let expected = sent_window * s.clients as u64;
    let delivered = load(&state.delivered_window_sent);
    let received_in_window = load(&state.delivered_window_received);
    let mut latencies: Vec<u32> =
        state.latencies.iter().flat_map(|slot| slot.lock().unwrap_or_else(|p| p.into_inner()).clone()).collect();
    latencies.sort_unstable();
    let mut rtts = state.send_rtts.lock().unwrap_or_else(|p| p.into_inner()).clone();
    rtts.sort_unstable();
    let per_s = |n: u64| {
        if window > 0.0 {
            n as f64 / window
        } else {
            f64::NAN
        }
    };

    let delivered_pct = if expected > 0 { delivered as f64 * 100.0 / expected as f64 } else { 0.0 };
    result.add("clients", s.clients as f64, 0);
    result.add("senders", s.senders as f64, 0);
    result.add("deliveries_per_s", per_s(received_in_window), 0);
    result.add("delivered_pct", delivered_pct, 2);
    result.add("p50_ms", percentile(&latencies, 0.50), 2);
    result.add("p90_ms", percentile(&latencies, 0.90), 2);
    result.add("p99_ms", percentile(&latencies, 0.99), 2);
    result.add("dropped_events", load(&state.dropped_events) as f64, 0);

    println!();
    println!("== IPTinCan chat benchmark ==");
    println!("phase reached:                {}", marks.phase);
    println!("clients (receivers):          {}", s.clients);
    println!(
        "senders:                      {} x {} msg/s for {} s (+{} s warm-up)",
        s.senders, s.rate, s.seconds, s.warmup
    );
    if let Some(setup) = marks.setup_seconds {
        println!("setup (register + connect):   {setup:.1} s");
    } else {
        println!("users registered:             {} of {}", load(&state.registered), s.clients);
    }
    println!(
        "messages sent:                {} in window ({:.1}/s offered, {:.0}/s target), {} total incl. warm-up",
        sent_window,
        per_s(sent_window),
        s.senders as f64 * s.rate,
        load(&state.sent_total)
    );
    println!(
        "send errors:                  {} ({} rate-limited){}",
        load(&state.send_errors),
        load(&state.send_rate_limited),
        marks.first_send_error.as_ref().map(|e| format!("; first: {e}")).unwrap_or_default()
    );
    println!(
        "deliveries received:          {} of {} expected (window messages x {} receivers) = {:.2}%",
        delivered, expected, s.clients, delivered_pct
    );
    println!(
        "deliveries/s:                 {:.0}  (events received during the {:.1} s window / window)",
        per_s(received_in_window),
        window
    );
    if let Some(drain) = marks.drain_seconds {
        println!("drain after last send:        {drain:.2} s");
    }
    println!(
        "end-to-end latency (ms):      p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}  ({} samples)",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.90),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0),
        latencies.len()
    );
    println!(
        "send round trip (ms):         p50 {:.2}  p99 {:.2}  max {:.2}  (send_message -> reply, includes the durable commit)",
        percentile(&rtts, 0.50),
        percentile(&rtts, 0.99),
        percentile(&rtts, 1.0)
    );
    println!("events dropped by clients:    {}", load(&state.dropped_events));
    println!(
        "connections lost:             {}{}",
        load(&state.closed_connections),
        marks.first_close.as_ref().map(|e| format!("; first: {e}")).unwrap_or_default()
    );
    println!("other events (presence etc.): {}", load(&state.other_events));
    match proc_memory(&state.server_pid) {
        Some((hwm, rss)) => {
            let label =
                if marks.peak_reset { "server peak RSS (chat phase): " } else { "server peak RSS (whole run):  " };
            println!("{label}{:.1} MiB", mib(hwm));
            result.add("peak_rss_mib", mib(hwm), 1);
            println!("server current RSS:           {:.1} MiB", mib(rss));
        }
        None => println!("server RSS:                   unavailable (server not running)"),
    }
    if let Some(setup_peak) = marks.setup_peak_kib {
        println!(
            "server peak RSS during setup: {:.1} MiB (Argon2 hashing of {} concurrent registrations)",
            mib(setup_peak),
            s.register_concurrency
        );
    }
    if let Some(setup_rss) = marks.setup_rss_kib {
        println!("server RSS when chat began:   {:.1} MiB", mib(setup_rss));
    }
    if let Some((a, b)) = marks.server_cpu_window {
        println!("server CPU in window:         {:.2} s ({:.0}% of one core)", b - a, (b - a) / window * 100.0);
        result.add("server_cpu_pct", (b - a) / window * 100.0, 0);
    }
    if let Some(total) = proc_cpu(&state.server_pid, state.ticks) {
        println!("server CPU whole run:         {total:.2} s");
    }
    if let Some((a, b)) = marks.bench_cpu_window {
        println!(
            "bench (client side) CPU:      {:.2} s in window ({:.0}% of one core)",
            b - a,
            (b - a) / window * 100.0
        );
    }
    result
}

fn main() {
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("bench chat: {err}");
            std::process::exit(2);
        }
    };
    println!(
        "bench chat: server {}; {} clients, {} senders x {} msg/s, {} s (+{} s warm-up); overall limit {} s",
        settings.server_bin.display(),
        settings.clients,
        settings.senders,
        settings.rate,
        settings.seconds,
        settings.warmup,
        settings.overall_timeout().as_secs()
    );
    let overall = settings.overall_timeout();
    let started = Instant::now();
    let mut server = match ServerProc::start(SERVER_TOML, "itc-bench-chat-", &settings.server_bin) {
        Ok(server) => server,
        Err(err) => {
            eprintln!("bench chat: {err}");
            std::process::exit(1);
        }
    };
    println!(
        "server pid {} listening on {} (started in {:.1} s)",
        server.pid,
        server.control,
        started.elapsed().as_secs_f64()
    );

    let state = Arc::new(State {
        latencies: (0..settings.clients).map(|_| Mutex::default()).collect(),
        settings,
        epoch: Instant::now(),
        server_pid: server.pid.to_string(),
        ticks: clock_ticks(),
        marks: Mutex::default(),
        registered: AtomicU64::new(0),
        sent_total: AtomicU64::new(0),
        sent_in_window: AtomicU64::new(0),
        send_errors: AtomicU64::new(0),
        send_rate_limited: AtomicU64::new(0),
        delivered_window_sent: AtomicU64::new(0),
        delivered_window_received: AtomicU64::new(0),
        delivered_total: AtomicU64::new(0),
        other_events: AtomicU64::new(0),
        closed_connections: AtomicU64::new(0),
        dropped_events: AtomicU64::new(0),
        senders_done: AtomicBool::new(false),
        senders_active: AtomicU64::new(0),
        send_rtts: Mutex::default(),
    });
    state.set_phase("starting");

    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("bench chat: cannot start the async runtime: {err}");
            std::process::exit(1);
        }
    };
    let remaining = overall.saturating_sub(started.elapsed());
    let outcome: AnyResult<()> = runtime.block_on(async {
        tokio::select! {
            result = tokio::time::timeout(remaining, run(state.clone(), server.code.clone())) => match result {
                Ok(result) => result,
                Err(_) => Err(format!("timed out after {} s (overall limit); partial figures follow", overall.as_secs())),
            },
            _ = tokio::signal::ctrl_c() => Err("interrupted".to_string()),
        }
    });
    let result = report(&state);
    // Clients close with the runtime; then stop the server.
    runtime.shutdown_timeout(Duration::from_secs(2));
    let stopped = server.stop();
    println!("server:                       {stopped}");
    let lines = server.stderr_count();
    println!("server stderr lines:          {lines}");
    if lines > 0 {
        print!("{}", server.stderr_text(10));
    }
    drop(server); // removes the data directory
    let failed = match outcome {
        Err(err) => {
            eprintln!("bench chat: FAILED: {err}");
            true
        }
        Ok(()) => !state.senders_done.load(Ordering::Relaxed),
    };
    if failed {
        std::process::exit(1);
    }
    println!("{result}");
}
