//! `itc`: the scriptable IPTinCan command-line client. Each command connects, logs in when it
//! needs to, does one thing, and exits non-zero with one line on stderr when it fails.
//! All protocol work is in the engine's `client` module.

#[path = "itc/data_rights.rs"]
mod data_rights;
#[path = "itc/files.rs"]
mod files;
#[path = "shared/invite.rs"]
mod invite;
#[path = "itc/moderation.rs"]
mod moderation;
#[path = "itc/rich_chat.rs"]
mod rich_chat;
#[path = "itc/supervision.rs"]
mod supervision;
#[path = "itc/talk.rs"]
mod talk;
#[path = "itc/tokens.rs"]
mod tokens;
#[path = "itc/vpn.rs"]
mod vpn;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use invite::InviteFlags;
use iptincan::client::call::Call;
use iptincan::client::device_cookies::DeviceCookieJar;
use iptincan::client::{Client, InviteSpec, KnownHosts, Target};
use iptincan::proto::{Channel, ChannelId, ChannelKind, Event, Message, MessageId, Role, SessionInfo};
use std::io::BufRead;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "itc", version = iptincan::version::current(), about = "IPTinCan command-line client")]
struct Args {
    /// Server: a connection code (ITC-…) or host[:port]
    #[arg(long, short, env = "ITC_SERVER", global = true)]
    server: Option<String>,
    /// User name
    #[arg(long, short, env = "ITC_USER", global = true)]
    user: Option<String>,
    /// Password (prefer ITC_PASSWORD or --password-stdin: flags show up in process lists)
    #[arg(long, env = "ITC_PASSWORD", global = true, hide_env_values = true)]
    password: Option<String>,
    /// Read the password from the first line of standard input
    #[arg(long, global = true)]
    password_stdin: bool,
    /// File of certificate fingerprints pinned on first use [default: ~/.config/itc/known_hosts;
    /// Windows: %APPDATA%\itc\known_hosts]
    #[arg(long, env = "ITC_KNOWN_HOSTS", global = true, value_name = "FILE")]
    known_hosts: Option<PathBuf>,
    /// Set for `itc passwd`, which changes the password itself (no prompt after login)
    #[arg(skip)]
    changing_password: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show the server's name, description, message of the day and sign-in methods
    Info,
    /// Show what a connection code or invite contains (the invite's secret is not shown)
    Decode {
        /// The code or invite (ITC-… or itc://join/ITC-…)
        code: String,
    },
    /// Create an account (when the server allows registration)
    Register,
    /// Check the user name and password; print the account and session expiry
    Login,
    /// Change the password
    Passwd {
        /// The new password
        #[arg(long, env = "ITC_NEW_PASSWORD", hide_env_values = true)]
        new: String,
    },
    /// List categories and channels
    Channels,
    /// List users with presence and status
    Users,
    /// Set the custom status; without TEXT, clear it
    Status {
        /// Status text
        text: Vec<String>,
    },
    /// Send a message to #CHANNEL (or @USER for a direct message)
    Send {
        /// Channel name (general or #general), id, or @user
        channel: String,
        /// Message text
        #[arg(required = true)]
        text: Vec<String>,
    },
    /// Send a direct message
    Dm {
        /// The other user
        recipient: String,
        /// Message text
        #[arg(required = true)]
        text: Vec<String>,
    },
    /// Print a channel's history, oldest first
    History {
        /// Channel name, id, or @user
        channel: String,
        /// How many messages (1-100)
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Only messages older than this message id
        #[arg(long)]
        before: Option<i64>,
    },
    /// Print each new message of a channel as it arrives
    Follow {
        /// Channel name, id, or @user
        channel: String,
        /// Stop after this many messages
        #[arg(long)]
        count: Option<u64>,
        /// Stop after this many seconds
        #[arg(long)]
        seconds: Option<u64>,
    },
    /// Edit one of your messages
    Edit {
        /// Message id
        id: i64,
        /// New text
        #[arg(required = true)]
        text: Vec<String>,
    },
    /// Delete a message (yours; admins: any)
    Delete {
        /// Message id
        id: i64,
    },
    /// Upload FILE to #CHANNEL (or @USER) as a message; prints the file id
    Upload {
        /// Channel name, id, or @user
        channel: String,
        /// The file
        file: PathBuf,
        /// Text to send with it
        #[arg(long)]
        text: Option<String>,
        /// Keep a picture's metadata (EXIF, GPS position); by default the server strips it
        #[arg(long)]
        keep_metadata: bool,
    },
    /// Download a file by id into OUT
    Download {
        /// File id (from `itc upload` or a message's attachments)
        file_id: i64,
        /// Where to write it
        out: PathBuf,
        /// Download the picture's thumbnail instead
        #[arg(long)]
        thumbnail: bool,
    },
    /// Create your account with an invite (ITC-….… or itc://join/ITC-….…) and log in; the server comes from the invite
    Join {
        /// The invite text or link (scan its QR code, or copy it)
        invite: String,
    },
    /// Voice: talk in a voice channel, play a WAV file into one or record one (end-to-end encrypted)
    #[command(subcommand)]
    Voice(VoiceCommand),
    /// The VPN on this computer (Linux, as root): browse through the home server
    #[command(subcommand)]
    Vpn(vpn::VpnCommand),
    /// Save everything the server keeps of you (admins: of anyone) as one JSON document
    Export(data_rights::ExportArgs),
    /// Delete your account (admins: anyone else's) with its messages, sessions, tokens, VPN peers and invites
    DeleteAccount(data_rights::DeleteArgs),
    /// Admin commands
    #[command(subcommand)]
    Admin(AdminCommand),
    #[command(flatten)]
    Rich(rich_chat::RichCommand),
}

#[derive(Subcommand)]
enum VoiceCommand {
    /// Join CHANNEL (or @user for a 1:1 call) and talk through this computer's microphone and speakers
    Talk {
        /// Voice channel name or id, or @user
        channel: String,
        #[command(flatten)]
        flags: talk::TalkFlags,
    },
    /// List the microphones and speakers `talk` can use
    Devices,
    /// Join CHANNEL (or @user for a 1:1 call) and speak FILE into it in real time
    Play {
        /// Voice channel name or id, or @user
        channel: String,
        /// A 48 kHz mono 16-bit WAV file (convert with: sox IN -r 48000 -c 1 -b 16 OUT)
        file: PathBuf,
        /// Milliseconds to wait after joining (for key exchange) before speaking
        #[arg(long, default_value_t = 1000)]
        lead_in_ms: u64,
    },
    /// Join CHANNEL (or @user) and record what it hears to FILE (48 kHz mono 16-bit WAV)
    Record {
        /// Voice channel name or id, or @user
        channel: String,
        /// The WAV file to write
        file: PathBuf,
        /// How long to record
        #[arg(long)]
        seconds: u64,
    },
}

#[derive(Subcommand)]
enum AdminVpnCommand {
    /// The VPN's state and every peer with its traffic
    Peers,
    /// Make a key pair for a member's WireGuard app and print its config and QR code, once
    Add {
        /// The member
        username: String,
        /// The device's label
        #[arg(long, default_value = "phone")]
        name: String,
        /// Host for the config's Endpoint [default: the server's connection code host]
        #[arg(long)]
        host: Option<String>,
        /// Also write the QR code as a PNG picture to FILE
        #[arg(long, value_name = "FILE")]
        png: Option<PathBuf>,
    },
    /// Remove a peer; its tunnel ends at once
    Revoke {
        /// The peer's id (from `itc admin vpn peers`)
        id: i64,
    },
    /// Cap bandwidth in kbit/s each way (0 = unlimited) for one peer or, without --peer, for
    /// every peer without its own cap
    Limit {
        /// The peer's id
        #[arg(long)]
        peer: Option<i64>,
        /// The cap; "default" goes back to the server-wide cap (for a peer) or
        /// vpn.max_bandwidth_kbps
        kbps: String,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// The built-in VPN: peers, configs for the WireGuard apps, revoking, bandwidth caps
    #[command(subcommand)]
    Vpn(AdminVpnCommand),
    /// Create a channel
    CreateChannel {
        /// Name
        name: String,
        /// Category id
        #[arg(long)]
        category: Option<i64>,
        /// Make it a voice channel
        #[arg(long)]
        voice: bool,
    },
    /// Rename a channel
    RenameChannel {
        /// Channel name or id
        channel: String,
        /// New name
        name: String,
    },
    /// Delete a channel and its messages
    DeleteChannel {
        /// Channel name or id
        channel: String,
    },
    /// Create a category
    CreateCategory {
        /// Name
        name: String,
    },
    /// Give a user the admin, moderator or member role
    SetRole {
        /// The user to change
        member: String,
        /// admin, moderator or member
        role: Role,
    },
    /// Make an invite: its text and QR code let one person (or --uses N) make an account
    Invite(InviteFlags),
    /// List invites, newest first
    Invites,
    /// Withdraw an invite
    RevokeInvite {
        /// Invite id (from `itc admin invites`)
        id: i64,
    },
    #[command(flatten)]
    Moderation(moderation::ModerationCommand),
    #[command(flatten)]
    Supervision(supervision::SupervisionCommand),
    /// Access tokens for the REST API
    #[command(subcommand)]
    Token(tokens::TokenCommand),
    /// List access tokens, newest first
    Tokens,
    /// Revoke an access token at once
    RevokeToken {
        /// Token id (from `itc admin tokens`)
        id: i64,
    },
    /// Custom emoji: add, remove, rename, list
    #[command(subcommand)]
    Emoji(files::EmojiCommand),
}

fn main() {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("itc: cannot start: {err}");
            std::process::exit(1);
        }
    };
    if let Err(err) = runtime.block_on(run(args)) {
        eprintln!("itc: {err:#}");
        std::process::exit(1);
    }
}

async fn run(mut args: Args) -> Result<()> {
    let command = std::mem::replace(&mut args.command, Command::Info);
    match command {
        Command::Decode { code } => decode(&code),
        Command::Info => {
            let (client, _) = connect(&args).await?;
            let welcome = client.welcome();
            println!("name: {}", welcome.server.name);
            println!("description: {}", welcome.server.description);
            println!("motd: {}", welcome.server.motd);
            println!("version: {} (protocol {})", welcome.server.version, welcome.version);
            println!("users online: {}/{}", welcome.server.users_online, welcome.server.max_users);
            let methods: Vec<String> = welcome.auth_methods.iter().map(|m| format!("{m:?}").to_lowercase()).collect();
            println!("sign-in: {}", methods.join(", "));
            Ok(())
        }
        Command::Join { invite } => {
            let target = Target::parse(&invite)?;
            let client = Client::connect(&target, known_hosts(&args).as_ref()).await?;
            let (user, password) = credentials(&mut args)?;
            let session = client.redeem_invite(&invite, &user, &password).await?;
            keep_device_cookie(&args, &target, &session);
            println!("joined as {} ({})", session.user.username, session.user.role.as_str());
            Ok(())
        }
        Command::Register => {
            let (client, target) = connect(&args).await?;
            let (user, password) = credentials(&mut args)?;
            let session = client.register(&user, &password).await?;
            keep_device_cookie(&args, &target, &session);
            println!("registered {} ({})", session.user.username, session.user.role.as_str());
            Ok(())
        }
        Command::Login => {
            let client = logged_in(&mut args).await?.0;
            drop(client);
            Ok(())
        }
        Command::Export(export) => data_rights::export(&logged_in(&mut args).await?.0, export).await,
        Command::DeleteAccount(delete) => data_rights::delete(&logged_in(&mut args).await?.0, delete).await,
        Command::Passwd { new } => {
            args.changing_password = true;
            let (client, password) = logged_in(&mut args).await?;
            client.change_password(&password, &new).await?;
            println!("password changed");
            Ok(())
        }
        Command::Channels => {
            let client = logged_in(&mut args).await?.0;
            let list = client.channels().await?;
            for category in &list.categories {
                println!("{}", category.name);
                for channel in list.channels.iter().filter(|c| c.category_id == Some(category.id)) {
                    println!("  {}", describe_channel(channel));
                }
            }
            for channel in list.channels.iter().filter(|c| c.category_id.is_none()) {
                println!("{}", describe_channel(channel));
            }
            Ok(())
        }
        Command::Users => {
            let client = logged_in(&mut args).await?.0;
            for user in client.users().await? {
                let presence = if user.online { "online" } else { "offline" };
                let status = user.status.map(|s| format!(" — {s}")).unwrap_or_default();
                println!("{} ({}) {presence}{status}", user.user.username, user.user.role.as_str());
            }
            Ok(())
        }
        Command::Status { text } => {
            let client = logged_in(&mut args).await?.0;
            let text = text.join(" ");
            client.set_status(Some(text.as_str()).filter(|t| !t.is_empty())).await?;
            Ok(())
        }
        Command::Send { channel, text } => {
            let client = logged_in(&mut args).await?.0;
            let channel = resolve_channel(&client, &channel).await?;
            let message = client.send(channel.id, &text.join(" ")).await?;
            println!("sent #{}", message.id);
            Ok(())
        }
        Command::Dm { recipient, text } => {
            let client = logged_in(&mut args).await?.0;
            let channel = client.open_direct(&recipient).await?;
            let message = client.send(channel.id, &text.join(" ")).await?;
            println!("sent #{}", message.id);
            Ok(())
        }
        Command::History { channel, limit, before } => {
            let client = logged_in(&mut args).await?.0;
            let channel = resolve_channel(&client, &channel).await?;
            let page = client.history(channel.id, before.map(MessageId), Some(limit)).await?;
            for message in &page.messages {
                println!("{}", format_message(message));
            }
            if page.has_more {
                if let Some(first) = page.messages.first() {
                    eprintln!("(older messages: --before {})", first.id);
                }
            }
            Ok(())
        }
        Command::Follow { channel, count, seconds } => {
            let mut client = logged_in(&mut args).await?.0;
            let channel = resolve_channel(&client, &channel).await?;
            follow(&mut client, channel.id, count, seconds).await
        }
        Command::Edit { id, text } => {
            let client = logged_in(&mut args).await?.0;
            client.edit(MessageId(id), &text.join(" ")).await?;
            Ok(())
        }
        Command::Delete { id } => {
            let client = logged_in(&mut args).await?.0;
            client.delete(MessageId(id)).await?;
            Ok(())
        }
        Command::Upload { channel, file, text, keep_metadata } => {
            let client = logged_in(&mut args).await?.0;
            let channel = resolve_channel(&client, &channel).await?;
            files::upload(&client, &channel, &file, text, keep_metadata).await
        }
        Command::Download { file_id, out, thumbnail } => {
            let client = logged_in(&mut args).await?.0;
            files::download(&client, file_id, &out, thumbnail).await
        }
        Command::Voice(VoiceCommand::Devices) => talk::list_devices(),
        Command::Voice(voice) => {
            let mut client = logged_in(&mut args).await?.0;
            run_voice(&mut client, voice).await
        }
        Command::Admin(admin) => {
            let client = logged_in(&mut args).await?.0;
            run_admin(&client, admin).await
        }
        Command::Rich(command) => rich_chat::run(&logged_in(&mut args).await?.0, command).await,
        Command::Vpn(command) => {
            let paths = vpn::paths(config_dir())?;
            match command {
                vpn::VpnCommand::Up { name, device, foreground } => {
                    let client = logged_in(&mut args).await?.0;
                    let server = args.server.clone().unwrap_or_default();
                    vpn::up(&client, &server, &paths, name, &device, foreground).await
                }
                vpn::VpnCommand::Down => vpn::down(&paths),
                vpn::VpnCommand::Status => vpn::status(&paths),
                vpn::VpnCommand::Tunnel => vpn::tunnel(&paths).await,
            }
        }
    }
}

async fn run_admin_vpn(client: &Client, command: AdminVpnCommand) -> Result<()> {
    match command {
        AdminVpnCommand::Peers => print_vpn_status(&client.vpn_status().await?),
        AdminVpnCommand::Add { username, name, host, png } => {
            let created = client.vpn_create_peer(&username, &name, host).await?;
            print!("{}", created.config_text);
            println!("{}", iptincan::code::render_qr_terminal(&created.config_text)?);
            eprintln!(
                "VPN peer {} ({} {}) at {}; the private key above is not kept: import it now",
                created.peer.id, created.peer.username, created.peer.name, created.peer.address
            );
            if let Some(path) = png {
                iptincan::code::write_qr_png(&created.config_text, &path, 6)?;
                eprintln!("QR code written to {}", path.display());
            }
        }
        AdminVpnCommand::Revoke { id } => {
            let peer = client.vpn_revoke(id).await?;
            println!("revoked VPN peer {} ({} {})", peer.id, peer.username, peer.name);
        }
        AdminVpnCommand::Limit { peer, kbps } => {
            let kbps = match kbps.as_str() {
                "default" => None,
                number => Some(number.parse::<u32>().context("the cap is a number of kbit/s, or \"default\"")?),
            };
            client.vpn_set_limit(peer, kbps).await?;
            let what = peer.map_or("every peer without its own cap".to_string(), |id| format!("peer {id}"));
            match kbps {
                Some(0) => println!("{what}: unlimited"),
                Some(kbps) => println!("{what}: {kbps} kbit/s each way"),
                None => println!("{what}: back to the default"),
            }
        }
    }
    Ok(())
}

/// The VPN's state line, then one line per peer.
fn print_vpn_status(status: &iptincan::proto::VpnStatus) {
    println!("{}", status.summary);
    let cap = |kbps: u32| if kbps == 0 { "unlimited".to_string() } else { format!("{kbps} kbit/s") };
    println!("server-wide cap: {}", cap(status.max_bandwidth_kbps));
    for peer in &status.peers {
        let state = match peer.last_handshake_seconds {
            Some(seconds) if peer.connected => format!("connected (handshake {seconds} s ago)"),
            _ => "not connected".to_string(),
        };
        let limit = peer.max_bandwidth_kbps.map_or("server-wide cap".to_string(), cap);
        println!(
            "{}\t{}\t{}\t{}\t{state}\treceived {} B\tsent {} B\t{limit}",
            peer.id, peer.username, peer.name, peer.address, peer.rx_bytes, peer.tx_bytes
        );
    }
}

async fn run_voice(client: &mut Client, command: VoiceCommand) -> Result<()> {
    match command {
        VoiceCommand::Talk { channel, flags } => {
            let channel = resolve_channel(client, &channel).await?;
            talk::talk(client, channel.id, &describe_channel(&channel), flags).await?;
        }
        VoiceCommand::Devices => talk::list_devices()?,
        VoiceCommand::Play { channel, file, lead_in_ms } => {
            let samples = iptincan::client::audio::read_wav(&file)?;
            let channel = resolve_channel(client, &channel).await?;
            let mut call = Call::join(client, channel.id).await?;
            eprintln!("playing {:.1} s into {}", samples.len() as f64 / 48_000.0, describe_channel(&channel));
            call.play(client, &samples, Duration::from_millis(lead_in_ms)).await?;
            tokio::time::sleep(Duration::from_millis(200)).await;
            client.leave_voice().await?;
        }
        VoiceCommand::Record { channel, file, seconds } => {
            let channel = resolve_channel(client, &channel).await?;
            let mut call = Call::join(client, channel.id).await?;
            eprintln!(
                "recording {} for {seconds} s (safety number {})",
                describe_channel(&channel),
                call.safety_number()
            );
            let samples = call.record(client, Duration::from_secs(seconds)).await?;
            iptincan::client::audio::write_wav(&file, &samples)?;
            eprintln!("wrote {:.1} s to {}", samples.len() as f64 / 48_000.0, file.display());
            client.leave_voice().await?;
        }
    }
    Ok(())
}

async fn run_admin(client: &Client, command: AdminCommand) -> Result<()> {
    match command {
        AdminCommand::CreateChannel { name, category, voice } => {
            let kind = if voice { ChannelKind::Voice } else { ChannelKind::Text };
            let channel = client.create_channel(&name, category, kind).await?;
            println!("created {}", describe_channel(&channel));
        }
        AdminCommand::RenameChannel { channel, name } => {
            let channel = client.find_channel(&channel).await?;
            let channel = client.rename_channel(channel.id, &name).await?;
            println!("renamed to {}", describe_channel(&channel));
        }
        AdminCommand::DeleteChannel { channel } => {
            let channel = client.find_channel(&channel).await?;
            client.delete_channel(channel.id).await?;
            println!("deleted #{}", channel.name);
        }
        AdminCommand::CreateCategory { name } => {
            let reply = client.request(iptincan::proto::Request::CreateCategory { name }).await?;
            if let iptincan::proto::Reply::Category(category) = reply {
                println!("created category {} (id {})", category.name, category.id);
            }
        }
        AdminCommand::SetRole { member, role } => {
            client.set_role(&member, role).await?;
            println!("{member} is now {}", role.as_str());
        }
        AdminCommand::Invite(flags) => {
            let spec = InviteSpec {
                max_uses: Some(flags.uses),
                expires_in_seconds: flags.expires.map(|expires| expires.as_secs()),
                role: Some(flags.role),
                note: flags.note,
                host: flags.host,
            };
            let created = client.create_invite(spec).await?;
            invite::print_created(&created, flags.png.as_ref())?;
        }
        AdminCommand::Invites => {
            for listed in client.invites().await? {
                println!("{}", invite::describe(&listed));
            }
        }
        AdminCommand::RevokeInvite { id } => {
            println!("{}", invite::describe(&client.revoke_invite(id).await?));
        }
        AdminCommand::Vpn(command) => run_admin_vpn(client, command).await?,
        AdminCommand::Moderation(command) => moderation::run(client, command).await?,
        AdminCommand::Supervision(command) => supervision::run(client, command).await?,
        AdminCommand::Token(command) => tokens::run(client, command).await?,
        AdminCommand::Tokens => tokens::list(client).await?,
        AdminCommand::RevokeToken { id } => tokens::revoke(client, id).await?,
        AdminCommand::Emoji(command) => files::emoji(client, command).await?,
    }
    Ok(())
}

fn decode(code: &str) -> Result<()> {
    let code = iptincan::code::decode_code_or_invite(code)?;
    println!("name: {}", code.name);
    println!("host: {}", code.host);
    println!("port: {}", code.port);
    println!("tls: {}", code.tls);
    match code.fingerprint {
        Some(fingerprint) => println!("fingerprint: {}", iptincan::tls::format_fingerprint(&fingerprint)),
        None => println!("fingerprint: none"),
    }
    Ok(())
}

fn known_hosts(args: &Args) -> Option<KnownHosts> {
    if let Some(path) = &args.known_hosts {
        return Some(KnownHosts::new(path));
    }
    Some(KnownHosts::new(config_dir()?.join("known_hosts")))
}

/// `$XDG_CONFIG_HOME/itc`, else `~/.config/itc` (on Windows `%APPDATA%\itc`, the roaming
/// application data folder).
fn config_dir() -> Option<PathBuf> {
    let config = std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from).or_else(|| {
        if cfg!(windows) {
            std::env::var_os("APPDATA").map(PathBuf::from)
        } else {
            std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config"))
        }
    })?;
    Some(config.join("itc"))
}

/// The device cookies, kept beside the known-hosts file.
fn device_cookies(args: &Args) -> Option<DeviceCookieJar> {
    known_hosts(args).map(|hosts| DeviceCookieJar::beside(hosts.path()))
}

/// Keeps the session's device cookie for the next login; a failure is only a warning.
fn keep_device_cookie(args: &Args, target: &Target, session: &SessionInfo) {
    let (Some(jar), Some(cookie)) = (device_cookies(args), &session.device_cookie) else { return };
    if let Err(err) = jar.keep(&target.authority(), &session.user.username, cookie) {
        eprintln!("warning: {err}");
    }
}

/// Connects to `--server`; returns the client and the server as parsed.
async fn connect(args: &Args) -> Result<(Client, Target)> {
    let Some(server) = &args.server else {
        bail!("no server given: use --server ITC-… or host[:port], or set ITC_SERVER");
    };
    let target = Target::parse(server)?;
    Ok((Client::connect(&target, known_hosts(args).as_ref()).await?, target))
}

fn credentials(args: &mut Args) -> Result<(String, String)> {
    let user = args.user.clone().context("no user given: use --user NAME or set ITC_USER")?;
    if args.password_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("cannot read the password from stdin")?;
        args.password = Some(line.trim_end_matches(['\r', '\n']).to_string());
        args.password_stdin = false;
    }
    let password = args.password.clone().context("no password given: use --password-stdin or set ITC_PASSWORD")?;
    Ok((user, password))
}

/// Connects and logs in; returns the client and the password used.
async fn logged_in(args: &mut Args) -> Result<(Client, String)> {
    let (user, password) = credentials(args)?;
    let (client, target) = connect(args).await?;
    let jar = device_cookies(args);
    let cookie = match &jar {
        Some(jar) => jar.get(&target.authority(), &user).unwrap_or_else(|err| {
            eprintln!("warning: {err}");
            None
        }),
        None => None,
    };
    let session = client.login_with_device(&user, &password, cookie.as_deref()).await?;
    keep_device_cookie(args, &target, &session);
    eprintln!(
        "logged in as {} ({}), session valid until {}",
        session.user.username,
        session.user.role.as_str(),
        invite::format_time(session.expires_at)
    );
    if session.must_change_password && !args.changing_password {
        moderation::change_required_password(&client, &password).await?;
    }
    Ok((client, password))
}

async fn resolve_channel(client: &Client, name: &str) -> Result<Channel> {
    if let Some(user) = name.strip_prefix('@') {
        return Ok(client.open_direct(user).await?);
    }
    Ok(client.find_channel(name).await?)
}

async fn follow(client: &mut Client, channel_id: ChannelId, count: Option<u64>, seconds: Option<u64>) -> Result<()> {
    let deadline = seconds.map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
    let mut seen = 0u64;
    while count.is_none_or(|count| seen < count) {
        let next = match deadline {
            Some(deadline) => match tokio::time::timeout_at(deadline, client.next_event()).await {
                Ok(event) => event,
                Err(_) => return Ok(()),
            },
            None => client.next_event().await,
        };
        match next {
            None => bail!("the connection closed"),
            Some(Event::MessageCreated(message)) if message.channel_id == channel_id => {
                println!("{}", format_message(&message));
                seen += 1;
            }
            Some(Event::ServerShutdown { reason }) => bail!("server stopped: {reason}"),
            Some(_) => {}
        }
    }
    Ok(())
}

fn describe_channel(channel: &Channel) -> String {
    match channel.kind {
        ChannelKind::Text => format!("#{} (id {})", channel.name, channel.id),
        ChannelKind::Voice => format!("🔊 {} (id {})", channel.name, channel.id),
        ChannelKind::Direct => format!("@{} (id {})", channel.name, channel.id),
    }
}

fn format_message(message: &Message) -> String {
    let edited = if message.edited_at.is_some() { " (edited)" } else { "" };
    format!(
        "[{}] #{} {}: {}{edited}{}",
        invite::format_time(message.created_at),
        message.id,
        message.author,
        message.body,
        rich_chat::annotations(message)
    )
}
