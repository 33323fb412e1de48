//! The invite flags and printing shared by `itc admin invite` and `itc-server invite`.

use iptincan::proto::{CreatedInvite, InviteInfo, InviteState, Role};
use std::path::PathBuf;
use std::time::Duration;

/// What a new invite allows.
#[derive(clap::Args)]
pub struct InviteFlags {
    /// How many accounts it can create
    #[arg(long, default_value_t = 1)]
    pub uses: u32,
    /// How long it lasts, e.g. 7d or 12h [default: until used]
    #[arg(long, value_parser = humantime::parse_duration)]
    pub expires: Option<Duration>,
    /// Role of the accounts it creates: member, moderator or admin
    #[arg(long, default_value = "member")]
    pub role: Role,
    /// A note for your list, e.g. who it is for
    #[arg(long)]
    pub note: Option<String>,
    /// Host or IP address to put in it [default: the server's own address]
    #[arg(long)]
    pub host: Option<String>,
    /// Also write its QR code as a PNG picture to FILE
    #[arg(long, value_name = "FILE")]
    pub png: Option<PathBuf>,
}

/// Prints a new invite: its text, how to use it, its QR code; writes the PNG if asked.
pub fn print_created(created: &CreatedInvite, png: Option<&PathBuf>) -> anyhow::Result<()> {
    println!("{}", created.text);
    eprintln!("{}", describe(&created.invite));
    eprintln!("Join with the IPTinCan app by scanning the QR code, or: itc join {} --user NAME", created.text);
    println!("{}", iptincan::code::render_qr_terminal(&created.text)?);
    if let Some(path) = png {
        iptincan::code::write_qr_png(&created.text, path, 8)?;
        eprintln!("QR code written to {}", path.display());
    }
    Ok(())
}

/// One line about an invite.
pub fn describe(invite: &InviteInfo) -> String {
    let state = match invite.state {
        InviteState::Active => "active",
        InviteState::UsedUp => "used up",
        InviteState::Expired => "expired",
        InviteState::Revoked => "revoked",
    };
    let expires =
        invite.expires_at.map_or_else(|| "never expires".to_string(), |at| format!("expires {}", format_time(at)));
    let note = invite.note.as_deref().map(|note| format!(" — {note}")).unwrap_or_default();
    format!(
        "invite {}: {state}, {} of {} used, {} accounts, {expires}{note}",
        invite.id,
        invite.uses,
        invite.max_uses,
        invite.role.as_str()
    )
}

/// Unix milliseconds as RFC 3339, to the second.
pub fn format_time(unix_ms: i64) -> String {
    let time = std::time::UNIX_EPOCH + Duration::from_millis(unix_ms.max(0) as u64);
    humantime::format_rfc3339_seconds(time).to_string()
}
