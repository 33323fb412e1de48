//! VPN calls: the VPN's status, registering a device, peers made by an admin, revoking, caps.

use super::exchange::unexpected;
use super::{Client, ClientError};
use crate::proto::{Reply, Request};

impl Client {
    /// The VPN's state and the peers this account may see (an admin's: all).
    pub async fn vpn_status(&self) -> Result<crate::proto::VpnStatus, ClientError> {
        match self.request(Request::VpnStatus).await? {
            Reply::VpnStatus(status) => Ok(status),
            other => Err(unexpected(other)),
        }
    }

    /// Registers this device's WireGuard public key (base64) as device `name`.
    pub async fn vpn_register(&self, name: &str, public_key: &str) -> Result<crate::proto::VpnAccess, ClientError> {
        let request = Request::VpnRegister { name: name.to_string(), public_key: public_key.to_string() };
        match self.request(request).await? {
            Reply::VpnAccess(access) => Ok(access),
            other => Err(unexpected(other)),
        }
    }

    /// Admin: a key pair and client config for `username`'s app (shown once).
    pub async fn vpn_create_peer(
        &self,
        username: &str,
        name: &str,
        host: Option<String>,
    ) -> Result<crate::proto::VpnCreatedPeer, ClientError> {
        let request = Request::VpnCreatePeer { username: username.to_string(), name: name.to_string(), host };
        match self.request(request).await? {
            Reply::VpnPeerCreated(created) => Ok(created),
            other => Err(unexpected(other)),
        }
    }

    /// Removes a VPN peer (admins: any; members: their own) and ends its tunnel.
    pub async fn vpn_revoke(&self, peer_id: i64) -> Result<crate::proto::VpnPeerInfo, ClientError> {
        match self.request(Request::VpnRevoke { peer_id }).await? {
            Reply::VpnPeer(peer) => Ok(peer),
            other => Err(unexpected(other)),
        }
    }

    /// Admin: sets one peer's cap (or with no peer the server-wide one), kbit/s each way;
    /// `None` goes back to the default.
    pub async fn vpn_set_limit(&self, peer_id: Option<i64>, kbps: Option<u32>) -> Result<(), ClientError> {
        match self.request(Request::VpnSetLimit { peer_id, max_bandwidth_kbps: kbps }).await? {
            Reply::VpnPeer(_) | Reply::Ok => Ok(()),
            other => Err(unexpected(other)),
        }
    }
}
