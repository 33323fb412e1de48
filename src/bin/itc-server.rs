//! `itc-server`: the headless IPTinCan server. Parses arguments, loads `server.toml`, sets up
//! logging, and hands over to the engine library; no server logic lives here.

#[path = "shared/invite.rs"]
mod invite;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use invite::InviteFlags;
use iptincan::backup::schedule::Backups;
use iptincan::backup::{self, BackupOptions, Passphrase, Progress, RestoreOptions};
use iptincan::code::ConnectionCode;
use iptincan::config::{self, DataDir};
use iptincan::server::{self, invites::InviteOptions};
use iptincan::store::Store;
use iptincan::update;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser)]
#[command(name = "itc-server", version = iptincan::version::current(), about = "IPTinCan server: private voice, video and text chat")]
struct Args {
    /// Folder for server.toml, the database, certificates and uploads [default: the working directory]
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Configuration file [default: DATA_DIR/server.toml]
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Start the server (the default)
    Run,
    /// Print this server's connection code and its QR code
    Code {
        /// Host name or address clients should use [default: this machine's LAN address]
        #[arg(long)]
        host: Option<String>,
        /// Also write the QR code as a PNG picture to FILE
        #[arg(long, value_name = "FILE")]
        png: Option<PathBuf>,
    },
    /// Back up the database, uploads, config and certificate into one verified archive (works
    /// whether the server runs or not)
    Backup {
        /// A folder for the archive, or its file name [default: backup.directory, then old
        /// archives there are pruned to backup.retention_days]
        #[arg(long, value_name = "DIR_OR_FILE")]
        output: Option<PathBuf>,
        /// Encrypt with the passphrase on the first line of FILE [default: backup.passphrase_file]
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },
    /// Restore an archive into the data directory (the server must be stopped); the files it
    /// replaces are kept in DATA_DIR/replaced-by-restore-<time>/
    Restore {
        /// The archive
        archive: PathBuf,
        /// The passphrase of an encrypted archive is on the first line of FILE
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
        /// Restore even over a different server (another TLS certificate)
        #[arg(long)]
        force: bool,
    },
    /// Check an archive's manifest and every checksum without restoring it
    Verify {
        /// The archive
        archive: PathBuf,
        /// The passphrase of an encrypted archive is on the first line of FILE
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },
    /// List the archives in backup.directory with their time and size
    Backups,
    /// Make an invite (works while the server runs, or before its first start)
    Invite(InviteFlags),
    /// List invites, newest first
    Invites,
    /// VPN peers for the official WireGuard apps (works while the server runs; a running
    /// server picks changes up within 5 seconds)
    #[command(subcommand)]
    VpnPeer(VpnPeerCommand),
    /// Ask the server running on this machine whether it is healthy (exit status 0 if so), as
    /// a container's health check does
    Health {
        /// The REST address to ask [default: server.rest_port on this machine]
        #[arg(long, value_name = "HOST:PORT")]
        address: Option<std::net::SocketAddr>,
    },
}

#[derive(Subcommand)]
enum VpnPeerCommand {
    /// Make a key pair for a member's device and print its WireGuard config and QR code, once
    Add {
        /// The member's user name
        username: String,
        /// The device's label
        #[arg(long, default_value = "phone")]
        name: String,
        /// Host for the config's Endpoint [default: this machine's LAN address]
        #[arg(long)]
        host: Option<String>,
        /// Also write the config's QR code as a PNG picture to FILE
        #[arg(long, value_name = "FILE")]
        png: Option<PathBuf>,
        /// Also write the config text to FILE (mode 0600)
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// List VPN peers
    List,
    /// Remove a VPN peer (its tunnel ends within 5 seconds on a running server)
    Remove {
        /// The peer's id (from `vpn-peer list`)
        peer_id: i64,
    },
}

/// Threads the runtime may start for blocking work (database reads, file I/O, thumbnails,
/// backups; the media relay's loop holds one for good). Tokio's default, 512, lets a burst of
/// reads start a thread per waiting read, each with its stack and, with glibc, an allocator
/// arena that keeps what it once held; the server is I/O bound and its reads are short.
const BLOCKING_THREADS: usize = 16;

fn main() {
    let args = Args::parse();
    if let Err(err) = run(args) {
        eprintln!("itc-server: {err:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<()> {
    let data_dir = match &args.data_dir {
        Some(dir) => DataDir::new(dir),
        None => DataDir::new(std::env::current_dir().context("cannot read the working directory")?),
    };
    std::fs::create_dir_all(data_dir.root())
        .with_context(|| format!("cannot create the data directory {}", data_dir.root().display()))?;
    let config_path = args.config.clone().unwrap_or_else(|| data_dir.config_file());
    // Restore and verify read no configuration (a restore brings its own).
    let load = || -> Result<config::Config> {
        let loaded = config::load_or_create(&config_path)?;
        init_logging(&loaded.config.server.log_level);
        if loaded.created {
            tracing::info!(path = %config_path.display(), "wrote the default configuration");
        }
        for warning in &loaded.warnings {
            tracing::warn!("{warning}");
        }
        Ok(loaded.config)
    };
    // One worker thread per core (Tokio's default), and a bounded blocking pool.
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .max_blocking_threads(BLOCKING_THREADS)
            .build()
            .context("cannot start the async runtime")
    };
    match args.command.unwrap_or(Command::Run) {
        Command::Run => {
            let config = load()?;
            runtime()?.block_on(serve(config, data_dir))
        }
        Command::Code { host, png } => print_code(&load()?, &data_dir, host, png),
        Command::Backup { output, passphrase_file } => back_up(&load()?, &data_dir, output, passphrase_file),
        Command::Backups => list_backups(&load()?, &data_dir),
        Command::Restore { archive, passphrase_file, force } => {
            if config_path != data_dir.config_file() {
                bail!("restore writes DATA_DIR/server.toml; leave out --config");
            }
            restore(&archive, &data_dir, passphrase_file, force)
        }
        Command::Verify { archive, passphrase_file } => verify(&archive, passphrase_file),
        Command::Invite(flags) => {
            let config = load()?;
            runtime()?.block_on(make_invite(&config, &data_dir, flags))
        }
        Command::Invites => {
            let config = load()?;
            runtime()?.block_on(list_invites(&config, &data_dir))
        }
        Command::VpnPeer(command) => {
            let config = load()?;
            runtime()?.block_on(vpn_peer(&config, &data_dir, command))
        }
        Command::Health { address } => {
            let config = load()?;
            runtime()?.block_on(health(&config, &data_dir, address))
        }
    }
}

async fn health(config: &config::Config, data_dir: &DataDir, address: Option<std::net::SocketAddr>) -> Result<()> {
    let mut target = update::health::Target::local(config, data_dir)?;
    if let Some(address) = address {
        target.addr = address;
    }
    let report = update::health::probe(target).await?;
    if report.status != "ok" {
        bail!("{} reports status {}", target.addr, report.status);
    }
    println!("ok: itc-server {} at {}, up {} s", report.version, target.addr, report.uptime_seconds);
    Ok(())
}

fn init_logging(level: &str) {
    let level = level.parse().unwrap_or(tracing::Level::INFO);
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

async fn serve(config: config::Config, data_dir: DataDir) -> Result<()> {
    let host = server::default_public_host(&config);
    // Listen for signals before anyone can see the server: a stop that comes right after the
    // connection code is printed still shuts down gracefully (and removes port mappings).
    let stop = stop_signal()?;
    tokio::pin!(stop);
    let checker_stop = tokio_util::sync::CancellationToken::new();
    let _stop_checker = checker_stop.clone().drop_guard();
    let mut updates = update::spawn_checker(
        &config.update,
        data_dir.root().to_path_buf(),
        update::Artifact::ServerArchive,
        checker_stop,
    );
    // Beside the server, not inside it: the nightly backups run while it runs, and one under
    // way when the program ends is cancelled cleanly.
    let backups = Arc::new(Backups::new(config.clone(), data_dir.clone()));
    let mut running = start_and_announce(&config, &data_dir, &host, &backups).await?;
    loop {
        let available = tokio::select! {
            stopped = &mut stop => { stopped?; break; }
            available = next_update(&mut updates) => available,
            Err(err) = show_internet_codes(&running) => return Err(err),
        };
        let packaged = std::env::current_exe().is_ok_and(|exe| update::install::managed_by_package(&exe));
        if packaged || !config.update.auto_install {
            let how = if packaged {
                "install the new package (apt, or a new container image)"
            } else {
                "set update.auto_install = true to install it automatically"
            };
            tracing::info!(
                "IPTinCan {} is available (running {}); {how}",
                available.version,
                iptincan::version::current()
            );
            continue;
        }
        running = install_update(running, &backups, &config, &data_dir, &host, &available.version).await?;
    }
    tracing::info!("stopping");
    let stopped = running.shutdown().await;
    backups.close().await;
    if stopped {
        tracing::info!("stopped");
    }
    Ok(())
}

/// Starts the server and its nightly backups, and prints its addresses and connection code.
async fn start_and_announce(
    config: &config::Config,
    data_dir: &DataDir,
    host: &str,
    backups: &Arc<Backups>,
) -> Result<server::RunningServer> {
    let running = server::start(config.clone(), data_dir.clone()).await?;
    running.attach_backups(backups.clone());
    tokio::spawn(backups.clone().run_nightly(running.cancel_token()));
    println!(
        "itc-server {}: listening control=tcp/{} media=udp/{} rest=tcp/{}",
        iptincan::version::current(),
        running.control_addr(),
        running.media_addr(),
        running.rest_addr()
    );
    let code = running.connection_code(host).encode()?;
    println!("Connection code: {code}");
    if std::io::stdout().is_terminal() {
        println!("{}", iptincan::code::render_qr_terminal(&code)?);
    }
    Ok(running)
}

/// The next newer release the update checker finds (never, when checking is off).
async fn next_update(updates: &mut Option<tokio::sync::watch::Receiver<update::CheckState>>) -> update::Available {
    loop {
        let Some(receiver) = updates.as_mut() else { return std::future::pending().await };
        if receiver.changed().await.is_err() {
            *updates = None;
            continue;
        }
        if let Some(available) = receiver.borrow_and_update().available.clone() {
            return available;
        }
    }
}

/// Installs `version` in place of this program: downloads and verifies it, stops the server,
/// runs the new program on trial and, when it answers its health check with the new version,
/// becomes it (same process, after cancelling a backup under way). Otherwise puts the previous
/// program back, remembers the version as bad and starts the server again, which it returns.
async fn install_update(
    running: server::RunningServer,
    backups: &Arc<Backups>,
    config: &config::Config,
    data_dir: &DataDir,
    host: &str,
    version: &str,
) -> Result<server::RunningServer> {
    tracing::info!("installing IPTinCan {version} (update.auto_install = true)");
    let exe = std::env::current_exe().context("cannot find this program's path")?;
    let (feed, wanted, path) = (config.update.feed_url.clone(), version.to_string(), exe.clone());
    let replaced = tokio::task::spawn_blocking(move || {
        update::install::replace_server(&feed, &wanted, &path, download_logger(wanted.clone()))
    })
    .await?;
    let installed = match replaced {
        Ok(installed) => installed,
        Err(err) => {
            tracing::error!("the update was not installed: {err}");
            if matches!(err, update::UpdateError::BrokenRelease { .. }) {
                update::State::mark_bad(data_dir.root(), version)?;
            }
            return Ok(running);
        }
    };
    let fingerprint = running.fingerprint();
    tracing::info!("stopping to try IPTinCan {version}");
    running.shutdown().await;
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let timeout = std::time::Duration::from_secs(config.update.health_timeout_seconds.into());
    match update::install::trial_run(&exe, &args, version, fingerprint, timeout).await {
        Ok(()) => {
            tracing::info!("IPTinCan {version} passed its health check; restarting into it");
            backups.close().await;
            Err(become_program(&exe, &args))
        }
        Err(failed) => {
            tracing::error!(
                "IPTinCan {version} failed its trial run ({failed}); rolling back to {}",
                iptincan::version::current()
            );
            installed.roll_back()?;
            update::State::mark_bad(data_dir.root(), version)?;
            start_and_announce(config, data_dir, host, backups).await
        }
    }
}

/// Replaces this process with the program at `exe` (Unix: the same process id, so a service
/// manager sees no stop); returns only if that failed.
#[cfg(unix)]
fn become_program(exe: &std::path::Path, args: &[std::ffi::OsString]) -> anyhow::Error {
    use std::os::unix::process::CommandExt as _;
    let err = std::process::Command::new(exe).args(args).exec();
    anyhow::anyhow!("cannot start the new program {}: {err}", exe.display())
}

/// Starts the program at `exe` in place of this one and exits.
#[cfg(windows)]
fn become_program(exe: &std::path::Path, args: &[std::ffi::OsString]) -> anyhow::Error {
    match std::process::Command::new(exe).args(args).spawn() {
        Ok(_) => std::process::exit(0),
        Err(err) => anyhow::anyhow!("cannot start the new program {}: {err}", exe.display()),
    }
}

/// Logs a download's progress at every tenth.
fn download_logger(version: String) -> impl Fn(update::DownloadProgress) + Send + Sync + 'static {
    let shown = std::sync::atomic::AtomicU64::new(u64::MAX);
    move |progress| {
        let tenth = progress.percent() / 10;
        if shown.swap(tenth, std::sync::atomic::Ordering::Relaxed) != tenth {
            tracing::info!("downloading IPTinCan {version}: {}% ({} bytes)", progress.percent(), progress.downloaded);
        }
    }
}

/// Prints the internet connection code each time port mapping opens the ports at a new
/// external address or port; runs until port mapping is off.
async fn show_internet_codes(running: &server::RunningServer) -> Result<()> {
    let mut states = running.port_mapping_changes();
    let mut shown: Option<String> = None;
    // An error means port mapping is off: nothing will change.
    while states.changed().await.is_ok() {
        let code = running.internet_connection_code().map(|code| code.encode()).transpose()?;
        if let Some(code) = code.as_deref().filter(|code| shown.as_deref() != Some(*code)) {
            println!("Internet connection code: {code}");
            if std::io::stdout().is_terminal() {
                println!("{}", iptincan::code::render_qr_terminal(code)?);
            }
        }
        shown = code;
    }
    Ok(())
}

/// Ctrl-C or SIGTERM, listened for from this call on.
fn stop_signal() -> Result<impl std::future::Future<Output = Result<()>>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
            Ok(())
        })
    }
    #[cfg(not(unix))]
    Ok(async { Ok(tokio::signal::ctrl_c().await?) })
}

/// This server's connection code for `host` (default: its LAN address).
fn own_code(config: &config::Config, data_dir: &DataDir, host: Option<String>) -> Result<ConnectionCode> {
    let identity = server::prepare_identity(config, data_dir)?;
    let host = host.unwrap_or_else(|| server::default_public_host(config));
    let fingerprint = identity.as_ref().map(|identity| identity.fingerprint());
    Ok(server::connection_code(config, &host, config.server.tcp_port, fingerprint))
}

async fn make_invite(config: &config::Config, data_dir: &DataDir, flags: InviteFlags) -> Result<()> {
    let options = InviteOptions::checked(
        Some(flags.uses),
        flags.expires.map(|expires| expires.as_secs()),
        Some(flags.role),
        flags.note,
    )?;
    let code = own_code(config, data_dir, flags.host)?;
    let store = Store::open(&data_dir.resolve(&config.database.path))?;
    let created = server::invites::create(&store, None, options, code).await?;
    invite::print_created(&created, flags.png.as_ref())
}

async fn list_invites(config: &config::Config, data_dir: &DataDir) -> Result<()> {
    let store = Store::open(&data_dir.resolve(&config.database.path))?;
    for listed in store.list_invites(iptincan::clock::now_ms()).await? {
        println!("{}", invite::describe(&listed));
    }
    Ok(())
}

async fn vpn_peer(config: &config::Config, data_dir: &DataDir, command: VpnPeerCommand) -> Result<()> {
    use iptincan::vpn::access;
    let store = Store::open(&data_dir.resolve(&config.database.path))?;
    match command {
        VpnPeerCommand::Add { username, name, host, png, output } => {
            let user = store.user_by_name(username.clone()).await?.with_context(|| format!("no user {username}"))?;
            let host = host.unwrap_or_else(|| server::default_public_host(config));
            let settings = access::Settings::from_config(&config.vpn);
            let endpoint = access::endpoint(&host, config.server.udp_port);
            let (peer, client) =
                access::create_for_app(&store, &settings, user.user.id, &name, endpoint, iptincan::clock::now_ms())
                    .await?;
            let text = client.to_text();
            print!("{text}");
            println!("{}", iptincan::code::render_qr_terminal(&text)?);
            eprintln!(
                "VPN peer {} ({} {}) at {}; the private key above is not kept: import it now{}",
                peer.id,
                peer.username,
                peer.name,
                peer.address,
                if config.vpn.enabled { "" } else { " (vpn.enabled is false: turn it on to use it)" }
            );
            if let Some(path) = png {
                iptincan::code::write_qr_png(&text, &path, 6)?;
                eprintln!("QR code written to {}", path.display());
            }
            if let Some(path) = output {
                write_private(&path, &text)?;
                eprintln!("config written to {}", path.display());
            }
        }
        VpnPeerCommand::List => {
            for peer in store.list_vpn_peers().await? {
                let cap =
                    peer.max_bandwidth_kbps.map_or("server-wide cap".to_string(), |kbps| format!("{kbps} kbit/s"));
                println!("{}\t{}\t{}\t{}\t{cap}", peer.id, peer.username, peer.name, peer.address);
            }
        }
        VpnPeerCommand::Remove { peer_id } => {
            let peer = store.delete_vpn_peer(peer_id).await?;
            eprintln!("removed VPN peer {} ({} {})", peer.id, peer.username, peer.name);
        }
    }
    Ok(())
}

/// Writes `text` to a new file only its owner can read.
fn write_private(path: &std::path::Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(text.as_bytes()).with_context(|| format!("cannot write {}", path.display()))
}

fn print_code(config: &config::Config, data_dir: &DataDir, host: Option<String>, png: Option<PathBuf>) -> Result<()> {
    let code = own_code(config, data_dir, host)?.encode()?;
    println!("{code}");
    println!("{}", iptincan::code::render_qr_terminal(&code)?);
    if let Some(path) = png {
        iptincan::code::write_qr_png(&code, &path, 8)?;
        eprintln!("QR code written to {}", path.display());
    }
    Ok(())
}

/// Prints a progress line on stderr when a step starts and at every tenth of it.
fn progress_printer(label: &'static str) -> impl FnMut(Progress) {
    let mut shown = None;
    move |progress: Progress| {
        let tenth = (progress.step, progress.percent() / 10);
        if shown != Some(tenth) {
            shown = Some(tenth);
            eprintln!("{label}: {} {}%", progress.step, progress.percent());
        }
    }
}

fn read_passphrase(file: Option<PathBuf>) -> Result<Option<Passphrase>> {
    Ok(file.map(|file| Passphrase::from_file(&file)).transpose()?)
}

fn back_up(
    config: &config::Config,
    data_dir: &DataDir,
    output: Option<PathBuf>,
    passphrase_file: Option<PathBuf>,
) -> Result<()> {
    let configured = Some(&config.backup.passphrase_file).filter(|f| !f.is_empty()).map(|f| data_dir.resolve(f));
    let passphrase = read_passphrase(passphrase_file.or(configured))?;
    let prune = output.is_none();
    let options = BackupOptions { output, passphrase, ..BackupOptions::default() };
    let report = backup::create(config, data_dir, &options, progress_printer("backup"))?;
    println!(
        "backup written and verified: {} ({} bytes, {} files{})",
        report.path.display(),
        report.size,
        report.files,
        if report.encrypted { ", encrypted" } else { "" }
    );
    if prune {
        let folder = data_dir.resolve(&config.backup.directory);
        for old in backup::prune(&folder, config.backup.retention_days, jiff::Timestamp::now())? {
            println!("deleted {} (older than {} days)", old.display(), config.backup.retention_days);
        }
    }
    Ok(())
}

fn restore(archive: &std::path::Path, data_dir: &DataDir, passphrase_file: Option<PathBuf>, force: bool) -> Result<()> {
    let options = RestoreOptions { passphrase: read_passphrase(passphrase_file)?, replace_other_server: force };
    let report = backup::restore(archive, data_dir, &options, progress_printer("restore"))?;
    println!(
        "restored the backup of \"{}\" taken {} ({} files) into {}",
        report.server_name,
        report.created,
        report.files,
        data_dir.root().display()
    );
    if let Some(aside) = report.set_aside {
        println!("the files it replaced are in {}", aside.display());
    }
    Ok(())
}

fn verify(archive: &std::path::Path, passphrase_file: Option<PathBuf>) -> Result<()> {
    let manifest = backup::verify(archive, read_passphrase(passphrase_file)?.as_ref())?;
    println!(
        "{}: a sound backup of \"{}\" taken {} by IPTinCan {} ({} files)",
        archive.display(),
        manifest.server.name,
        manifest.created,
        manifest.app_version,
        manifest.files.len()
    );
    Ok(())
}

fn list_backups(config: &config::Config, data_dir: &DataDir) -> Result<()> {
    let folder = data_dir.resolve(&config.backup.directory);
    let archives = backup::list(&folder)?;
    if archives.is_empty() {
        println!("no backups in {}", folder.display());
    }
    let zone = jiff::tz::TimeZone::system();
    for archive in archives {
        println!(
            "{}  {:>12} bytes  {:9}  {}",
            archive.created.to_zoned(zone.clone()).strftime("%Y-%m-%d %H:%M:%S %Z"),
            archive.size,
            if archive.encrypted { "encrypted" } else { "plain" },
            archive.path.display()
        );
    }
    Ok(())
}
