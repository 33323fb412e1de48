//! Voice relay benchmark: `BENCH_MEMBERS` members in one voice channel, `BENCH_TALKERS` of them
//! sending 50 packets a second (100-byte payloads, like 20 ms Opus frames) for `BENCH_SECONDS`,
//! first through the release `itc-server`, then, in the same run, through Mumble's server
//! (`murmurd`) with members that speak Mumble's protocol. For each it prints forwarded packets
//! per second, server CPU per 1,000 forwarded packets, added relay latency (p50/p99, sender to
//! receiver on one clock, loopback), loss and the server's RSS; then the ratio of CPU per
//! forwarded packet, beside the kernel's floor (a plain loop that only sends the same datagrams).
//!
//! Environment: `BENCH_MEMBERS` (50, 2–400), `BENCH_TALKERS` (20, 1–members),
//! `BENCH_SECONDS` (10, 1–60), `BENCH_PEER` (`mumble`, or `none` to skip it),
//! `ITC_SERVER_BIN` (default: the release `itc-server` beside this binary).
//! Bounded: each run gives up after `BENCH_SECONDS` + 120 s.
//!
//! A run that completes ends with one `RESULT` line on stdout: the load, then per server and
//! load step (`itc_20talkers_…`, `murmur_20talkers_…`) forwarded/s, loss %, p50/p99 ms, CPU ms
//! per 1,000 forwarded and RSS MiB, then the comparison when Mumble ran.

#[path = "../../common/mod.rs"]
mod common;
mod floor;
mod itc;
mod load;
mod mumble;

use common::{default_server_bin, mib, AnyResult, ResultLine};
use load::{Load, Measured, PACKETS_PER_SECOND, PAYLOAD};
use std::time::Duration;

fn env_count(name: &str, default: u64, min: u64, max: u64) -> AnyResult<u64> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(text) => match text.trim().parse::<u64>() {
            Ok(value) if (min..=max).contains(&value) => Ok(value),
            _ => Err(format!("{name} must be a whole number from {min} to {max}, not {text:?}")),
        },
    }
}

fn main() {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("bench voice: cannot start a runtime: {err}");
            std::process::exit(1);
        }
    };
    match runtime.block_on(run()) {
        Ok(result) => println!("{result}"),
        Err(err) => {
            eprintln!("bench voice: {err}");
            std::process::exit(1);
        }
    }
}

/// Runs the load through each server, prints the figures, and returns the `RESULT` line.
async fn run() -> AnyResult<ResultLine> {
    let members = env_count("BENCH_MEMBERS", 50, 2, 400)?;
    let load = Load {
        members,
        talkers: env_count("BENCH_TALKERS", 20, 1, members)?,
        seconds: env_count("BENCH_SECONDS", 10, 1, 60)?,
    };
    let with_mumble = match std::env::var("BENCH_PEER").as_deref() {
        Err(_) | Ok("mumble") => true,
        Ok("none") => false,
        Ok(other) => return Err(format!("BENCH_PEER must be mumble or none, not {other:?}")),
    };
    let bin = match std::env::var_os("ITC_SERVER_BIN") {
        Some(path) => path.into(),
        None => default_server_bin()?,
    };
    println!(
        "bench voice: {} members, {} talking at {PACKETS_PER_SECOND} packets/s ({PAYLOAD}-byte payloads), {} s; {} forwarded packets/s offered",
        load.members,
        load.talkers,
        load.seconds,
        load.talkers * PACKETS_PER_SECOND * (load.members - 1)
    );
    let limit = Duration::from_secs(load.seconds + 120);
    let mut result = ResultLine::default();
    result.add("members", load.members as f64, 0);
    result.add("talkers", load.talkers as f64, 0);
    result.add("seconds", load.seconds as f64, 0);

    let ours = tokio::time::timeout(limit, async {
        let (mut server, members) = itc::start(&bin, load.members).await?;
        let measured = load::drive(members, load, server.pid).await?;
        println!("itc-server: {}", server.stop());
        Ok::<_, String>(measured)
    })
    .await
    .map_err(|_| format!("IPTinCan run gave up after {} s", limit.as_secs()))??;
    report("IPTinCan (itc-server)", &load, &ours);
    ours.add_to(&mut result, &format!("itc_{}talkers", load.talkers), &load);

    if !with_mumble {
        println!("\nMumble comparison skipped (BENCH_PEER=none).");
        return Ok(result);
    }
    if let Some(reason) = mumble::unavailable() {
        println!("\nMumble comparison skipped: {reason}.");
        return Ok(result);
    }
    let theirs = tokio::time::timeout(limit, async {
        let murmur = mumble::start(load.members)?;
        let members = mumble::join(&murmur, load.members).await?;
        load::drive(members, load, murmur.pid).await
    })
    .await
    .map_err(|_| format!("gave up after {} s", limit.as_secs()))
    .and_then(|measured| measured);
    // IPTinCan's figures were measured: a failed comparison is reported, not a failed run.
    let theirs = match theirs {
        Ok(theirs) => theirs,
        Err(err) => {
            println!("\nMumble comparison failed: {err}.");
            return Ok(result);
        }
    };
    report("Mumble 1.3 (murmurd)", &load, &theirs);
    theirs.add_to(&mut result, &format!("murmur_{}talkers", load.talkers), &load);

    // Not measured (NaN) is left out of the RESULT line; both servers' figures stand.
    let floor = floor::send_cpu_ms_per_1000(load.members).unwrap_or_else(|err| {
        println!("kernel floor not measured: {err}");
        f64::NAN
    });
    let cpu_ratio = theirs.cpu_ms_per_1000() / ours.cpu_ms_per_1000().max(f64::MIN_POSITIVE);
    println!("\n== Comparison ==");
    println!(
        "CPU per forwarded packet: murmurd {:.2} ms / itc-server {:.2} ms per 1,000 = {cpu_ratio:.2}x less CPU for IPTinCan",
        theirs.cpu_ms_per_1000(),
        ours.cpu_ms_per_1000(),
    );
    println!(
        "kernel floor:             a plain send_to loop of the same datagrams costs {floor:.2} ms per 1,000; above it: murmurd {:.2} ms, itc-server {:.2} ms",
        theirs.cpu_ms_per_1000() - floor,
        ours.cpu_ms_per_1000() - floor
    );
    println!(
        "relay latency p99:        murmurd {:.3} ms / itc-server {:.3} ms",
        theirs.latency_ms(0.99),
        ours.latency_ms(0.99)
    );
    result.add("murmur_to_itc_cpu_ratio", cpu_ratio, 2);
    result.add("floor_cpu_ms_per_1000", floor, 3);
    Ok(result)
}

fn report(name: &str, load: &Load, measured: &Measured) {
    let expected = load.expected();
    println!();
    println!("== {name} ==");
    println!(
        "forwarded packets received:    {} of {expected} expected ({:.2}% loss)",
        measured.received,
        measured.loss_percent(load)
    );
    println!("forwarded packets/s:           {:.0}", measured.packets_per_second());
    println!(
        "relay latency (ms):            p50 {:.3}  p99 {:.3}  max {:.3}",
        measured.latency_ms(0.50),
        measured.latency_ms(0.99),
        measured.latency_ms(1.0)
    );
    let window = measured.window.as_secs_f64();
    println!(
        "server CPU:                    {:.2} s in {window:.1} s ({:.0}% of one core)",
        measured.server_cpu,
        100.0 * measured.server_cpu / window
    );
    println!("server CPU per 1,000 packets:  {:.2} ms", measured.cpu_ms_per_1000());
    println!("load generator CPU:            {:.2} s", measured.load_cpu);
    if let Some((peak, now)) = measured.server_memory {
        println!("server RSS:                    {:.1} MiB (peak {:.1} MiB)", mib(now), mib(peak));
    }
}
