//! `itc-server`: the headless IPTinCan server. Parses arguments, loads `server.toml`, sets up
//! logging, and hands over to the engine library; no server logic lives here.

#[path = "shared/invite.rs"]
mod invite;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use invite::InviteFlags;
use iptincan::backup::{self, BackupOptions, Passphrase, Progress, RestoreOptions};
use iptincan::code::ConnectionCode;
use iptincan::config::{self, DataDir};
use iptincan::server::{self, invites::InviteOptions};
use iptincan::store::Store;
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "itc-server", version, about = "IPTinCan server: private voice, video and text chat")]
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
    /// while the server runs)
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
    let runtime = || tokio::runtime::Runtime::new().context("cannot start the async runtime");
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
    }
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
    let running = server::start(config, data_dir).await?;
    println!(
        "itc-server {}: listening control=tcp/{} media=udp/{} rest=tcp/{}",
        server::VERSION,
        running.control_addr(),
        running.media_addr(),
        running.rest_addr()
    );
    let code = running.connection_code(&host).encode()?;
    println!("Connection code: {code}");
    if std::io::stdout().is_terminal() {
        println!("{}", iptincan::code::render_qr_terminal(&code)?);
    }
    show_internet_code_until(&running, stop).await?;
    tracing::info!("stopping");
    if running.shutdown().await {
        tracing::info!("stopped");
    }
    Ok(())
}

/// Waits for `stop`; meanwhile prints the internet connection code each time port mapping
/// opens the ports at a new external address or port.
async fn show_internet_code_until(
    running: &server::RunningServer,
    stop: impl std::future::Future<Output = Result<()>>,
) -> Result<()> {
    tokio::pin!(stop);
    let mut states = running.port_mapping();
    let mut watching = true;
    let mut shown: Option<String> = None;
    loop {
        tokio::select! {
            stopped = &mut stop => return stopped,
            changed = states.changed(), if watching => {
                // An error means port mapping is off: nothing will change.
                watching = changed.is_ok();
                let code = running.internet_connection_code().map(|code| code.encode()).transpose()?;
                if let Some(code) = code.as_deref().filter(|code| shown.as_deref() != Some(*code)) {
                    println!("Internet connection code: {code}");
                    if std::io::stdout().is_terminal() {
                        println!("{}", iptincan::code::render_qr_terminal(code)?);
                    }
                }
                shown = code;
            }
        }
    }
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
    for listed in store.list_invites(server::auth::now_ms()).await? {
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
                access::create_for_app(&store, &settings, user.user.id, &name, endpoint, server::auth::now_ms())
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
    let options = BackupOptions { output, passphrase };
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
