//! `itc-server`: the headless IPTinCan server. Parses arguments, loads `server.toml`, sets up
//! logging, and hands over to the engine library; no server logic lives here.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use iptincan::config::{self, DataDir};
use iptincan::server;
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
    let loaded = config::load_or_create(&config_path)?;
    init_logging(&loaded.config.server.log_level);
    if loaded.created {
        tracing::info!(path = %config_path.display(), "wrote the default configuration");
    }
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    match args.command.unwrap_or(Command::Run) {
        Command::Run => runtime.block_on(serve(loaded.config, data_dir)),
        Command::Code { host, png } => print_code(&loaded.config, &data_dir, host, png),
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

fn print_code(config: &config::Config, data_dir: &DataDir, host: Option<String>, png: Option<PathBuf>) -> Result<()> {
    let identity = server::prepare_identity(config, data_dir)?;
    let host = host.unwrap_or_else(|| server::default_public_host(config));
    let fingerprint = identity.as_ref().map(|identity| identity.fingerprint());
    let code = server::connection_code(config, &host, config.server.tcp_port, fingerprint).encode()?;
    println!("{code}");
    println!("{}", iptincan::code::render_qr_terminal(&code)?);
    if let Some(path) = png {
        iptincan::code::write_qr_png(&code, &path, 8)?;
        eprintln!("QR code written to {}", path.display());
    }
    Ok(())
}
