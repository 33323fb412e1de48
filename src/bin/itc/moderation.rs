//! `itc admin …` for moderation and permissions: kick, ban, unban, bans, timeout, warn,
//! history, slowmode, filter add/remove/list, audit, reset-password, approvals, approve, deny,
//! permissions; and the prompt for a new password when an admin has reset it.

use crate::invite::format_time;
use anyhow::{bail, Context, Result};
use clap::Subcommand;
use iptincan::client::{BanSpec, Client, PermissionScope};
use iptincan::proto::{AuditEntry, PermissionOverride, Role};
use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

#[derive(Subcommand)]
pub enum ModerationCommand {
    /// End every connection of a user (moderators); they may connect again
    Kick {
        /// The user
        username: String,
        /// Why (shown to them)
        #[arg(long)]
        reason: Option<String>,
    },
    /// Ban an account, an address, or both (admins); the account's connections end at once
    Ban {
        /// The account
        username: Option<String>,
        /// An IP address to ban
        #[arg(long)]
        address: Option<String>,
        /// Also ban the addresses the account is connected from now
        #[arg(long)]
        with_addresses: bool,
        /// How long, e.g. 7d or 12h [default: until unbanned]
        #[arg(long = "for", value_parser = humantime::parse_duration)]
        duration: Option<Duration>,
        /// Why (shown to them)
        #[arg(long)]
        reason: Option<String>,
    },
    /// Lift a ban (its id from `itc admin bans`)
    Unban {
        /// The ban's id
        id: i64,
    },
    /// List the bans in force
    Bans,
    /// No sending or speaking for a while (moderators); 0 lifts a timeout
    Timeout {
        /// The user
        username: String,
        /// How long, e.g. 10m or 1h; 0 lifts it
        #[arg(value_parser = parse_duration_or_zero)]
        duration: Duration,
        /// Why (shown to them)
        #[arg(long)]
        reason: Option<String>,
    },
    /// Warn a user with a note, kept in their moderation history (moderators)
    Warn {
        /// The user
        username: String,
        /// The note
        #[arg(required = true)]
        note: Vec<String>,
    },
    /// A user's moderation history, newest first (moderators)
    History {
        /// The user
        username: String,
    },
    /// Slow mode: one message per SECONDS per member in a channel; 0 turns it off (moderators)
    Slowmode {
        /// Channel name or id
        channel: String,
        /// Seconds between two messages of a member
        seconds: u32,
    },
    /// Automatic moderation keywords (admins)
    #[command(subcommand)]
    Filter(FilterCommand),
    /// The audit log, newest first (admins)
    Audit {
        /// Only entries older than this id
        #[arg(long)]
        before: Option<i64>,
        /// How many (1-100)
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Set a temporary password; the member must choose a new one at the next login (admins)
    ResetPassword {
        /// The member
        username: String,
        /// The temporary password to tell them
        #[arg(long, env = "ITC_TEMPORARY_PASSWORD", hide_env_values = true)]
        temporary: String,
    },
    /// Registrations waiting for approval (admins)
    Approvals,
    /// Let a waiting registration in (admins)
    Approve {
        /// The user name
        username: String,
    },
    /// Refuse a waiting registration; it is discarded (admins)
    Deny {
        /// The user name
        username: String,
        /// Why (shown to them)
        #[arg(long)]
        reason: Option<String>,
    },
    /// Show a channel's (or with --category, a category's) permission overrides, or set one
    /// role's with --role and --view/--send/--speak/--manage allow|deny|inherit (admins)
    Permissions {
        /// Channel name or id (or, with --category, the category's id)
        target: String,
        /// TARGET is a category id
        #[arg(long)]
        category: bool,
        /// The role to set: moderator or member
        #[arg(long)]
        role: Option<Role>,
        /// See the channel
        #[arg(long, value_parser = parse_flag)]
        view: Option<Flag>,
        /// Send messages
        #[arg(long, value_parser = parse_flag)]
        send: Option<Flag>,
        /// Speak, video and screen share
        #[arg(long, value_parser = parse_flag)]
        speak: Option<Flag>,
        /// Slow mode and deleting others' messages
        #[arg(long, value_parser = parse_flag)]
        manage: Option<Flag>,
    },
}

#[derive(Subcommand)]
pub enum FilterCommand {
    /// Add a keyword (whole words, any case)
    Add {
        /// The word or phrase
        #[arg(required = true)]
        word: Vec<String>,
        /// Also time the sender out, e.g. 10m
        #[arg(long, value_parser = humantime::parse_duration)]
        timeout: Option<Duration>,
    },
    /// Remove a keyword by its id
    Remove {
        /// The keyword's id (from `itc admin filter list`)
        id: i64,
    },
    /// List the keywords
    List,
}

/// An override flag as typed: allow, deny or inherit.
#[derive(Debug, Clone, Copy)]
pub struct Flag(Option<bool>);

fn parse_flag(text: &str) -> Result<Flag, String> {
    match text {
        "allow" => Ok(Flag(Some(true))),
        "deny" => Ok(Flag(Some(false))),
        "inherit" => Ok(Flag(None)),
        other => Err(format!("{other:?}: use allow, deny or inherit")),
    }
}

fn parse_duration_or_zero(text: &str) -> Result<Duration, humantime::DurationError> {
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(text)
}

fn describe_entry(entry: &AuditEntry) -> String {
    let target = entry.target.as_deref().map(|t| format!(" {t}")).unwrap_or_default();
    let reason = entry.reason.as_deref().map(|r| format!(" — {r}")).unwrap_or_default();
    format!("{}\t[{}] {} {}{target}{reason}", entry.id, format_time(entry.at), entry.actor, entry.action)
}

fn describe_rule(rule: &PermissionOverride) -> String {
    let flag = |value: Option<bool>| value.map_or("inherit", |on| if on { "allow" } else { "deny" });
    format!(
        "{}: view {}, send {}, speak {}, manage {}",
        rule.role.as_str(),
        flag(rule.view),
        flag(rule.send),
        flag(rule.speak),
        flag(rule.manage)
    )
}

pub async fn run(client: &Client, command: ModerationCommand) -> Result<()> {
    match command {
        ModerationCommand::Kick { username, reason } => {
            client.kick(&username, reason.as_deref()).await?;
            println!("kicked {username}");
        }
        ModerationCommand::Ban { username, address, with_addresses, duration, reason } => {
            let spec = BanSpec {
                username,
                address,
                ban_addresses: with_addresses,
                duration_seconds: duration.map(|d| d.as_secs().max(1)),
                reason,
            };
            let ban = client.ban(spec).await?;
            let until = ban.expires_at.map_or("for good".to_string(), |at| format!("until {}", format_time(at)));
            let who = [ban.username, ban.address].into_iter().flatten().collect::<Vec<_>>().join(" at ");
            println!("ban {}: {who} {until}", ban.id);
        }
        ModerationCommand::Unban { id } => {
            let ban = client.unban(id).await?;
            println!("lifted ban {}", ban.id);
        }
        ModerationCommand::Bans => {
            for ban in client.bans().await? {
                let until = ban.expires_at.map_or("for good".to_string(), |at| format!("until {}", format_time(at)));
                let who = [ban.username, ban.address].into_iter().flatten().collect::<Vec<_>>().join(" at ");
                let reason = ban.reason.map(|r| format!(" — {r}")).unwrap_or_default();
                println!("{}\t{who}\t{until}\tby {}{reason}", ban.id, ban.created_by);
            }
        }
        ModerationCommand::Timeout { username, duration, reason } => {
            client.timeout(&username, duration.as_secs(), reason.as_deref()).await?;
            match duration.as_secs() {
                0 => println!("{username}'s timeout is lifted"),
                seconds => println!("{username} is timed out for {seconds} s"),
            }
        }
        ModerationCommand::Warn { username, note } => {
            client.warn(&username, &note.join(" ")).await?;
            println!("warned {username}");
        }
        ModerationCommand::History { username } => {
            for entry in client.moderation_history(&username).await? {
                println!("{}", describe_entry(&entry));
            }
        }
        ModerationCommand::Slowmode { channel, seconds } => {
            let channel = client.find_channel(&channel).await?;
            let channel = client.set_slow_mode(channel.id, seconds).await?;
            match channel.slow_mode_seconds {
                0 => println!("#{}: slow mode off", channel.name),
                seconds => println!("#{}: one message every {seconds} s per member", channel.name),
            }
        }
        ModerationCommand::Filter(FilterCommand::Add { word, timeout }) => {
            let filter = client.add_filter(&word.join(" "), timeout.map(|t| t.as_secs().max(1))).await?;
            println!("filter {}: {:?}", filter.id, filter.word);
        }
        ModerationCommand::Filter(FilterCommand::Remove { id }) => {
            client.remove_filter(id).await?;
            println!("removed filter {id}");
        }
        ModerationCommand::Filter(FilterCommand::List) => {
            for filter in client.filters().await? {
                let timeout = filter.timeout_seconds.map(|s| format!("\ttimeout {s} s")).unwrap_or_default();
                println!("{}\t{:?}{timeout}\tby {}", filter.id, filter.word, filter.created_by);
            }
        }
        ModerationCommand::Audit { before, limit } => {
            let page = client.audit_log(before, Some(limit)).await?;
            for entry in &page.entries {
                println!("{}", describe_entry(entry));
            }
            if let (true, Some(last)) = (page.has_more, page.entries.last()) {
                eprintln!("(older entries: --before {})", last.id);
            }
        }
        ModerationCommand::ResetPassword { username, temporary } => {
            client.reset_password(&username, &temporary).await?;
            println!("{username}'s password is reset; they must choose a new one when they log in");
        }
        ModerationCommand::Approvals => {
            for pending in client.approvals().await? {
                println!("{}\tasked {}", pending.username, format_time(pending.requested_at));
            }
        }
        ModerationCommand::Approve { username } => {
            client.approve(&username).await?;
            println!("approved {username}");
        }
        ModerationCommand::Deny { username, reason } => {
            client.deny(&username, reason.as_deref()).await?;
            println!("denied {username}");
        }
        ModerationCommand::Permissions { target, category, role, view, send, speak, manage } => {
            let scope = if category {
                PermissionScope::Category(target.parse().context("with --category, TARGET is a category id")?)
            } else {
                PermissionScope::Channel(client.find_channel(&target).await?.id)
            };
            let flags = [view, send, speak, manage];
            let permissions = match role {
                Some(role) => {
                    let [view, send, speak, manage] = flags.map(|flag| flag.and_then(|Flag(value)| value));
                    let rule = PermissionOverride { role, view, send, speak, manage };
                    client.set_channel_permissions(scope, rule).await?
                }
                None if flags.iter().any(Option::is_some) => bail!("say which role with --role"),
                None => client.channel_permissions(scope).await?,
            };
            if permissions.overrides.is_empty() {
                println!("no overrides: everyone may view, send and speak; moderators manage");
            }
            for rule in &permissions.overrides {
                println!("{}", describe_rule(rule));
            }
        }
    }
    Ok(())
}

/// After a login that must change its password (an admin reset it): asks for a new one on
/// the terminal and sets it. Without a terminal, says how.
pub async fn change_required_password(client: &Client, current: &str) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        eprintln!("this account must change its password first: itc passwd --new NEW_PASSWORD");
        return Ok(());
    }
    let ask = |prompt: &str| -> Result<String> {
        eprint!("{prompt}");
        std::io::stderr().flush().ok();
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("cannot read the new password")?;
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    };
    eprintln!("this account must choose a new password before anything else (an admin reset it)");
    let new = ask("new password: ")?;
    if ask("again: ")? != new {
        bail!("the two passwords differ; nothing was changed");
    }
    client.change_password(current, &new).await?;
    eprintln!("password changed");
    Ok(())
}
