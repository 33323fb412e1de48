//! NAT-PMP (RFC 6886): asks the default gateway for the external address and for port
//! mappings, where the router offers no UPnP.
//!
//! The codec ([`Request::encode`], [`Response::decode`]) is pure and reads no clock.
//! [`NatPmpClient`] wraps it with one UDP socket connected to the gateway's port 5351 and
//! retransmits as the RFC says (250 ms, doubling), but gives up after [`ATTEMPTS`] tries so
//! that a router without NAT-PMP is noticed within seconds. [`default_gateway`] finds the
//! gateway in the routing table (Linux only for now).

use super::Protocol;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::net::UdpSocket;

/// The port a NAT-PMP gateway listens on.
pub const PORT: u16 = 5351;
/// Tries per request; the waits are 250, 500, 1000 and 2000 ms (3.75 s in all).
pub(crate) const ATTEMPTS: u32 = 4;
const FIRST_WAIT: Duration = Duration::from_millis(250);
const VERSION: u8 = 0;
const OP_EXTERNAL_ADDRESS: u8 = 0;
const OP_MAP_UDP: u8 = 1;
const OP_MAP_TCP: u8 = 2;
const RESPONSE_BIT: u8 = 128;

/// A request to the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// "What is your external address?"
    ExternalAddress,
    /// Map `protocol` `internal_port` to `suggested_external_port` (a wish, not a promise) for
    /// `lifetime_seconds`; a lifetime of 0 with external port 0 removes the mapping.
    Map {
        /// TCP or UDP.
        protocol: Protocol,
        /// The port on this computer.
        internal_port: u16,
        /// The external port wanted.
        suggested_external_port: u16,
        /// How long the mapping should last.
        lifetime_seconds: u32,
    },
}

impl Request {
    /// The request's bytes.
    pub fn encode(&self) -> Vec<u8> {
        match *self {
            Request::ExternalAddress => vec![VERSION, OP_EXTERNAL_ADDRESS],
            Request::Map { protocol, internal_port, suggested_external_port, lifetime_seconds } => {
                let mut bytes = vec![VERSION, map_opcode(protocol), 0, 0];
                bytes.extend_from_slice(&internal_port.to_be_bytes());
                bytes.extend_from_slice(&suggested_external_port.to_be_bytes());
                bytes.extend_from_slice(&lifetime_seconds.to_be_bytes());
                bytes
            }
        }
    }

    fn opcode(&self) -> u8 {
        match self {
            Request::ExternalAddress => OP_EXTERNAL_ADDRESS,
            Request::Map { protocol, .. } => map_opcode(*protocol),
        }
    }
}

fn map_opcode(protocol: Protocol) -> u8 {
    match protocol {
        Protocol::Udp => OP_MAP_UDP,
        Protocol::Tcp => OP_MAP_TCP,
    }
}

/// A successful answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Response {
    /// The gateway's external address.
    ExternalAddress {
        /// Seconds since the gateway's mapping table was (re)started.
        epoch: u32,
        /// The address.
        address: Ipv4Addr,
    },
    /// A mapping was made, renewed or removed.
    Mapped {
        /// Seconds since the gateway's mapping table was (re)started.
        epoch: u32,
        /// TCP or UDP.
        protocol: Protocol,
        /// The port on this computer.
        internal_port: u16,
        /// The external port the gateway gave.
        external_port: u16,
        /// How long the gateway keeps it.
        lifetime_seconds: u32,
    },
}

/// Why a datagram is not a usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum DecodeError {
    /// Too short, wrong version, or not a response.
    #[error("not a NAT-PMP response")]
    Malformed,
    /// The gateway answered with a failure result code.
    #[error("{}", result_code_text(*.0))]
    Refused(u16),
}

/// The RFC's meaning of a result code, in words.
pub(crate) fn result_code_text(code: u16) -> String {
    let text = match code {
        1 => "unsupported version",
        2 => "not authorized or refused",
        3 => "network failure (the router has no internet address)",
        4 => "out of resources (no free ports or mappings)",
        5 => "unsupported request",
        _ => "unknown failure",
    };
    format!("{text} ({code})")
}

impl Response {
    /// Parses a datagram from the gateway.
    pub fn decode(bytes: &[u8]) -> Result<Response, DecodeError> {
        let header = bytes.get(..8).ok_or(DecodeError::Malformed)?;
        let (version, opcode) = (header[0], header[1]);
        if version != VERSION || opcode & RESPONSE_BIT == 0 {
            return Err(DecodeError::Malformed);
        }
        let result = u16::from_be_bytes([header[2], header[3]]);
        if result != 0 {
            return Err(DecodeError::Refused(result));
        }
        let epoch = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
        let protocol = match opcode & !RESPONSE_BIT {
            OP_EXTERNAL_ADDRESS => {
                let address = bytes.get(8..12).ok_or(DecodeError::Malformed)?;
                let address = Ipv4Addr::new(address[0], address[1], address[2], address[3]);
                return Ok(Response::ExternalAddress { epoch, address });
            }
            OP_MAP_UDP => Protocol::Udp,
            OP_MAP_TCP => Protocol::Tcp,
            _ => return Err(DecodeError::Malformed),
        };
        let body = bytes.get(8..16).ok_or(DecodeError::Malformed)?;
        Ok(Response::Mapped {
            epoch,
            protocol,
            internal_port: u16::from_be_bytes([body[0], body[1]]),
            external_port: u16::from_be_bytes([body[2], body[3]]),
            lifetime_seconds: u32::from_be_bytes([body[4], body[5], body[6], body[7]]),
        })
    }

    fn opcode(&self) -> u8 {
        match self {
            Response::ExternalAddress { .. } => OP_EXTERNAL_ADDRESS,
            Response::Mapped { protocol, .. } => map_opcode(*protocol),
        }
    }
}

/// Why a NAT-PMP request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum NatPmpError {
    /// The socket could not be opened or used.
    #[error("NAT-PMP socket: {0}")]
    Io(#[from] std::io::Error),
    /// Nothing answered within the retries.
    #[error("no NAT-PMP answer from {0}")]
    NoAnswer(Ipv4Addr),
    /// The gateway said no.
    #[error("{}", result_code_text(*.0))]
    Refused(u16),
}

/// A NAT-PMP conversation with one gateway.
#[derive(Debug)]
pub(crate) struct NatPmpClient {
    socket: UdpSocket,
    gateway: Ipv4Addr,
}

impl NatPmpClient {
    /// A client for `gateway`, sending from `local` (port 0 = any).
    pub async fn new(gateway: Ipv4Addr, local: Ipv4Addr) -> Result<NatPmpClient, NatPmpError> {
        let socket = UdpSocket::bind(SocketAddr::from((local, 0))).await?;
        socket.connect(SocketAddr::from((gateway, PORT))).await?;
        Ok(NatPmpClient { socket, gateway })
    }

    /// The gateway's address.
    pub fn gateway(&self) -> Ipv4Addr {
        self.gateway
    }

    /// Sends `request` and waits for its answer, retransmitting with doubling waits.
    pub async fn ask(&self, request: Request) -> Result<Response, NatPmpError> {
        let bytes = request.encode();
        let mut wait = FIRST_WAIT;
        let mut buffer = [0u8; 64];
        for _ in 0..ATTEMPTS {
            self.socket.send(&bytes).await?;
            let deadline = tokio::time::Instant::now() + wait;
            loop {
                let received = tokio::time::timeout_at(deadline, self.socket.recv(&mut buffer)).await;
                let Ok(received) = received else { break };
                let len = match received {
                    Ok(len) => len,
                    // ICMP port unreachable shows up here: nothing listens on 5351.
                    Err(err) if err.kind() == std::io::ErrorKind::ConnectionRefused => break,
                    Err(err) => return Err(err.into()),
                };
                match Response::decode(&buffer[..len]) {
                    Ok(response) if response.opcode() == request.opcode() => return Ok(response),
                    Err(DecodeError::Refused(code)) if buffer[1] & !RESPONSE_BIT == request.opcode() => {
                        return Err(NatPmpError::Refused(code));
                    }
                    _ => continue,
                }
            }
            wait *= 2;
        }
        Err(NatPmpError::NoAnswer(self.gateway))
    }
}

/// The IPv4 default gateway, from the kernel's routing table.
#[cfg(target_os = "linux")]
pub(crate) fn default_gateway() -> Option<Ipv4Addr> {
    std::fs::read_to_string("/proc/net/route").ok().and_then(|table| gateway_from_route_table(&table))
}

/// The IPv4 default gateway: not looked up on this platform yet.
#[cfg(not(target_os = "linux"))]
pub(crate) fn default_gateway() -> Option<Ipv4Addr> {
    None
}

/// Parses `/proc/net/route` (hex fields in the kernel's byte order) for the default route.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn gateway_from_route_table(table: &str) -> Option<Ipv4Addr> {
    const RTF_UP: u32 = 0x1;
    const RTF_GATEWAY: u32 = 0x2;
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let hex = |index: usize| fields.get(index).and_then(|field| u32::from_str_radix(field, 16).ok());
        let (destination, gateway, flags) = (hex(1)?, hex(2)?, hex(3)?);
        let is_default = destination == 0 && flags & (RTF_UP | RTF_GATEWAY) == RTF_UP | RTF_GATEWAY;
        is_default.then(|| Ipv4Addr::from(gateway.to_ne_bytes()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_encode_as_the_rfc_says() {
        assert_eq!(Request::ExternalAddress.encode(), [0, 0]);
        let map = Request::Map {
            protocol: Protocol::Tcp,
            internal_port: 3784,
            suggested_external_port: 3784,
            lifetime_seconds: 7200,
        };
        assert_eq!(map.encode(), [0, 2, 0, 0, 0x0e, 0xc8, 0x0e, 0xc8, 0, 0, 0x1c, 0x20]);
        let remove = Request::Map {
            protocol: Protocol::Udp,
            internal_port: 3785,
            suggested_external_port: 0,
            lifetime_seconds: 0,
        };
        assert_eq!(remove.encode(), [0, 1, 0, 0, 0x0e, 0xc9, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn responses_decode() {
        let external = [0, 128, 0, 0, 0, 0, 1, 0, 11, 0, 0, 1];
        assert_eq!(
            Response::decode(&external),
            Ok(Response::ExternalAddress { epoch: 256, address: Ipv4Addr::new(11, 0, 0, 1) })
        );
        let mapped = [0, 130, 0, 0, 0, 0, 0, 9, 0x0e, 0xc8, 0x13, 0x88, 0, 0, 0, 60];
        assert_eq!(
            Response::decode(&mapped),
            Ok(Response::Mapped {
                epoch: 9,
                protocol: Protocol::Tcp,
                internal_port: 3784,
                external_port: 5000,
                lifetime_seconds: 60
            })
        );
    }

    #[test]
    fn bad_datagrams_are_errors_not_panics() {
        assert_eq!(Response::decode(&[]), Err(DecodeError::Malformed));
        assert_eq!(Response::decode(&[0, 128, 0, 0, 0, 0, 0]), Err(DecodeError::Malformed));
        assert_eq!(Response::decode(&[0, 128, 0, 0, 0, 0, 0, 0, 1]), Err(DecodeError::Malformed));
        assert_eq!(Response::decode(&[0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), Err(DecodeError::Malformed));
        assert_eq!(Response::decode(&[1, 128, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), Err(DecodeError::Malformed));
        assert_eq!(Response::decode(&[0, 131, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), Err(DecodeError::Malformed));
        assert_eq!(Response::decode(&[0, 130, 0, 0, 0, 0, 0, 0, 0, 0]), Err(DecodeError::Malformed));
    }

    #[test]
    fn refusals_carry_their_code_in_words() {
        let refused = [0, 129, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(Response::decode(&refused), Err(DecodeError::Refused(2)));
        assert_eq!(result_code_text(2), "not authorized or refused (2)");
        assert_eq!(result_code_text(77), "unknown failure (77)");
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn default_gateway_comes_from_the_route_table() {
        let table = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                     eth0\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                     eth0\t00000000\t0100A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n";
        assert_eq!(gateway_from_route_table(table), Some(Ipv4Addr::new(192, 168, 0, 1)));
        assert_eq!(gateway_from_route_table("Iface\tDestination\n"), None);
    }
}
