//! `itc admin token create`, `itc admin tokens`, `itc admin revoke-token`: access tokens for
//! the REST API.

use super::invite::format_time;
use anyhow::Result;
use clap::Subcommand;
use iptincan::client::Client;
use iptincan::proto::{Scope, TokenInfo};
use std::time::Duration;

/// `itc admin token …`.
#[derive(Subcommand)]
pub enum TokenCommand {
    /// Make an access token for the REST API; prints its secret alone on stdout, once
    Create {
        /// A name for the list, e.g. what script uses it
        name: String,
        /// What it may do: read, send, moderate, admin (comma-separated)
        #[arg(long, value_delimiter = ',', required = true)]
        scope: Vec<Scope>,
        /// Lifetime, e.g. 30d or 12h [default: never expires]
        #[arg(long, value_parser = humantime::parse_duration)]
        expires: Option<Duration>,
    },
}

/// Runs `itc admin token …`.
pub async fn run(client: &Client, command: TokenCommand) -> Result<()> {
    match command {
        TokenCommand::Create { name, scope, expires } => {
            let created = client.create_token(&name, scope, expires.map(|expires| expires.as_secs())).await?;
            println!("{}", created.secret);
        }
    }
    Ok(())
}

/// `itc admin tokens`: one line per token, newest first.
pub async fn list(client: &Client) -> Result<()> {
    for token in client.tokens().await? {
        println!("{}", describe(&token));
    }
    Ok(())
}

/// `itc admin revoke-token ID`.
pub async fn revoke(client: &Client, id: i64) -> Result<()> {
    let token = client.revoke_token(id).await?;
    println!("revoked {}", describe(&token));
    Ok(())
}

fn describe(token: &TokenInfo) -> String {
    let scopes = token.scopes.iter().map(|scope| scope.as_str()).collect::<Vec<_>>().join(",");
    let used =
        token.last_used_at.map_or_else(|| "never used".to_string(), |at| format!("last used {}", format_time(at)));
    let expires =
        token.expires_at.map_or_else(|| "never expires".to_string(), |at| format!("expires {}", format_time(at)));
    format!(
        "token {} {:?}: {scopes}, by {}, made {}, {used}, {expires}",
        token.id,
        token.name,
        token.created_by,
        format_time(token.created_at)
    )
}
