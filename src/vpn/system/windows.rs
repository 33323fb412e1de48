//! Windows: the VPN's NAT is a WinNAT instance of the engine's own, `iptincan`, for the
//! subnet (PowerShell's `New-NetNat`, which also forwards what it translates), created after
//! removing one a crash left behind and removed with `Remove-NetNat` when [`NatRules`] is
//! dropped. Both need an administrator. Not compiled or run on Linux: the Windows workflow
//! builds it.

use super::SetupError;
use crate::subnet::Subnet;
use std::process::{Command, Stdio};

/// The engine's WinNAT instance.
pub(crate) const NAT_NAME: &str = "iptincan";

/// The engine's NAT instance; dropping it removes the instance.
#[derive(Debug)]
pub struct NatRules {
    _private: (),
}

impl Drop for NatRules {
    fn drop(&mut self) {
        match run_powershell(&format!("Remove-NetNat -Name {NAT_NAME} -Confirm:$false")) {
            Ok(()) => tracing::info!(nat = NAT_NAME, "removed the VPN's NAT"),
            Err(err) => tracing::warn!(nat = NAT_NAME, error = %err, "could not remove the VPN's NAT"),
        }
    }
}

/// Installs the engine's NAT for `subnet` (replacing one a crash left behind); the device is
/// WinTUN's and needs no rule of its own.
pub fn install_nat(_device: &str, subnet: Subnet) -> Result<NatRules, SetupError> {
    let script = format!(
        "$ErrorActionPreference = 'Stop'; \
         Get-NetNat -Name {NAT_NAME} -ErrorAction SilentlyContinue | Remove-NetNat -Confirm:$false; \
         New-NetNat -Name {NAT_NAME} -InternalIPInterfaceAddressPrefix {subnet} | Out-Null"
    );
    run_powershell(&script).map_err(|err| SetupError::Nat(format!("WinNAT: {err}")))?;
    Ok(NatRules { _private: () })
}

/// WinNAT forwards the subnet's traffic itself.
pub fn forwarding_enabled() -> Option<bool> {
    Some(true)
}

fn run_powershell(script: &str) -> Result<(), String> {
    let output = Command::new("powershell")
        .args(["-NoProfile", "-NonInteractive", "-Command", script])
        .stdin(Stdio::null())
        .output()
        .map_err(|err| format!("cannot run PowerShell: {err}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).lines().next().unwrap_or("PowerShell failed").trim().to_string())
    }
}
