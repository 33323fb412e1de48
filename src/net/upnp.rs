//! UPnP IGD through igd-next's tokio API: finds the router by SSDP, learns its external
//! address, and adds and removes port mappings pointing at this computer.
//!
//! Errors are sorted into what the mapping task needs to decide: the router *refused* (it
//! answered, with a reason to show) or the router is *unreachable* (look for it again).

use super::Protocol;
use igd_next::aio::tokio::Tokio;
use igd_next::aio::Gateway;
use igd_next::{AddAnyPortError, AddPortError, PortMappingProtocol, RequestError, SearchOptions};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Why a UPnP request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum UpnpError {
    /// No router answered the search, or its description was unusable.
    #[error("no UPnP router found: {0}")]
    NotFound(#[from] igd_next::SearchError),
    /// The router answered the request with a refusal.
    #[error("{0}")]
    Refused(String),
    /// The router did not answer the request.
    #[error("the router did not answer: {0}")]
    Unreachable(String),
}

/// A UPnP router found on the LAN, and this computer's address towards it.
#[derive(Debug)]
pub(crate) struct UpnpRouter {
    gateway: Gateway<Tokio>,
    local_ip: IpAddr,
}

impl UpnpRouter {
    /// Searches for a router for at most `timeout`, sending the SSDP search from `bind_ip`.
    pub(crate) async fn discover(bind_ip: Ipv4Addr, timeout: Duration) -> Result<UpnpRouter, UpnpError> {
        let mut options = SearchOptions::default();
        options.bind_addr = SocketAddr::from((bind_ip, 0));
        options.timeout = Some(timeout);
        options.single_search_timeout = Some(timeout);
        let gateway = igd_next::aio::tokio::search_gateway(options).await?;
        let local_ip = local_ip_towards(gateway.addr).await.map_err(|err| UpnpError::Unreachable(err.to_string()))?;
        Ok(UpnpRouter { gateway, local_ip })
    }

    /// The router's address.
    pub fn address(&self) -> SocketAddr {
        self.gateway.addr
    }

    /// This computer's address on the router's LAN.
    pub(crate) fn local_ip(&self) -> IpAddr {
        self.local_ip
    }

    /// The router's external (internet side) address.
    pub async fn external_ip(&self) -> Result<IpAddr, UpnpError> {
        self.gateway.get_external_ip().await.map_err(|err| match err {
            igd_next::GetExternalIpError::RequestError(request) => sort_request_error(request),
            other => UpnpError::Refused(other.to_string()),
        })
    }

    /// Maps `external_port` (or, when the router says it is taken, any port it picks) to
    /// `internal_port` on this computer for `lease_seconds` (0 = until removed). Returns the
    /// external port given and the lease granted: a router that only supports permanent
    /// mappings gets one (0), which the task then removes on stop.
    pub async fn map(
        &self,
        protocol: Protocol,
        internal_port: u16,
        external_port: u16,
        lease_seconds: u32,
        description: &str,
    ) -> Result<(u16, u32), UpnpError> {
        let local = SocketAddr::new(self.local_ip, internal_port);
        let igd_protocol = igd_protocol(protocol);
        let mut lease = lease_seconds;
        let mut added = self.gateway.add_port(igd_protocol, external_port, local, lease, description).await;
        if matches!(added, Err(AddPortError::OnlyPermanentLeasesSupported)) {
            lease = 0;
            added = self.gateway.add_port(igd_protocol, external_port, local, lease, description).await;
        }
        match added {
            Ok(()) => Ok((external_port, lease)),
            Err(AddPortError::PortInUse) => {
                let port = self.gateway.add_any_port(igd_protocol, local, lease, description).await;
                port.map(|port| (port, lease)).map_err(|err| match err {
                    AddAnyPortError::RequestError(request) => sort_request_error(request),
                    other => UpnpError::Refused(other.to_string()),
                })
            }
            Err(AddPortError::RequestError(request)) => Err(sort_request_error(request)),
            Err(other) => Err(UpnpError::Refused(other.to_string())),
        }
    }

    /// Removes the mapping of `external_port`.
    pub(crate) async fn unmap(&self, protocol: Protocol, external_port: u16) -> Result<(), UpnpError> {
        self.gateway.remove_port(igd_protocol(protocol), external_port).await.map_err(|err| match err {
            igd_next::RemovePortError::RequestError(request) => sort_request_error(request),
            other => UpnpError::Refused(other.to_string()),
        })
    }
}

fn igd_protocol(protocol: Protocol) -> PortMappingProtocol {
    match protocol {
        Protocol::Tcp => PortMappingProtocol::TCP,
        Protocol::Udp => PortMappingProtocol::UDP,
    }
}

/// A SOAP fault is the router's answer; anything else means it could not be asked.
fn sort_request_error(err: RequestError) -> UpnpError {
    match err {
        RequestError::ErrorCode(code, text) => UpnpError::Refused(format!("{text} ({code})")),
        RequestError::UnsupportedAction(action) => UpnpError::Refused(format!("{action} is not supported")),
        RequestError::InvalidResponse(text) => {
            tracing::debug!(%text, "port mapping: an answer from the router that could not be read");
            UpnpError::Refused("an answer without the expected content".into())
        }
        other => UpnpError::Unreachable(other.to_string()),
    }
}

/// The local address the kernel would use to reach `peer` (a UDP connect sends nothing).
pub(crate) async fn local_ip_towards(peer: SocketAddr) -> std::io::Result<IpAddr> {
    let unspecified: IpAddr =
        if peer.is_ipv4() { Ipv4Addr::UNSPECIFIED.into() } else { std::net::Ipv6Addr::UNSPECIFIED.into() };
    let socket = tokio::net::UdpSocket::bind(SocketAddr::new(unspecified, 0)).await?;
    socket.connect(peer).await?;
    Ok(socket.local_addr()?.ip())
}
