//! Router port mapping: opens the server's three ports on the home router so that people
//! outside the house can connect, keeps them open, and closes them again on stop.
//!
//! [`spawn`] starts one background task (when `[network] upnp = true`). It looks for the
//! router with UPnP IGD ([`upnp`], igd-next) and, where none answers, with NAT-PMP
//! ([`natpmp`]); maps TCP control, UDP media and TCP REST to the same external ports when
//! they are free (else it reports the ports the router gave); learns the external address;
//! renews at half the lease and checks at least every [`MAX_CHECK_INTERVAL`], which re-creates
//! mappings a restarted router forgot and notices a new external address; looks for the
//! router again when it stops answering; and removes its mappings when the server stops.
//! What it sees is published as a [`PortMappingState`] on a `watch` channel and logged at
//! info when it changes. [`diagnosis`] turns addresses and refusals into plain words.
//!
//! Discovery sends SSDP multicast and NAT-PMP to the default gateway, so it must never run
//! in tests on the host's own network: the tests run it only inside network namespaces.

pub mod diagnosis;
pub mod natpmp;
pub mod upnp;

pub use diagnosis::{Problem, ProblemKind};

use serde::Serialize;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use upnp::UpnpRouter;

/// Longest wait for a UPnP router to answer the SSDP search.
pub(crate) const SEARCH_TIMEOUT: Duration = Duration::from_secs(4);
/// Longest time between two checks of the mappings and the external address.
pub(crate) const MAX_CHECK_INTERVAL: Duration = Duration::from_secs(300);
/// Longest wait before looking for a router again after a failure.
pub(crate) const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);
/// Longest time removing the mappings may take when the server stops.
pub(crate) const REMOVE_TIMEOUT: Duration = Duration::from_secs(3);
/// What the mappings are called in the router's list.
const DESCRIPTION: &str = "IPTinCan";

/// A transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
        })
    }
}

/// Which of the server's ports a mapping serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PortRole {
    /// TCP control port (`server.tcp_port`).
    Control,
    /// UDP media port (`server.udp_port`).
    Media,
    /// TCP REST port (`server.rest_port`).
    Rest,
}

impl fmt::Display for PortRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PortRole::Control => "control",
            PortRole::Media => "media",
            PortRole::Rest => "rest",
        })
    }
}

/// A port of this server to open on the router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRequest {
    /// What it is for.
    pub role: PortRole,
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The port the server listens on.
    pub internal_port: u16,
}

/// The server's three ports, as bound.
pub(crate) fn server_ports(control: u16, media: u16, rest: u16) -> Vec<PortRequest> {
    vec![
        PortRequest { role: PortRole::Control, protocol: Protocol::Tcp, internal_port: control },
        PortRequest { role: PortRole::Media, protocol: Protocol::Udp, internal_port: media },
        PortRequest { role: PortRole::Rest, protocol: Protocol::Tcp, internal_port: rest },
    ]
}

/// A port open on the router.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct MappedPort {
    /// What it is for.
    pub role: PortRole,
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The port the server listens on.
    pub internal_port: u16,
    /// The port the internet reaches it on (the router may give another than asked for).
    pub external_port: u16,
}

/// How the router was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// UPnP Internet Gateway Device.
    Upnp,
    /// NAT Port Mapping Protocol (RFC 6886).
    NatPmp,
}

/// The ports are open and the internet can reach them at `external_ip`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Mapped {
    /// How the router was asked.
    pub method: Method,
    /// The router's internet address.
    #[schema(value_type = String)]
    pub external_ip: IpAddr,
    /// The open ports.
    pub ports: Vec<MappedPort>,
    /// The lease the router granted, in seconds (0 = until removed).
    pub lease_seconds: u32,
    /// When the mappings are renewed next (seconds since 1970).
    pub next_renewal_unix: u64,
}

/// What port mapping is doing now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PortMappingState {
    /// Switched off in the configuration, or the server has stopped.
    Off,
    /// Looking for the router.
    Discovering,
    /// The ports are open.
    Mapped(Mapped),
    /// Something stands in the way; the message says what, in plain words.
    Problem(Problem),
}

impl PortMappingState {
    /// Where the internet reaches the control port, when the ports are open.
    pub(crate) fn internet_address(&self) -> Option<SocketAddr> {
        let PortMappingState::Mapped(mapped) = self else { return None };
        let control = mapped.ports.iter().find(|port| port.role == PortRole::Control)?;
        Some(SocketAddr::new(mapped.external_ip, control.external_port))
    }
}

impl fmt::Display for PortMappingState {
    /// One line for the log; leaves out the renewal time so that renewals look alike.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortMappingState::Off => f.write_str("off"),
            PortMappingState::Discovering => f.write_str("looking for the router"),
            PortMappingState::Problem(problem) => f.write_str(&problem.message),
            PortMappingState::Mapped(mapped) => {
                let method = match mapped.method {
                    Method::Upnp => "UPnP",
                    Method::NatPmp => "NAT-PMP",
                };
                write!(f, "ports open by {method} at {}:", mapped.external_ip)?;
                for port in &mapped.ports {
                    write!(f, " {} {}->{}", port.protocol, port.external_port, port.internal_port)?;
                }
                write!(f, " (lease {} s)", mapped.lease_seconds)
            }
        }
    }
}

/// What the mapping task needs to know.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The address the server is bound to; discovery is sent from it when it is a specific
    /// IPv4 address.
    pub bind_ip: IpAddr,
    /// The ports to open.
    pub ports: Vec<PortRequest>,
    /// The lease to ask for, in seconds.
    pub lease_seconds: u32,
}

/// Starts the port-mapping task in `tasks`; it runs until `cancel`, then removes its mappings
/// (within [`REMOVE_TIMEOUT`]) and publishes [`PortMappingState::Off`].
pub fn spawn(settings: Settings, tasks: &TaskTracker, cancel: CancellationToken) -> watch::Receiver<PortMappingState> {
    let (state, receiver) = watch::channel(PortMappingState::Discovering);
    tracing::info!("port mapping: {}", PortMappingState::Discovering);
    let mapper = Mapper { settings, state, held: Vec::new(), external_ip: None, granted_lease: 0 };
    tasks.spawn(mapper.run(cancel));
    receiver
}

/// How often to renew and check: half the lease, at most [`MAX_CHECK_INTERVAL`], at least 1 s.
pub(crate) fn check_interval(lease_seconds: u32) -> Duration {
    if lease_seconds == 0 {
        return MAX_CHECK_INTERVAL;
    }
    Duration::from_secs(u64::from(lease_seconds / 2).max(1)).min(MAX_CHECK_INTERVAL)
}

/// How long to wait before looking for the router again: like a check, at most [`MAX_RETRY_DELAY`].
pub(crate) fn retry_delay(lease_seconds: u32) -> Duration {
    check_interval(lease_seconds).min(MAX_RETRY_DELAY)
}

/// A router found by either protocol.
#[derive(Debug)]
enum Router {
    Upnp(UpnpRouter),
    NatPmp(natpmp::NatPmpClient),
}

/// Why a request to the router failed.
#[derive(Debug)]
enum RouterError {
    /// The router answered no; the text is its answer.
    Refused(String),
    /// The router did not answer.
    Unreachable(String),
}

impl From<upnp::UpnpError> for RouterError {
    fn from(err: upnp::UpnpError) -> Self {
        match err {
            upnp::UpnpError::Refused(answer) => RouterError::Refused(answer),
            other => RouterError::Unreachable(other.to_string()),
        }
    }
}

impl From<natpmp::NatPmpError> for RouterError {
    fn from(err: natpmp::NatPmpError) -> Self {
        match err {
            natpmp::NatPmpError::Refused(code) => RouterError::Refused(natpmp::result_code_text(code)),
            other => RouterError::Unreachable(other.to_string()),
        }
    }
}

impl Router {
    /// Looks for a UPnP router, then for a NAT-PMP gateway. Bounded by [`SEARCH_TIMEOUT`]
    /// plus NAT-PMP's retries.
    async fn discover(bind_ip: IpAddr) -> Option<Router> {
        let bind_v4 = match bind_ip {
            IpAddr::V4(ip) if !ip.is_loopback() => ip,
            _ => Ipv4Addr::UNSPECIFIED,
        };
        match UpnpRouter::discover(bind_v4, SEARCH_TIMEOUT).await {
            Ok(router) => return Some(Router::Upnp(router)),
            Err(err) => tracing::debug!(error = %err, "port mapping: no UPnP router"),
        }
        let gateway = natpmp::default_gateway()?;
        let client = match natpmp::NatPmpClient::new(gateway, bind_v4).await {
            Ok(client) => client,
            Err(err) => {
                tracing::debug!(error = %err, "port mapping: cannot ask the gateway by NAT-PMP");
                return None;
            }
        };
        match client.ask(natpmp::Request::ExternalAddress).await {
            Ok(_) | Err(natpmp::NatPmpError::Refused(_)) => Some(Router::NatPmp(client)),
            Err(err) => {
                tracing::debug!(error = %err, "port mapping: no NAT-PMP gateway");
                None
            }
        }
    }

    fn method(&self) -> Method {
        match self {
            Router::Upnp(_) => Method::Upnp,
            Router::NatPmp(_) => Method::NatPmp,
        }
    }

    /// How the router is reached, for the log.
    fn describe(&self) -> String {
        match self {
            Router::Upnp(router) => format!("UPnP at {} (this computer: {})", router.address(), router.local_ip()),
            Router::NatPmp(client) => format!("NAT-PMP at {}", client.gateway()),
        }
    }

    async fn external_ip(&self) -> Result<IpAddr, RouterError> {
        match self {
            Router::Upnp(router) => Ok(router.external_ip().await?),
            Router::NatPmp(client) => match client.ask(natpmp::Request::ExternalAddress).await? {
                natpmp::Response::ExternalAddress { address, .. } => Ok(address.into()),
                natpmp::Response::Mapped { .. } => Err(RouterError::Unreachable("unexpected answer".into())),
            },
        }
    }

    /// Maps `request` to `external_port` if the router allows; returns the port and lease given.
    async fn map(
        &self,
        request: &PortRequest,
        external_port: u16,
        lease_seconds: u32,
    ) -> Result<(u16, u32), RouterError> {
        match self {
            Router::Upnp(router) => {
                let description = format!("{DESCRIPTION} {}", request.role);
                let internal = request.internal_port;
                Ok(router.map(request.protocol, internal, external_port, lease_seconds, &description).await?)
            }
            Router::NatPmp(client) => {
                let ask = natpmp::Request::Map {
                    protocol: request.protocol,
                    internal_port: request.internal_port,
                    suggested_external_port: external_port,
                    lifetime_seconds: lease_seconds,
                };
                match client.ask(ask).await? {
                    natpmp::Response::Mapped { external_port, lifetime_seconds, .. } => {
                        Ok((external_port, lifetime_seconds))
                    }
                    natpmp::Response::ExternalAddress { .. } => {
                        Err(RouterError::Unreachable("unexpected answer".into()))
                    }
                }
            }
        }
    }

    async fn unmap(&self, port: &MappedPort) -> Result<(), RouterError> {
        match self {
            Router::Upnp(router) => Ok(router.unmap(port.protocol, port.external_port).await?),
            Router::NatPmp(client) => {
                let ask = natpmp::Request::Map {
                    protocol: port.protocol,
                    internal_port: port.internal_port,
                    suggested_external_port: 0,
                    lifetime_seconds: 0,
                };
                client.ask(ask).await.map(drop).map_err(RouterError::from)
            }
        }
    }
}

/// The task's state: the mappings it holds on the router.
struct Mapper {
    settings: Settings,
    state: watch::Sender<PortMappingState>,
    held: Vec<MappedPort>,
    external_ip: Option<IpAddr>,
    granted_lease: u32,
}

impl Mapper {
    async fn run(mut self, cancel: CancellationToken) {
        let mut had_router = false;
        let mut last_router = None;
        'discover: while !cancel.is_cancelled() {
            let found = tokio::select! {
                _ = cancel.cancelled() => break,
                found = Router::discover(self.settings.bind_ip) => found,
            };
            let Some(router) = found else {
                let problem = if had_router {
                    diagnosis::router_lost("no answer when looking for it again")
                } else {
                    diagnosis::no_router_support()
                };
                self.publish(PortMappingState::Problem(problem));
                if sleep_or_cancel(retry_delay(self.settings.lease_seconds), &cancel).await {
                    break;
                }
                continue;
            };
            had_router = true;
            let described = router.describe();
            if last_router.as_ref() != Some(&described) {
                tracing::info!(router = %described, "port mapping: found the router");
                last_router = Some(described);
            }
            loop {
                let refreshed = tokio::select! {
                    _ = cancel.cancelled() => {
                        self.remove_all(&router).await;
                        break 'discover;
                    }
                    refreshed = self.refresh(&router) => refreshed,
                };
                let wait = match refreshed {
                    Ok(state) => {
                        self.publish(state);
                        check_interval(self.granted_lease)
                    }
                    Err(RefreshFailure::Refused(problem)) => {
                        self.publish(PortMappingState::Problem(problem));
                        retry_delay(self.settings.lease_seconds)
                    }
                    Err(RefreshFailure::Unreachable(reason)) => {
                        self.publish(PortMappingState::Problem(diagnosis::router_lost(&reason)));
                        self.held.clear();
                        if sleep_or_cancel(retry_delay(self.settings.lease_seconds), &cancel).await {
                            break 'discover;
                        }
                        continue 'discover;
                    }
                };
                if sleep_or_cancel(wait, &cancel).await {
                    self.remove_all(&router).await;
                    break 'discover;
                }
            }
        }
        self.publish(PortMappingState::Off);
    }

    /// Asks for the external address and (re)maps every port; renews held mappings.
    async fn refresh(&mut self, router: &Router) -> Result<PortMappingState, RefreshFailure> {
        let external_ip = router.external_ip().await.map_err(|err| match err {
            RouterError::Refused(answer) => RefreshFailure::Refused(diagnosis::no_external_address(&answer)),
            RouterError::Unreachable(reason) => RefreshFailure::Unreachable(reason),
        })?;
        if let Some(previous) = self.external_ip.filter(|previous| *previous != external_ip) {
            tracing::info!(%previous, now = %external_ip, "port mapping: the external address changed");
        }
        self.external_ip = Some(external_ip);
        let mut granted_lease = self.settings.lease_seconds;
        for request in &self.settings.ports {
            let held = self.held.iter().position(|held| held.role == request.role);
            let wanted = held.map_or(request.internal_port, |index| self.held[index].external_port);
            let (external_port, lease) =
                router.map(request, wanted, self.settings.lease_seconds).await.map_err(|err| match err {
                    RouterError::Refused(answer) => {
                        RefreshFailure::Refused(diagnosis::mapping_refused(request.protocol, wanted, &answer))
                    }
                    RouterError::Unreachable(reason) => RefreshFailure::Unreachable(reason),
                })?;
            let mapped = MappedPort {
                role: request.role,
                protocol: request.protocol,
                internal_port: request.internal_port,
                external_port,
            };
            match held {
                Some(index) => self.held[index] = mapped,
                None => self.held.push(mapped),
            }
            granted_lease = shorter_lease(granted_lease, lease);
        }
        tracing::debug!(lease = granted_lease, "port mapping: mappings renewed");
        self.granted_lease = granted_lease;
        if let Some(problem) = diagnosis::external_address_problem(external_ip) {
            return Ok(PortMappingState::Problem(problem));
        }
        let next_renewal = SystemTime::now() + check_interval(granted_lease);
        Ok(PortMappingState::Mapped(Mapped {
            method: router.method(),
            external_ip,
            ports: self.held.clone(),
            lease_seconds: granted_lease,
            next_renewal_unix: next_renewal.duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs()),
        }))
    }

    /// Removes every held mapping, giving up after [`REMOVE_TIMEOUT`].
    async fn remove_all(&mut self, router: &Router) {
        let held = std::mem::take(&mut self.held);
        let removing = async {
            for port in &held {
                match router.unmap(port).await {
                    Ok(()) => {
                        tracing::debug!(protocol = %port.protocol, port = port.external_port, "port mapping removed")
                    }
                    Err(err) => {
                        tracing::warn!(protocol = %port.protocol, port = port.external_port, error = ?err, "port mapping: could not remove a mapping")
                    }
                }
            }
        };
        if tokio::time::timeout(REMOVE_TIMEOUT, removing).await.is_err() {
            tracing::warn!("port mapping: the router did not answer in time; its mappings expire with their lease");
        }
    }

    /// Publishes `state`; logs it when it differs from the last one in more than its renewal time.
    fn publish(&self, state: PortMappingState) {
        let line = state.to_string();
        let changed = self.state.borrow().to_string() != line;
        if changed {
            tracing::info!("port mapping: {line}");
        }
        self.state.send_replace(state);
    }
}

/// Why a refresh stopped.
enum RefreshFailure {
    /// The router refused something; keep the router and try again later.
    Refused(Problem),
    /// The router did not answer; look for it again.
    Unreachable(String),
}

/// The shorter of two leases, where 0 means "until removed".
fn shorter_lease(a: u32, b: u32) -> u32 {
    match (a, b) {
        (0, other) | (other, 0) => other,
        (a, b) => a.min(b),
    }
}

/// Sleeps for `duration`; returns true when cancelled first.
async fn sleep_or_cancel(duration: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = cancel.cancelled() => true,
        _ = tokio::time::sleep(duration) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_run_at_half_the_lease_within_bounds() {
        assert_eq!(check_interval(10), Duration::from_secs(5));
        assert_eq!(check_interval(3600), MAX_CHECK_INTERVAL);
        assert_eq!(check_interval(1), Duration::from_secs(1));
        assert_eq!(check_interval(0), MAX_CHECK_INTERVAL);
        assert_eq!(retry_delay(10), Duration::from_secs(5));
        assert_eq!(retry_delay(3600), MAX_RETRY_DELAY);
    }

    #[test]
    fn permanent_leases_do_not_shorten_the_lease() {
        assert_eq!(shorter_lease(0, 60), 60);
        assert_eq!(shorter_lease(60, 0), 60);
        assert_eq!(shorter_lease(120, 60), 60);
        assert_eq!(shorter_lease(0, 0), 0);
    }

    #[test]
    fn the_internet_address_is_the_mapped_control_port() {
        let mapped = Mapped {
            method: Method::Upnp,
            external_ip: "11.0.0.1".parse().expect("ip"),
            ports: vec![
                MappedPort { role: PortRole::Media, protocol: Protocol::Udp, internal_port: 3785, external_port: 3785 },
                MappedPort {
                    role: PortRole::Control,
                    protocol: Protocol::Tcp,
                    internal_port: 3784,
                    external_port: 40000,
                },
            ],
            lease_seconds: 60,
            next_renewal_unix: 0,
        };
        let state = PortMappingState::Mapped(mapped);
        assert_eq!(state.internet_address(), Some("11.0.0.1:40000".parse().expect("addr")));
        assert_eq!(state.to_string(), "ports open by UPnP at 11.0.0.1: UDP 3785->3785 TCP 40000->3784 (lease 60 s)");
        assert_eq!(PortMappingState::Off.internet_address(), None);
    }

    #[test]
    fn states_serialise_with_a_tag() {
        let json = serde_json::to_value(PortMappingState::Problem(diagnosis::no_router_support())).expect("json");
        assert_eq!(json["state"], "problem");
        assert_eq!(json["kind"], "no_router_support");
        assert_eq!(serde_json::to_value(PortMappingState::Off).expect("json")["state"], "off");
    }
}
