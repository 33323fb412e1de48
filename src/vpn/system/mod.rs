//! The server's TUN device and its NAT to the internet, on the operating systems the VPN runs
//! on: Linux ([`linux`]: the engine's own nftables table) and Windows ([`windows`]: a WinNAT
//! instance of its own, through PowerShell; written for the Windows workflow, not compiled on
//! Linux).
//!
//! The device (`vpn.tun_device_name`, holding the server's address in `vpn.subnet`) is made
//! with tun-rs (the Linux TUN driver; WinTUN, `wintun.dll` beside the program, on Windows) and
//! is not persistent: it goes when the engine closes it or dies. The NAT is created after
//! removing whatever a crash left behind, and removed again when [`NatRules`] is dropped. The
//! engine never touches other tables, NAT instances or the system's forwarding setting.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(windows)]
mod windows;

#[cfg(target_os = "linux")]
pub use linux::{forwarding_enabled, install_nat, nat_script, NatRules, NFT_TABLE};
#[cfg(windows)]
pub use windows::{forwarding_enabled, install_nat, NatRules};

use crate::subnet::Subnet;
use std::net::Ipv4Addr;

/// What administrator rights are, here.
#[cfg(windows)]
const ADMIN_RIGHTS: &str = "run the app as administrator";
#[cfg(not(windows))]
const ADMIN_RIGHTS: &str = "root or CAP_NET_ADMIN";

/// The TUN device's MTU: 1500 less WireGuard's 80 bytes of worst-case (IPv6) overhead.
pub(crate) const TUN_MTU: u16 = 1420;

/// Why the VPN could not set up the network; each message is one plain line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// No CAP_NET_ADMIN (Linux) or not an administrator (Windows).
    #[error("the VPN is off: it needs administrator rights ({ADMIN_RIGHTS}) to create its network device {device}")]
    NoPrivilege {
        /// The device name.
        device: String,
    },
    /// The device could not be made for another reason.
    #[error("the VPN is off: it could not create its network device {device}: {source}")]
    Device {
        /// The device name.
        device: String,
        /// Why.
        source: std::io::Error,
    },
    /// `nft` (Linux) or WinNAT (Windows) is missing or refused.
    #[error("the VPN is off: it could not set up its NAT ({0})")]
    Nat(String),
}

/// Opens the TUN device `name` holding `address/prefix`, up, at [`TUN_MTU`]; on Linux with
/// offloads (virtio-net headers, TCP and UDP segments of up to 64 KB: see `tun_io`). The
/// server's device and `itc vpn`'s both.
pub fn open_tun(name: &str, address: Ipv4Addr, prefix: u8) -> std::io::Result<tun_rs::AsyncDevice> {
    let builder = tun_rs::DeviceBuilder::new().name(name).ipv4(address, prefix, None).mtu(TUN_MTU);
    #[cfg(target_os = "linux")]
    let builder = builder.offload(true);
    builder.build_async()
}

/// Creates the TUN device named `device` with the server's address of `subnet` ([`open_tun`]).
pub(crate) fn create_device(device: &str, subnet: Subnet) -> Result<tun_rs::AsyncDevice, SetupError> {
    open_tun(device, subnet.server_address(), subnet.prefix()).map_err(|source| match source.kind() {
        std::io::ErrorKind::PermissionDenied => SetupError::NoPrivilege { device: device.to_string() },
        _ => SetupError::Device { device: device.to_string(), source },
    })
}
