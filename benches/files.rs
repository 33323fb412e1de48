//! File transfer benchmark: upload and download throughput over loopback (MB/s) and the
//! server's CPU and RSS, for one large file (1 GiB) and for many small files (1,000 of 64 KiB).
//!
//! Runs the real release `itc-server` binary as a separate process on 127.0.0.1 with a
//! throw-away data directory (and `server.max_file_bytes` raised to fit), registers one member,
//! writes the test files (pseudo-random, so nothing compresses or deduplicates) into a temporary
//! folder, and times `Client::upload_file` and `Client::download_to` for each phase.
//!
//! Environment: `BENCH_LARGE_MIB` (1024), `BENCH_SMALL_FILES` (1000), `BENCH_SMALL_KIB` (64),
//! `ITC_SERVER_BIN` [default: `target/release/itc-server`].
//!
//! A run that completes ends with one `RESULT` line on stdout (MB are 10^6 bytes); it exits
//! non-zero only when it could not measure (server did not start, a transfer failed).
//! Run with `scripts/bench-files`.

mod common;
#[path = "../tests/common/pattern.rs"]
mod pattern;

use common::{
    clock_ticks, default_server_bin, mib, proc_cpu, proc_memory, reset_peak_rss, AnyResult, ResultLine, ServerProc,
};
use iptincan::client::{Client, Target, UploadOptions};
use std::path::{Path, PathBuf};
use std::time::Instant;

const PASSWORD: &str = "benchmark-pass";

fn env_number(name: &str, default: u64) -> AnyResult<u64> {
    match std::env::var(name) {
        Ok(value) => value.parse().map_err(|_| format!("{name}={value} is not a whole number")),
        Err(_) => Ok(default),
    }
}

/// Writes `size` pseudo-random bytes to `path`.
fn generate(path: &Path, size: u64, seed: u64) -> AnyResult<()> {
    pattern::generate(path, size, seed).map(drop).map_err(|err| format!("{}: {err}", path.display()))
}

/// The server's CPU seconds and peak RSS (MiB) over one phase, and the phase's MB/s.
struct Phase {
    mb_per_s: f64,
    cpu_s: f64,
    peak_rss_mib: f64,
}

struct Meter<'a> {
    pid: String,
    ticks: f64,
    started: Instant,
    cpu_before: f64,
    _server: &'a ServerProc,
}

impl<'a> Meter<'a> {
    fn start(server: &'a ServerProc, ticks: f64) -> Meter<'a> {
        let pid = server.pid.to_string();
        reset_peak_rss(&pid);
        let cpu_before = proc_cpu(&pid, ticks).unwrap_or(f64::NAN);
        Meter { pid, ticks, started: Instant::now(), cpu_before, _server: server }
    }

    fn finish(self, bytes: u64) -> Phase {
        let seconds = self.started.elapsed().as_secs_f64();
        let cpu = proc_cpu(&self.pid, self.ticks).unwrap_or(f64::NAN) - self.cpu_before;
        let peak = proc_memory(&self.pid).map_or(f64::NAN, |(hwm, _)| mib(hwm));
        Phase { mb_per_s: bytes as f64 / 1e6 / seconds, cpu_s: cpu, peak_rss_mib: peak }
    }
}

fn report(result: &mut ResultLine, name: &str, phase: &Phase) {
    println!(
        "{name:<16} {:>8.1} MB/s   server CPU {:>6.2} s   server peak RSS {:>6.1} MiB",
        phase.mb_per_s, phase.cpu_s, phase.peak_rss_mib
    );
    result.add(&format!("{name}_mb_per_s"), phase.mb_per_s, 1);
    result.add(&format!("{name}_server_cpu_s"), phase.cpu_s, 2);
    result.add(&format!("{name}_server_peak_rss_mib"), phase.peak_rss_mib, 1);
}

async fn run() -> AnyResult<ResultLine> {
    let large = env_number("BENCH_LARGE_MIB", 1024)? << 20;
    let small_files = env_number("BENCH_SMALL_FILES", 1000)?;
    let small = env_number("BENCH_SMALL_KIB", 64)? << 10;
    let bin = match std::env::var_os("ITC_SERVER_BIN") {
        Some(path) => PathBuf::from(path),
        None => default_server_bin()?,
    };
    let toml = format!(
        "[server]\nbind_address = \"127.0.0.1\"\ntcp_port = 0\nudp_port = 0\nrest_port = 0\nlog_level = \"warn\"\nmax_file_bytes = {}\n",
        large.max(small) + 1
    );
    let server = ServerProc::start(&toml, "itc-bench-files-", &bin)?;
    let target = Target::parse(&server.code).map_err(|err| err.to_string())?;
    let client = Client::connect(&target, None).await.map_err(|err| err.to_string())?;
    client.register("bench", PASSWORD).await.map_err(|err| err.to_string())?;
    let work = tempfile::Builder::new().prefix("itc-bench-files-").tempdir().map_err(|err| err.to_string())?;
    let ticks = clock_ticks();
    let mut result = ResultLine::default();
    let fail = |what: &'static str| move |err: iptincan::client::ClientError| format!("{what}: {err}");

    println!("large file: {} MiB; small files: {small_files} × {} KiB", large >> 20, small >> 10);
    let source = work.path().join("large.bin");
    generate(&source, large, 7)?;
    let meter = Meter::start(&server, ticks);
    let file = client.upload_file(&source, "large.bin", UploadOptions::default()).await.map_err(fail("upload"))?;
    report(&mut result, "large_upload", &meter.finish(large));
    std::fs::remove_file(&source).map_err(|err| err.to_string())?;
    let out = work.path().join("large.out");
    let meter = Meter::start(&server, ticks);
    client.download_to(file.file_id, false, &out).await.map_err(fail("download"))?;
    report(&mut result, "large_download", &meter.finish(large));
    std::fs::remove_file(&out).map_err(|err| err.to_string())?;

    let sources: Vec<PathBuf> = (0..small_files).map(|i| work.path().join(format!("small-{i}"))).collect();
    for (i, path) in sources.iter().enumerate() {
        generate(path, small, 1000 + i as u64)?;
    }
    let meter = Meter::start(&server, ticks);
    let mut ids = Vec::with_capacity(sources.len());
    for (i, path) in sources.iter().enumerate() {
        let name = format!("small-{i}");
        ids.push(client.upload_file(path, &name, UploadOptions::default()).await.map_err(fail("upload"))?.file_id);
    }
    let phase = meter.finish(small * small_files);
    report(&mut result, "small_upload", &phase);
    result.add("small_upload_files_per_s", phase.mb_per_s * 1e6 / small as f64, 1);
    let meter = Meter::start(&server, ticks);
    for id in &ids {
        client.download_to(*id, false, &out).await.map_err(fail("download"))?;
    }
    let phase = meter.finish(small * small_files);
    report(&mut result, "small_download", &phase);
    result.add("small_download_files_per_s", phase.mb_per_s * 1e6 / small as f64, 1);
    drop(client);
    Ok(result)
}

fn main() {
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("bench-files: cannot start a runtime: {err}");
            std::process::exit(1);
        }
    };
    match runtime.block_on(run()) {
        Ok(result) => println!("{result}"),
        Err(err) => {
            eprintln!("bench-files: could not measure: {err}");
            std::process::exit(1);
        }
    }
}
