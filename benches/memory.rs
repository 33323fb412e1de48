//! Memory benchmark: the release `itc-server`'s resident memory idle, per idle logged-in
//! connection, over an idle hold, and with every connection receiving a message a second.
//!
//! Runs the real release binary as its own process on 127.0.0.1 with a throw-away data
//! directory and reads its RSS from /proc at each step:
//! 0. idle after its first start (which also makes the certificate, keys and database), no
//!    client; then it is stopped and started again on the same data directory;
//! 1. idle after that second start, no client (how a server starts every day);
//! 2. after `BENCH_CONNECTIONS` distinct accounts were registered on `BENCH_REGISTER_CONCURRENCY`
//!    connections (one after another on each, logging out in between), then closed;
//! 3. with `BENCH_CONNECTIONS` TLS connections that said hello and logged in to those accounts,
//!    sitting idle (KB per connection = the growth from step 2, divided by the connections; the
//!    logins, `BENCH_REGISTER_CONCURRENCY` at a time, are in it);
//! 4. after holding them idle for `BENCH_HOLD` seconds (growth while nothing happens);
//! 5. after `BENCH_SECONDS` seconds of one of them sending a message a second to #general,
//!    which every connection receives.
//!
//! Environment: `BENCH_CONNECTIONS` (1000), `BENCH_REGISTER_CONCURRENCY` (8), `BENCH_HOLD`
//! (300), `BENCH_SECONDS` (30), `ITC_SERVER_BIN` (default `target/release/itc-server`).
//! The process needs about two open files per connection (`scripts/bench-memory` raises the
//! limit). A run that completes ends with one `RESULT` line on stdout; one that could not
//! measure exits non-zero.
//!
//! Run with `scripts/bench-memory`.

mod common;

use common::{default_server_bin, mib, proc_memory, AnyResult, ResultLine, ServerProc};
use iptincan::client::{Client, Target};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

const PASSWORD: &str = "benchmark-pass";
/// How long the server settles before its memory is read.
const SETTLE: Duration = Duration::from_secs(3);

const SERVER_TOML: &str = r#"[auth]
registrations_per_address = 10000
registrations_per_server = 100000
[server]
new_connections_per_minute = 100000
name = "IPTinCan memory benchmark"
bind_address = "127.0.0.1"
tcp_port = 0
udp_port = 0
rest_port = 0
max_users = 5000
log_level = "warn"
"#;

struct Settings {
    connections: usize,
    register_concurrency: usize,
    hold: Duration,
    seconds: u64,
    server_bin: PathBuf,
}

fn env_number(name: &str, default: u64) -> AnyResult<u64> {
    match std::env::var(name) {
        Ok(text) => text.trim().parse().map_err(|_| format!("{name} must be a whole number, not {text:?}")),
        Err(_) => Ok(default),
    }
}

impl Settings {
    fn from_env() -> AnyResult<Settings> {
        let server_bin = match std::env::var_os("ITC_SERVER_BIN") {
            Some(path) => PathBuf::from(path),
            None => default_server_bin()?,
        };
        Ok(Settings {
            connections: env_number("BENCH_CONNECTIONS", 1000)?.max(1) as usize,
            register_concurrency: env_number("BENCH_REGISTER_CONCURRENCY", 8)?.max(1) as usize,
            hold: Duration::from_secs(env_number("BENCH_HOLD", 300)?),
            seconds: env_number("BENCH_SECONDS", 30)?,
            server_bin,
        })
    }
}

/// The server's RSS in KiB after it settled.
async fn settled_rss(pid: &str, what: &str) -> AnyResult<u64> {
    tokio::time::sleep(SETTLE).await;
    let (_, rss) = proc_memory(pid).ok_or_else(|| format!("cannot read the server's memory ({what})"))?;
    println!("{what:<52} RSS {:>8.1} MiB", mib(rss));
    Ok(rss)
}

/// Makes the accounts `user-0` … on `concurrency` connections, each registering its share one
/// after another (logging out in between), then closes them: the server is left with the
/// accounts and not with the memory of a thousand closed connections.
async fn register_all(target: &Target, count: usize, concurrency: usize) -> AnyResult<()> {
    let mut tasks = tokio::task::JoinSet::new();
    for first in 0..concurrency.min(count) {
        let target = target.clone();
        tasks.spawn(async move {
            let client = Client::connect(&target, None).await.map_err(|err| format!("connect: {err}"))?;
            for index in (first..count).step_by(concurrency) {
                let name = format!("user-{index}");
                client.register(&name, PASSWORD).await.map_err(|err| format!("{name}: register: {err}"))?;
                client.logout().await.map_err(|err| format!("{name}: logout: {err}"))?;
            }
            Ok::<_, String>(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.map_err(|err| format!("a registration task failed: {err}"))??;
    }
    Ok(())
}

/// Opens `count` connections, `concurrency` at a time, each logging in to `user-N`.
async fn login_all(target: &Target, count: usize, concurrency: usize) -> AnyResult<Vec<Client>> {
    let permits = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..count {
        let (permits, target) = (permits.clone(), target.clone());
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await.map_err(|err| err.to_string())?;
            let name = format!("user-{index}");
            let client = Client::connect(&target, None).await.map_err(|err| format!("{name}: connect: {err}"))?;
            client.login(&name, PASSWORD).await.map_err(|err| format!("{name}: login: {err}"))?;
            Ok::<_, String>(client)
        });
    }
    let mut clients = Vec::with_capacity(count);
    while let Some(joined) = tasks.join_next().await {
        clients.push(joined.map_err(|err| format!("a connection task failed: {err}"))??);
    }
    Ok(clients)
}

async fn run(settings: &Settings, server: &ServerProc, result: &mut ResultLine) -> AnyResult<()> {
    let pid = server.pid.to_string();
    let count = settings.connections;
    let target = Target::parse(&server.code).map_err(|err| format!("connection code: {err}"))?;

    let idle = settled_rss(&pid, "1. idle, second start, no client").await?;
    result.add("idle_rss_mib", mib(idle), 1);

    let started = Instant::now();
    register_all(&target, count, settings.register_concurrency).await?;
    println!("   ({count} accounts registered in {:.0} s)", started.elapsed().as_secs_f64());
    let accounts = settled_rss(&pid, &format!("2. after registering {count} accounts")).await?;
    result.add("accounts_rss_mib", mib(accounts), 1);

    let started = Instant::now();
    let clients = login_all(&target, count, settings.register_concurrency).await?;
    println!("   ({count} logged in in {:.0} s)", started.elapsed().as_secs_f64());
    let logged_in = settled_rss(&pid, &format!("3. {count} logged-in connections, idle")).await?;
    let per_idle = logged_in.saturating_sub(accounts) as f64 * 1.024 / count as f64;
    let per_idle_from_start = logged_in.saturating_sub(idle) as f64 * 1.024 / count as f64;
    println!("   {per_idle:.1} KB per idle logged-in connection ({per_idle_from_start:.1} KB counted from step 1)");
    result.add("idle_conns_rss_mib", mib(logged_in), 1);
    result.add("kb_per_conn", per_idle, 1);
    result.add("kb_per_conn_from_idle", per_idle_from_start, 1);

    // Every connection reads its events, so that nothing queues up at the server for it.
    let mut readers = tokio::task::JoinSet::new();
    let mut clients = clients.into_iter();
    let sender = clients.next().ok_or("no connection")?;
    for mut client in clients {
        readers.spawn(async move { while client.next_event().await.is_some() {} });
    }

    tokio::time::sleep(settings.hold.saturating_sub(SETTLE)).await;
    let held = settled_rss(&pid, &format!("4. the same after {} s idle", settings.hold.as_secs())).await?;
    result.add("idle_hold_growth_kb", (held as f64 - logged_in as f64) * 1.024, 0);

    let channel = sender.find_channel("general").await.map_err(|err| format!("find #general: {err}"))?;
    for second in 0..settings.seconds {
        sender.send(channel.id, &format!("message {second}")).await.map_err(|err| format!("send: {err}"))?;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let active = settled_rss(&pid, &format!("5. each receiving a message a second for {} s", settings.seconds)).await?;
    let per_active = active.saturating_sub(accounts) as f64 * 1.024 / count as f64;
    println!("   {per_active:.1} KB per connection receiving messages");
    result.add("active_rss_mib", mib(active), 1);
    result.add("kb_per_active_conn", per_active, 1);
    readers.abort_all();
    Ok(())
}

fn main() {
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("bench memory: {err}");
            std::process::exit(2);
        }
    };
    println!(
        "bench memory: server {}; {} connections, {} s idle hold, {} s of messages",
        settings.server_bin.display(),
        settings.connections,
        settings.hold.as_secs(),
        settings.seconds
    );
    let first = match ServerProc::start(SERVER_TOML, "itc-bench-memory-", &settings.server_bin) {
        Ok(server) => server,
        Err(err) => {
            eprintln!("bench memory: {err}");
            std::process::exit(1);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("bench memory: cannot start the async runtime: {err}");
            std::process::exit(1);
        }
    };
    let first_start = runtime.block_on(settled_rss(&first.pid.to_string(), "0. idle, first start, no client"));
    let (first_start_rss, mut server) =
        match first_start.and_then(|rss| Ok((rss, first.restart(&settings.server_bin)?))) {
            Ok(started_twice) => started_twice,
            Err(err) => {
                eprintln!("bench memory: {err}");
                std::process::exit(1);
            }
        };
    let mut result = ResultLine::default();
    result.add("connections", settings.connections as f64, 0);
    result.add("first_start_rss_mib", mib(first_start_rss), 1);
    let outcome = runtime.block_on(run(&settings, &server, &mut result));
    runtime.shutdown_timeout(Duration::from_secs(2));
    println!("server: {}", server.stop());
    if let Err(err) = outcome {
        eprintln!("bench memory: FAILED: {err}");
        if server.stderr_count() > 0 {
            eprint!("{}", server.stderr_text(10));
        }
        std::process::exit(1);
    }
    println!("{result}");
}
