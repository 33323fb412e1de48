//! Chat under attack: legitimate members chat while strangers hold the connection slots and
//! guess passwords; measures the members' deliveries per second and latency, and how long a
//! fresh login takes, first without and then with the attacks.
//!
//! Runs the release `itc-server` in its own process on 127.0.0.1 (see `common`). The attacks,
//! each from loopback addresses of its own (127.0.0.x, bound before connecting), as in issue 18:
//! 500 connections that never start the TLS handshake (100 addresses; reopened when the
//! server closes them), 300 that say `hello` and never log in (60 addresses; reopened),
//! 200 logged-in connections of one account that sit idle (20 addresses), and a wrong
//! password for `ann` once a second from one address. Meanwhile `BENCH_MEMBERS` members send
//! `BENCH_RATE` messages a second each to #general, and `ann` logs in with her password from
//! 127.0.0.1 every 500 ms.
//!
//! Environment: `BENCH_MEMBERS` (20), `BENCH_RATE` (10, at most 19), `BENCH_SECONDS` per phase
//! (10), `ITC_SERVER_BIN`. Ends with one `RESULT` line. Run with `scripts/bench-abuse`.

mod common;

use common::{default_server_bin, AnyResult, ResultLine, ServerProc};
use iptincan::client::{Client, Target};
use iptincan::proto::{ChannelId, ErrorCode, Event};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PASSWORD: &str = "benchmark-pass";
/// The members are registered from one address before the attacks start, so the registration
/// limits are raised (the attacks measured here are the slot and password ones).
const SERVER_TOML: &str = r#"[auth]
registrations_per_address = 10000
registrations_per_server = 100000

[server]
name = "IPTinCan abuse benchmark"
bind_address = "127.0.0.1"
tcp_port = 0
udp_port = 0
rest_port = 0
max_users = 500
max_devices_per_account = 250
log_level = "warn"
"#;

fn env_number(name: &str, default: u64, max: u64) -> AnyResult<u64> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(text) => text
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|value| (1..=max).contains(value))
            .ok_or_else(|| format!("{name}={text:?}: expected a whole number from 1 to {max}")),
    }
}

fn loopback(last: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last as u8))
}

/// What the members saw in one phase.
#[derive(Default)]
struct Tally {
    delivered: AtomicU64,
    latencies_us: Mutex<Vec<u64>>,
    logins_us: Mutex<Vec<u64>>,
    logins_failed: AtomicU64,
    logins_throttled: AtomicU64,
}

fn percentile(values: &mut [u64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_unstable();
    let index = ((values.len() as f64 - 1.0) * p).round() as usize;
    values[index] as f64 / 1000.0
}

/// Keeps one silent TCP connection open from `from`, reopening it when the server closes it.
async fn hold_silent(from: IpAddr, to: SocketAddr, stop: Arc<AtomicBool>) {
    use tokio::io::AsyncReadExt;
    while !stop.load(Ordering::Relaxed) {
        let Ok(socket) = tokio::net::TcpSocket::new_v4() else { return };
        if socket.bind(SocketAddr::new(from, 0)).is_err() {
            return;
        }
        if let Ok(Ok(mut tcp)) = tokio::time::timeout(Duration::from_secs(5), socket.connect(to)).await {
            let mut byte = [0u8; 1];
            let _ = tokio::time::timeout(Duration::from_secs(30), tcp.read(&mut byte)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Keeps one connection that said hello open from `from`, reopening it when it closes.
async fn hold_hello(target: Target, from: IpAddr, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        if let Ok(mut client) = Client::connect_from(&target, None, Some(from)).await {
            let _ = tokio::time::timeout(Duration::from_secs(30), client.next_event()).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn guess_passwords(target: Target, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        if let Ok(client) = Client::connect_from(&target, None, Some(loopback(230))).await {
            let _ = client.login("ann", "not-her-password").await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// One member for one phase: sends at `rate` until `until`, and counts every message of the
/// phase it receives until 2 s after; returns the client for the next phase.
async fn chat(
    member: Client,
    general: ChannelId,
    rate: u64,
    epoch: Instant,
    until: Instant,
    tally: Arc<Tally>,
) -> Client {
    let mut member = member;
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    let drain_until = tokio::time::Instant::from_std(until + Duration::from_secs(2));
    loop {
        tokio::select! {
            _ = tick.tick(), if Instant::now() < until => {
                let _ = member.send(general, &format!("t={}", epoch.elapsed().as_micros())).await;
            }
            event = member.next_event() => match event {
                Some(Event::MessageCreated(message)) => {
                    if let Some(sent) = message.body.strip_prefix("t=").and_then(|t| t.parse::<u64>().ok()) {
                        let now = epoch.elapsed().as_micros() as u64;
                        tally.delivered.fetch_add(1, Ordering::Relaxed);
                        tally.latencies_us.lock().unwrap_or_else(|p| p.into_inner()).push(now.saturating_sub(sent));
                    }
                }
                Some(_) => {}
                None => return member,
            },
            _ = tokio::time::sleep_until(drain_until) => return member,
        }
    }
}

/// `ann` logs in with her password from 127.0.0.1 every 500 ms until `until`.
async fn log_in_again_and_again(target: Target, until: Instant, tally: Arc<Tally>) {
    while Instant::now() < until {
        let started = Instant::now();
        let login = match Client::connect(&target, None).await {
            Ok(client) => client.login("ann", PASSWORD).await.map(drop),
            Err(err) => Err(err),
        };
        match login {
            Ok(()) => {
                let took = started.elapsed().as_micros() as u64;
                tally.logins_us.lock().unwrap_or_else(|p| p.into_inner()).push(took);
            }
            Err(err) if err.code() == Some(ErrorCode::RateLimited) => {
                tally.logins_throttled.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                tally.logins_failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// One phase's figures, named as in the `RESULT` line (without the phase's prefix).
type Figures = Vec<(&'static str, f64, usize)>;

/// One phase; returns the members and its figures: deliveries/s, message latency, login time,
/// and logins that succeeded, were throttled (`rate_limited`, the password guesser's doing
/// until login throttling spares other addresses) or failed otherwise (could not connect).
/// A percentile of nothing (no login succeeded, say) is NaN: printed as such, left out of
/// the `RESULT` line.
async fn phase(
    target: &Target,
    members: Vec<Client>,
    general: ChannelId,
    rate: u64,
    seconds: u64,
) -> (Vec<Client>, Figures) {
    let tally = Arc::new(Tally::default());
    let epoch = Instant::now();
    let until = epoch + Duration::from_secs(seconds);
    let logins = tokio::spawn(log_in_again_and_again(target.clone(), until, tally.clone()));
    let tasks: Vec<_> =
        members.into_iter().map(|m| tokio::spawn(chat(m, general, rate, epoch, until, tally.clone()))).collect();
    let mut members = Vec::new();
    for task in tasks {
        if let Ok(member) = task.await {
            members.push(member);
        }
    }
    let _ = logins.await;
    let delivered = tally.delivered.load(Ordering::Relaxed) as f64 / seconds as f64;
    let mut latencies = std::mem::take(&mut *tally.latencies_us.lock().unwrap_or_else(|p| p.into_inner()));
    let mut logins = std::mem::take(&mut *tally.logins_us.lock().unwrap_or_else(|p| p.into_inner()));
    let figures = vec![
        ("deliveries_per_s", delivered, 0),
        ("p50_ms", percentile(&mut latencies, 0.5), 2),
        ("p99_ms", percentile(&mut latencies, 0.99), 2),
        ("login_p50_ms", percentile(&mut logins, 0.5), 1),
        ("login_p99_ms", percentile(&mut logins, 0.99), 1),
        ("logins_ok", logins.len() as f64, 0),
        ("logins_throttled", tally.logins_throttled.load(Ordering::Relaxed) as f64, 0),
        ("logins_failed", tally.logins_failed.load(Ordering::Relaxed) as f64, 0),
    ];
    (members, figures)
}

async fn run() -> AnyResult<ResultLine> {
    let members_wanted = env_number("BENCH_MEMBERS", 20, 200)? as usize;
    let rate = env_number("BENCH_RATE", 10, 19)?;
    let seconds = env_number("BENCH_SECONDS", 10, 600)?;
    let bin = match std::env::var("ITC_SERVER_BIN") {
        Ok(path) => path.into(),
        Err(_) => default_server_bin()?,
    };
    let server = ServerProc::start(SERVER_TOML, "itc-bench-abuse-", &bin)?;
    let target = Target::parse(&server.code).map_err(|e| e.to_string())?;
    let control: SocketAddr = server.control.parse().map_err(|e| format!("control address {}: {e}", server.control))?;
    let register = |name: String| {
        let target = target.clone();
        async move {
            let client = Client::connect(&target, None).await.map_err(|e| e.to_string())?;
            let session = client.register(&name, PASSWORD).await.map_err(|e| format!("register {name}: {e}"))?;
            Ok::<_, String>((client, session.token))
        }
    };
    register("ann".into()).await?;
    let (_mallory, token) = register("mallory".into()).await?;
    let mut members = Vec::new();
    for i in 0..members_wanted {
        members.push(register(format!("member{i}")).await?.0);
    }
    let general = members[0].find_channel("general").await.map_err(|e| e.to_string())?.id;

    println!("phase 1: {members_wanted} members chat at {rate}/s each for {seconds} s, no attack");
    let (members, quiet) = phase(&target, members, general, rate, seconds).await;
    println!("  {}", show(&quiet));

    let stop = Arc::new(AtomicBool::new(false));
    let mut idle = Vec::new();
    for i in 0..200 {
        if let Ok(client) = Client::connect_from(&target, None, Some(loopback(10 + i / 10))).await {
            if client.resume(&token).await.is_ok() {
                idle.push(client);
            }
        }
    }
    let mut attackers = Vec::new();
    for i in 0..500 {
        attackers.push(tokio::spawn(hold_silent(loopback(40 + i / 5), control, stop.clone())));
    }
    for i in 0..300 {
        attackers.push(tokio::spawn(hold_hello(target.clone(), loopback(150 + i / 5), stop.clone())));
    }
    attackers.push(tokio::spawn(guess_passwords(target.clone(), stop.clone())));
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!("phase 2: the same while {} idle devices, 500 silent and 300 hello-only connections and a password guesser push", idle.len());
    let (_members, attacked) = phase(&target, members, general, rate, seconds).await;
    println!("  {}", show(&attacked));
    stop.store(true, Ordering::Relaxed);
    for attacker in attackers {
        attacker.abort();
    }
    let mut result = ResultLine::default();
    for (prefix, figures) in [("quiet", &quiet), ("attack", &attacked)] {
        for &(name, value, decimals) in figures {
            result.add(&format!("{prefix}_{name}"), value, decimals);
        }
    }
    result.add("idle_devices", idle.len() as f64, 0);
    Ok(result)
}

/// A phase's figures as `name=value` pairs, for the log.
fn show(figures: &Figures) -> String {
    figures.iter().map(|&(name, value, decimals)| format!("{name}={value:.decimals$}")).collect::<Vec<_>>().join(" ")
}

fn main() {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("bench abuse: {err}");
            std::process::exit(1);
        }
    };
    match runtime.block_on(async { tokio::time::timeout(Duration::from_secs(600), run()).await }) {
        Ok(Ok(result)) => println!("{result}"),
        Ok(Err(err)) => {
            eprintln!("bench abuse: {err}");
            std::process::exit(1);
        }
        Err(_) => {
            eprintln!("bench abuse: gave up after 600 s");
            std::process::exit(1);
        }
    }
}
