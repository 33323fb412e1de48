//! `itc admin …` for supervised members: supervise, unsupervise, allow-contact, quiet-hours and
//! supervision (the guardian's and the member's view).

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use iptincan::client::Client;
use iptincan::proto::{QuietHours, SupervisionInfo};

#[derive(Subcommand)]
pub enum SupervisionCommand {
    /// Mark a member as supervised and name their guardian (admins)
    Supervise {
        /// The member
        username: String,
        /// Their guardian: an admin, or a member you trust
        #[arg(long)]
        guardian: String,
    },
    /// End a member's supervision (their guardian or an admin)
    Unsupervise {
        /// The supervised member
        username: String,
    },
    /// Let a supervised member write direct messages to OTHER (their guardian or an admin)
    AllowContact {
        /// The supervised member
        username: String,
        /// The member they may write to
        other: String,
        /// Stop allowing it instead
        #[arg(long)]
        remove: bool,
    },
    /// Set a supervised member's quiet hours, HH:MM to HH:MM in UTC (their guardian or an admin)
    QuietHours {
        /// The supervised member
        username: String,
        /// Start, HH:MM UTC (e.g. 20:30)
        #[arg(required_unless_present = "clear")]
        start: Option<String>,
        /// End, HH:MM UTC (e.g. 07:00)
        #[arg(required_unless_present = "clear")]
        end: Option<String>,
        /// Clear the quiet hours instead
        #[arg(long, conflicts_with_all = ["start", "end"])]
        clear: bool,
    },
    /// Show a supervision: your own, or (guardians and admins) a supervised member's
    Supervision {
        /// The supervised member [default: yourself]
        username: Option<String>,
    },
}

/// Runs one supervision command.
pub async fn run(client: &Client, command: SupervisionCommand) -> Result<()> {
    match command {
        SupervisionCommand::Supervise { username, guardian } => print(&client.supervise(&username, &guardian).await?),
        SupervisionCommand::Unsupervise { username } => {
            client.unsupervise(&username).await?;
            println!("{username} is no longer supervised");
        }
        SupervisionCommand::AllowContact { username, other, remove } => {
            print(&client.allow_contact(&username, &other, !remove).await?)
        }
        SupervisionCommand::QuietHours { username, start, end, clear } => {
            let hours = match (start, end) {
                (Some(start), Some(end)) if !clear => Some(
                    QuietHours::new(minute_of_day(&start)?, minute_of_day(&end)?)
                        .context("quiet hours start and end at different times")?,
                ),
                _ => None,
            };
            print(&client.set_quiet_hours(&username, hours).await?)
        }
        SupervisionCommand::Supervision { username } => print(&client.supervision(username.as_deref()).await?),
    }
    Ok(())
}

/// `HH:MM` as a minute of the day.
fn minute_of_day(text: &str) -> Result<u16> {
    let parsed =
        text.split_once(':').and_then(|(h, m)| Some((h.trim().parse::<u16>().ok()?, m.trim().parse::<u16>().ok()?)));
    match parsed {
        Some((hours, minutes)) if hours < 24 && minutes < 60 => Ok(hours * 60 + minutes),
        _ => bail!("{text:?} is not a time of day: use HH:MM (24-hour, UTC), e.g. 20:30"),
    }
}

fn clock(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

fn print(info: &SupervisionInfo) {
    let guardian = info.guardian.as_deref().unwrap_or("(none: admins)");
    println!("{} is supervised by {guardian}", info.username);
    let contacts = if info.contacts.is_empty() { "(none)".to_string() } else { info.contacts.join(", ") };
    println!("contacts: {contacts}");
    match info.quiet_hours {
        Some(hours) => println!(
            "quiet hours: {} to {} UTC{}",
            clock(hours.start_minute),
            clock(hours.end_minute),
            if info.quiet_now { " (on now)" } else { "" }
        ),
        None => println!("quiet hours: none"),
    }
}
