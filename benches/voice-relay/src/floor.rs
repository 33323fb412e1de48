//! The kernel's share: CPU time of a plain loop that only sends datagrams of a forwarded
//! packet's size to `members - 1` loopback sockets, with nothing else to do. Both servers
//! pay at least this per forwarded packet, so it puts their figures in proportion.

use crate::common::AnyResult;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

/// Bytes of a forwarded IPTinCan voice datagram (14-byte header, 14-byte media header, 100-byte
/// payload, 16-byte tag).
const DATAGRAM: usize = 144;
/// How long the loop runs.
const RUN_FOR: Duration = Duration::from_secs(2);

/// CPU milliseconds per 1,000 datagrams sent by a plain `send_to` loop.
pub fn send_cpu_ms_per_1000(members: u64) -> AnyResult<f64> {
    let error = |err: std::io::Error| format!("kernel floor: {err}");
    let receivers: Vec<UdpSocket> =
        (1..members).map(|_| UdpSocket::bind("127.0.0.1:0")).collect::<Result<_, _>>().map_err(error)?;
    let addresses: Vec<_> = receivers.iter().map(UdpSocket::local_addr).collect::<Result<_, _>>().map_err(error)?;
    for receiver in &receivers {
        receiver.set_nonblocking(true).map_err(error)?;
    }
    let sender = UdpSocket::bind("127.0.0.1:0").map_err(error)?;
    let datagram = [0x5au8; DATAGRAM];
    let mut sink = [0u8; 2048];
    let started = Instant::now();
    let mut sent = 0u64;
    let mut send_cpu = Duration::ZERO;
    while started.elapsed() < RUN_FOR {
        let before = thread_cpu()?;
        for to in &addresses {
            sender.send_to(&datagram, to).map_err(error)?;
        }
        send_cpu += thread_cpu()?.saturating_sub(before);
        sent += addresses.len() as u64;
        for receiver in &receivers {
            while receiver.recv(&mut sink).is_ok() {}
        }
    }
    Ok(1000.0 * send_cpu.as_secs_f64() * 1000.0 / sent.max(1) as f64)
}

/// CPU time of this thread so far, to the nanosecond (the first field of its schedstat).
fn thread_cpu() -> AnyResult<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat")
        .map_err(|err| format!("kernel floor: cannot read /proc/thread-self/schedstat: {err}"))?;
    let nanos = text.split_whitespace().next().and_then(|field| field.parse::<u64>().ok());
    nanos.map(Duration::from_nanos).ok_or_else(|| format!("kernel floor: unexpected schedstat {text:?}"))
}
