//! Linux: the engine's own nftables table for the VPN's NAT, and whether the kernel forwards.
//!
//! One table of the engine's own, `table ip iptincan` (masquerade what the subnet sends
//! anywhere but back into the tunnel; clamp TCP MSS to the route MTU), created in one `nft -f`
//! script that first deletes any table left by a crash, and removed with one `nft delete
//! table` when [`NatRules`] is dropped.

use super::SetupError;
use crate::subnet::Subnet;
use std::io::Write;
use std::process::{Command, Stdio};

/// The engine's nftables table (family `ip`).
pub const NFT_TABLE: &str = "iptincan";
/// The engine's NAT table; dropping it deletes the table.
#[derive(Debug)]
pub struct NatRules {
    _private: (),
}

impl Drop for NatRules {
    fn drop(&mut self) {
        match run_nft(&format!("delete table ip {NFT_TABLE}\n")) {
            Ok(()) => tracing::info!(table = NFT_TABLE, "removed the VPN's nftables table"),
            Err(err) => tracing::warn!(table = NFT_TABLE, error = %err, "could not remove the VPN's nftables table"),
        }
    }
}

/// The nftables script that (re)creates the engine's table for `device` and `subnet`.
pub fn nat_script(device: &str, subnet: Subnet) -> String {
    // Declaring the table first makes the delete succeed when there is none; a newline before
    // each closing brace keeps nft 1.0.6 happy.
    format!(
        "table ip {NFT_TABLE}\ndelete table ip {NFT_TABLE}\ntable ip {NFT_TABLE} {{\n\
         \tchain postrouting {{\n\
         \t\ttype nat hook postrouting priority srcnat; policy accept;\n\
         \t\tip saddr {subnet} oifname != \"{device}\" masquerade\n\
         \t}}\n\
         \tchain forward {{\n\
         \t\ttype filter hook forward priority mangle; policy accept;\n\
         \t\tiifname \"{device}\" tcp flags syn tcp option maxseg size set rt mtu\n\
         \t\toifname \"{device}\" tcp flags syn tcp option maxseg size set rt mtu\n\
         \t}}\n\
         }}\n"
    )
}

/// Installs the engine's NAT table (replacing one a crash left behind).
pub fn install_nat(device: &str, subnet: Subnet) -> Result<NatRules, SetupError> {
    run_nft(&nat_script(device, subnet)).map_err(|err| SetupError::Nat(format!("nftables: {err}")))?;
    Ok(NatRules { _private: () })
}

/// Whether the kernel forwards IPv4 (`net.ipv4.ip_forward`); `None` if it cannot be read.
pub fn forwarding_enabled() -> Option<bool> {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").ok().map(|value| value.trim() == "1")
}

fn run_nft(script: &str) -> Result<(), String> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| format!("cannot run nft: {err}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes()).map_err(|err| format!("cannot talk to nft: {err}"))?;
    }
    let output = child.wait_with_output().map_err(|err| format!("nft failed: {err}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).lines().next().unwrap_or("nft failed").trim().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nat_script_replaces_only_the_engines_own_table() {
        let script = nat_script("itc-vpn0", Subnet::parse("10.8.0.0/24").expect("valid"));
        assert!(script.starts_with("table ip iptincan\ndelete table ip iptincan\ntable ip iptincan {"));
        assert!(script.contains("ip saddr 10.8.0.0/24 oifname != \"itc-vpn0\" masquerade"));
        assert_eq!(script.matches("table ip").count(), 3, "no other table is named");
    }
}
