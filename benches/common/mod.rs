//! Helpers shared by the benchmarks: find and run the release `itc-server` in its own process
//! with a throw-away data directory, stop it, read its memory and CPU from /proc, and build the
//! `RESULT` line every benchmark ends with.
#![allow(dead_code)] // each bench uses its own part

use std::fmt;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the server may take to print its connection code.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// Put in front of every benchmark server's config.
const NO_UPDATE_CHECK: &str = "[update]\ncheck = false\n";
/// Server stderr lines kept for the report.
const STDERR_KEEP: usize = 200;

/// Errors as text, for printing.
pub type AnyResult<T> = Result<T, String>;

/// `target/release/deps/chat-HASH` → `target/release/itc-server`.
pub fn default_server_bin() -> AnyResult<PathBuf> {
    let exe = std::env::current_exe().map_err(|err| format!("cannot find this executable: {err}"))?;
    let candidates: Vec<PathBuf> = exe.ancestors().skip(1).take(3).map(|dir| dir.join("itc-server")).collect();
    candidates.iter().find(|path| path.is_file()).cloned().ok_or_else(|| {
        format!(
            "itc-server not found near {} (looked in {}); run `cargo build --release --bins` or set ITC_SERVER_BIN",
            exe.display(),
            candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        )
    })
}

// ---- the server process ------------------------------------------------------------------

pub struct ServerProc {
    child: Child,
    /// The server's process id.
    pub pid: u32,
    /// The control address it listens on.
    pub control: String,
    /// The connection code it printed.
    pub code: String,
    stderr: Arc<Mutex<(u64, Vec<String>)>>,
    stopped: Option<String>,
    /// Removed when the server is dropped (it is stopped first).
    data_dir: Option<tempfile::TempDir>,
}

impl ServerProc {
    /// Starts `bin` in a temporary data directory with `server_toml`, to which it adds
    /// `[update] check = false`: a benchmark's server never looks beyond loopback.
    pub fn start(server_toml: &str, prefix: &str, bin: &PathBuf) -> AnyResult<ServerProc> {
        let data_dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .map_err(|err| format!("cannot make a temporary data directory: {err}"))?;
        std::fs::write(data_dir.path().join("server.toml"), format!("{NO_UPDATE_CHECK}{server_toml}"))
            .map_err(|err| format!("cannot write server.toml: {err}"))?;
        ServerProc::spawn(bin, data_dir)
    }

    /// Stops the server and starts `bin` again on the same data directory (its certificate,
    /// database and config from the first start), as a server starts every day after its
    /// first run.
    pub fn restart(mut self, bin: &PathBuf) -> AnyResult<ServerProc> {
        let status = self.stop();
        if !status.starts_with("stopped by SIGTERM") {
            return Err(format!("the server did not stop for its restart: {status}"));
        }
        let data_dir = self.data_dir.take().ok_or("the server has no data directory")?;
        ServerProc::spawn(bin, data_dir)
    }

    /// Runs `bin` on `data_dir` until it prints its control address and connection code.
    fn spawn(bin: &PathBuf, data_dir: tempfile::TempDir) -> AnyResult<ServerProc> {
        let mut child = Command::new(bin)
            .arg("--data-dir")
            .arg(data_dir.path())
            .arg("run")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|err| format!("cannot start {}: {err}", bin.display()))?;
        let pid = child.id();

        let stderr = Arc::new(Mutex::new((0u64, Vec::new())));
        if let Some(pipe) = child.stderr.take() {
            let kept = stderr.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    let mut kept = kept.lock().unwrap_or_else(|p| p.into_inner());
                    kept.0 += 1;
                    if kept.1.len() < STDERR_KEEP {
                        kept.1.push(line);
                    }
                }
            });
        }
        let (line_tx, line_rx) = std::sync::mpsc::channel::<String>();
        if let Some(pipe) = child.stdout.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    if line_tx.send(line).is_err() {
                        // Nobody listens any more; keep draining so the server never blocks.
                        continue;
                    }
                }
            });
        }

        let mut server = ServerProc {
            child,
            pid,
            control: String::new(),
            code: String::new(),
            stderr,
            stopped: None,
            data_dir: Some(data_dir),
        };
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        while server.control.is_empty() || server.code.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            match line_rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.split("control=tcp/").nth(1) {
                        server.control = rest.split_whitespace().next().unwrap_or("").to_string();
                    } else if let Some(code) = line.strip_prefix("Connection code: ") {
                        server.code = code.trim().to_string();
                    }
                }
                Err(_) => {
                    let status = server.stop();
                    return Err(format!(
                        "the server did not print its address and connection code within {} s ({status}); its stderr:\n{}",
                        STARTUP_TIMEOUT.as_secs(),
                        server.stderr_text(20)
                    ));
                }
            }
        }
        Ok(server)
    }

    pub fn stderr_text(&self, lines: usize) -> String {
        let kept = self.stderr.lock().unwrap_or_else(|p| p.into_inner());
        kept.1.iter().take(lines).map(|l| format!("    {l}\n")).collect()
    }

    pub fn stderr_count(&self) -> u64 {
        self.stderr.lock().unwrap_or_else(|p| p.into_inner()).0
    }

    /// SIGTERM, up to 10 s for a graceful stop, then SIGKILL. Returns a description.
    pub fn stop(&mut self) -> String {
        if let Some(done) = &self.stopped {
            return done.clone();
        }
        let describe = |status: ExitStatus, how: &str| format!("{how}, {status}");
        let outcome = match self.child.try_wait() {
            Ok(Some(status)) => describe(status, "had already exited"),
            _ => {
                let _ = Command::new("kill")
                    .arg("-TERM")
                    .arg(self.pid.to_string())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
                let started = Instant::now();
                let deadline = started + Duration::from_secs(10);
                loop {
                    match self.child.try_wait() {
                        Ok(Some(status)) => {
                            break describe(
                                status,
                                &format!("stopped by SIGTERM in {:.2} s", started.elapsed().as_secs_f64()),
                            )
                        }
                        Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                        _ => {
                            let _ = self.child.kill();
                            break match self.child.wait() {
                                Ok(status) => describe(status, "did not stop within 10 s of SIGTERM; killed"),
                                Err(err) => format!("killed; wait failed: {err}"),
                            };
                        }
                    }
                }
            }
        };
        self.stopped = Some(outcome.clone());
        outcome
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---- /proc ---------------------------------------------------------------------------------

/// `(VmHWM, VmRSS)` in KiB.
pub fn proc_memory(pid: &str) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse::<u64>().ok())
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

/// utime + stime in seconds.
pub fn proc_cpu(pid: &str, ticks: f64) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Field 3 (state) is fields[0]; utime is field 14, stime field 15.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / ticks)
}

/// Resets the peak RSS (VmHWM) of a process of ours to its current RSS.
pub fn reset_peak_rss(pid: &str) -> bool {
    std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/{pid}/clear_refs"))
        .and_then(|mut file| file.write_all(b"5"))
        .is_ok()
}

pub fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

// ---- the RESULT line -------------------------------------------------------------------------

/// The machine-readable line a benchmark prints last on stdout: `RESULT name=value name=value …`,
/// numbers only as values, units in the names (`p99_ms`, `rss_mib`). A figure that is not a
/// finite number (nothing was measured) is left out rather than printed as `NaN`.
#[derive(Debug, Default)]
pub struct ResultLine {
    fields: Vec<String>,
}

impl ResultLine {
    /// Adds `name=value`, rounded to `decimals` digits after the point.
    pub fn add(&mut self, name: &str, value: f64, decimals: usize) {
        if value.is_finite() {
            self.fields.push(format!("{name}={value:.decimals$}"));
        }
    }
}

impl fmt::Display for ResultLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RESULT")?;
        self.fields.iter().try_for_each(|field| write!(f, " {field}"))
    }
}
