//! `itc export` and `itc delete-account`: a member's data rights (admins: for anyone).

use anyhow::{bail, Context, Result};
use clap::Args;
use iptincan::client::Client;
use std::path::PathBuf;

/// `itc export`.
#[derive(Args)]
pub struct ExportArgs {
    /// Whose data (admins only; default: your own)
    #[arg(long)]
    member: Option<String>,
    /// Write the export (one JSON document) to FILE [default: standard output]
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// `itc delete-account`.
#[derive(Args)]
pub struct DeleteArgs {
    /// Whose account (admins only; default: your own)
    #[arg(long)]
    member: Option<String>,
    /// Confirm: the account, its messages, sessions, access tokens, VPN peers and the invites
    /// it made are deleted for good
    #[arg(long)]
    yes: bool,
}

/// Runs `itc export`.
pub async fn export(client: &Client, args: ExportArgs) -> Result<()> {
    let export = client.export_data(args.member.as_deref()).await?;
    let text = serde_json::to_string_pretty(&export)? + "\n";
    match args.output {
        Some(path) => {
            std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("{} messages of {} written to {}", export.messages.len(), export.user.username, path.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}

/// Runs `itc delete-account`.
pub async fn delete(client: &Client, args: DeleteArgs) -> Result<()> {
    if !args.yes {
        bail!("this deletes the account and everything that is theirs for good; add --yes to confirm");
    }
    client.delete_account(args.member.as_deref()).await?;
    println!("deleted the account {}", args.member.as_deref().unwrap_or("you were signed in with"));
    Ok(())
}
