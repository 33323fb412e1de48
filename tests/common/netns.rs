//! Network namespaces for tests that need real routing: unique names per test (pid and a
//! counter), a check that this machine can make them (root, the tools), commands run inside
//! one, and a share of the machine ([`hold`]) so that a test that loads the CPU runs with no
//! other namespace test beside it. The tests that use them remove their namespaces in a Drop
//! guard.

use super::run_bounded;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Longest a test waits for its share of the machine (the other namespace tests of a run,
/// one after another at worst).
const SHARE_WAIT: Duration = Duration::from_secs(600);

/// How much of the machine a namespace test takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Share {
    /// A few short commands: such tests run side by side.
    Shared,
    /// A saturated tunnel, or a call or a rate measured under load: no other namespace test
    /// (of this test binary or another process) runs meanwhile, so that what is measured is
    /// the load the test makes, not its neighbours' (a test binary's tests run on parallel
    /// threads, and the machine may have only 2 cores).
    Alone,
}

/// A share of the machine, held until dropped: a lock on one file in the temp dir, shared or
/// exclusive.
#[derive(Debug)]
pub struct MachineShare {
    _lock: std::fs::File,
}

/// Waits (bounded) until the machine can be had as `share`.
pub fn hold(share: Share) -> MachineShare {
    let path = std::env::temp_dir().join("iptincan-netns-tests.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    let started = Instant::now();
    loop {
        let locked = match share {
            Share::Shared => file.try_lock_shared(),
            Share::Alone => file.try_lock(),
        };
        match locked {
            Ok(()) => return MachineShare { _lock: file },
            Err(std::fs::TryLockError::WouldBlock) => {
                assert!(started.elapsed() < SHARE_WAIT, "other namespace tests held the machine for {SHARE_WAIT:?}");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(std::fs::TryLockError::Error(err)) => panic!("{}: {err}", path.display()),
        }
    }
}

/// A name prefix no other test (in this process or another) uses at the same time; `tag`
/// tells whose namespaces they are.
pub fn unique_prefix(tag: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("{tag}{}x{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Why namespace tests cannot run here, if they cannot: not root, one of `tools` missing,
/// or namespaces refused.
pub fn missing_prerequisite(tools: &[&str]) -> Option<String> {
    let uid = Command::new("id").arg("-u").output().map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string());
    if uid.as_deref().ok() != Some("0") {
        return Some("needs root to create network namespaces".into());
    }
    for tool in tools.iter().chain(&["ip"]) {
        let found = Command::new("sh").args(["-c", &format!("command -v {tool}")]).output();
        if !found.is_ok_and(|out| out.status.success()) {
            return Some(format!("{tool} is not installed (scripts/setup --test installs it)"));
        }
    }
    let probe = format!("{}probe", unique_prefix("itcprobe"));
    let (created, _, stderr) = run_bounded(Command::new("ip").args(["netns", "add", &probe]));
    if !created {
        return Some(format!("network namespaces are not available here: {}", stderr.trim()));
    }
    let _ = Command::new("ip").args(["netns", "del", &probe]).status();
    None
}

/// Prints `SKIPPED <test>: <reason>` and returns from the test when namespaces with these
/// tools cannot be made here.
#[macro_export]
macro_rules! skip_unless_netns {
    ($name:literal, $tools:expr) => {
        if let Some(reason) = common::netns::missing_prerequisite($tools) {
            println!("SKIPPED {}: {reason}", $name);
            return;
        }
    };
}

/// Runs a command, panicking with its output when it fails; returns its stdout.
pub fn run(args: &[&str]) -> String {
    let (ok, stdout, stderr) = run_bounded(Command::new(args[0]).args(&args[1..]));
    assert!(ok, "{args:?} failed: {stderr}{stdout}");
    stdout
}

/// `program` run inside namespace `ns`.
pub fn exec(ns: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new("ip");
    command.args(["netns", "exec", ns]).arg(program);
    command
}
