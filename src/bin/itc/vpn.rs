//! `itc vpn up|down|status`: this computer's end of the built-in VPN (Linux, as root). `up`
//! logs in, registers this device's own key (only the public half leaves the machine), and
//! starts the tunnel in a background process of its own (`itc vpn tunnel`, which gets its plan
//! on standard input and says "connected" on standard output after the first handshake);
//! `down` stops that process, `status` reads the state file it keeps. The tunnel is the
//! engine's [`iptincan::client::vpn`].

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use iptincan::client::vpn::{self, TunnelPlan, TunnelState, VpnPaths};
use iptincan::client::Client;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::Duration;

/// How long `down` waits for the tunnel process to end.
const STOP_WAIT: Duration = Duration::from_secs(5);

#[derive(Subcommand)]
pub enum VpnCommand {
    /// Register this device with the server and route this computer's traffic through it
    Up {
        /// This device's name on the server [default: the host name]
        #[arg(long)]
        name: Option<String>,
        /// The network device to create
        #[arg(long, default_value = vpn::DEFAULT_DEVICE)]
        device: String,
        /// Stay in the foreground until Ctrl-C (or SIGTERM) instead of returning
        #[arg(long)]
        foreground: bool,
    },
    /// Stop the tunnel and put the routes back
    Down,
    /// Whether the tunnel is up: address, server, last handshake, traffic
    Status,
    /// The tunnel process itself (started by `up`; reads its plan on standard input)
    #[command(hide = true)]
    Tunnel,
}

/// Where the key (config dir) and the running tunnel's files (`ITC_VPN_RUN_DIR`, else
/// `/run/itc` as root, else `$XDG_RUNTIME_DIR/itc`) live.
pub fn paths(config_dir: Option<PathBuf>) -> Result<VpnPaths> {
    let config_dir = config_dir.context("no home directory for the VPN key: set HOME or XDG_CONFIG_HOME")?;
    let runtime_dir = match std::env::var_os("ITC_VPN_RUN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None if is_root() => PathBuf::from("/run/itc"),
        None => std::env::var_os("XDG_RUNTIME_DIR")
            .map(|dir| PathBuf::from(dir).join("itc"))
            .unwrap_or_else(|| config_dir.join("run")),
    };
    Ok(VpnPaths::new(&config_dir, &runtime_dir))
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status.lines().any(|line| line.starts_with("Uid:") && line.split_whitespace().nth(1) == Some("0"))
    })
}

/// `up`, after logging in: registers the key and brings the tunnel up.
pub async fn up(
    client: &Client,
    server: &str,
    paths: &VpnPaths,
    name: Option<String>,
    device: &str,
    foreground: bool,
) -> Result<()> {
    if let Some(state) = vpn::read_state(&paths.state)? {
        if vpn::process_alive(state.pid) {
            bail!("the VPN is already up (device {}); itc vpn down first", state.device);
        }
        vpn::clean_up_after(&state, &paths.state);
    }
    let secret = vpn::load_or_create_key(&paths.key)?;
    let name = name.unwrap_or_else(host_name);
    let public = iptincan::vpn::keys::encode(&iptincan::vpn::keys::public_of(&secret));
    let access = client.vpn_register(&name, &public).await?;
    let plan = TunnelPlan::new(&access, client.host(), server, device, &secret).await?;
    let summary = format!(
        "VPN up: {} has {} and sends everything through {} (DNS inside the tunnel: {})",
        plan.device, plan.address, plan.endpoint, plan.dns_server
    );
    if foreground {
        run_in_foreground(plan, paths, &summary).await
    } else {
        start_in_background(&plan, paths)?;
        println!("{summary}");
        Ok(())
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "itc".to_string())
}

#[cfg(target_os = "linux")]
async fn run_in_foreground(plan: TunnelPlan, paths: &VpnPaths, summary: &str) -> Result<()> {
    vpn::run_tunnel(plan, paths.state.clone(), stop_signal(), || eprintln!("{summary}; Ctrl-C ends it")).await?;
    eprintln!("VPN down");
    Ok(())
}

#[cfg(not(target_os = "linux"))]
async fn run_in_foreground(_plan: TunnelPlan, _paths: &VpnPaths, _summary: &str) -> Result<()> {
    Err(vpn::VpnClientError::Unsupported.into())
}

/// Resolves on Ctrl-C or SIGTERM.
#[cfg(target_os = "linux")]
async fn stop_signal() {
    let Ok(mut terminate) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

/// Starts `itc vpn tunnel` in its own process group and waits for its first line.
fn start_in_background(plan: &TunnelPlan, paths: &VpnPaths) -> Result<()> {
    if let Some(dir) = paths.log.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let log = std::fs::File::create(&paths.log).with_context(|| format!("cannot write {}", paths.log.display()))?;
    let mut command = std::process::Command::new(std::env::current_exe().context("cannot find the itc program")?);
    command
        .args(["vpn", "tunnel"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(log);
    // Its own process group: a Ctrl-C in this terminal later does not end the tunnel.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command.spawn().context("cannot start the tunnel process")?;
    let plan_json = serde_json::to_string(plan)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(plan_json.as_bytes()).context("cannot hand the plan to the tunnel process")?;
    }
    let stdout = child.stdout.take().context("no output from the tunnel process")?;
    let (line_tx, line_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        let _ = line_tx.send(line);
    });
    let wait = vpn::HANDSHAKE_WAIT + Duration::from_secs(5);
    match line_rx.recv_timeout(wait) {
        Ok(line) if line.trim() == "connected" => Ok(()),
        Ok(line) => {
            let _ = child.wait();
            match line.trim().strip_prefix("error: ") {
                Some(reason) => bail!("{reason}"),
                None => bail!("the tunnel process ended; see {}", paths.log.display()),
            }
        }
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            bail!("the tunnel did not come up within {} s; see {}", wait.as_secs(), paths.log.display())
        }
    }
}

/// `itc vpn tunnel`: reads the plan, runs the tunnel, says "connected" or "error: …".
pub async fn tunnel(paths: &VpnPaths) -> Result<()> {
    let mut plan_json = String::new();
    std::io::stdin().lock().read_line(&mut plan_json).context("cannot read the tunnel plan")?;
    let plan: TunnelPlan = serde_json::from_str(&plan_json).context("the tunnel plan is not valid")?;
    let result = run_detached(plan, paths).await;
    if let Err(err) = &result {
        println!("error: {err}");
        eprintln!("itc vpn: {err}");
    }
    result
}

#[cfg(target_os = "linux")]
async fn run_detached(plan: TunnelPlan, paths: &VpnPaths) -> Result<()> {
    vpn::run_tunnel(plan, paths.state.clone(), stop_signal(), || {
        println!("connected");
        let _ = std::io::stdout().flush();
    })
    .await?;
    eprintln!("itc vpn: stopped");
    Ok(())
}

#[cfg(not(target_os = "linux"))]
async fn run_detached(_plan: TunnelPlan, _paths: &VpnPaths) -> Result<()> {
    Err(vpn::VpnClientError::Unsupported.into())
}

/// `itc vpn down`.
pub fn down(paths: &VpnPaths) -> Result<()> {
    let Some(state) = vpn::read_state(&paths.state)? else {
        println!("the VPN is not up");
        return Ok(());
    };
    if vpn::process_alive(state.pid) {
        terminate(state.pid)?;
        let deadline = std::time::Instant::now() + STOP_WAIT;
        while vpn::process_alive(state.pid) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if vpn::process_alive(state.pid) {
            bail!("the tunnel process {} did not stop within {} s", state.pid, STOP_WAIT.as_secs());
        }
    }
    // Whatever the process could not remove itself (it was killed, say).
    vpn::clean_up_after(&state, &paths.state);
    println!("VPN down: {} removed, routes restored", state.device);
    Ok(())
}

#[cfg(target_os = "linux")]
fn terminate(pid: u32) -> Result<()> {
    let pid = i32::try_from(pid).context("not a process id")?;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM)
        .with_context(|| format!("cannot stop the tunnel process {pid}"))
}

#[cfg(not(target_os = "linux"))]
fn terminate(_pid: u32) -> Result<()> {
    Err(vpn::VpnClientError::Unsupported.into())
}

/// `itc vpn status`: fails when the VPN is not up.
pub fn status(paths: &VpnPaths) -> Result<()> {
    let state = match vpn::read_state(&paths.state)? {
        Some(state) if vpn::process_alive(state.pid) => state,
        Some(_) => bail!("the VPN is down: its tunnel process ended (itc vpn down cleans up after it)"),
        None => bail!("the VPN is not up"),
    };
    print_status(&state);
    Ok(())
}

fn print_status(state: &TunnelState) {
    println!("VPN up: {} has {}, through {} ({})", state.device, state.address, state.endpoint, state.server);
    match state.last_handshake_seconds {
        Some(seconds) if seconds < 180 => println!("connected: last handshake {seconds} s ago"),
        Some(seconds) => println!("not connected: last handshake {seconds} s ago"),
        None => println!("not connected: no handshake yet"),
    }
    println!("sent {} B, received {} B", state.sent_bytes, state.received_bytes);
    println!("DNS inside the tunnel: {}", state.dns_server);
}
