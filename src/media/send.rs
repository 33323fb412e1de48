//! Sending a batch of datagrams, each to its own address: on Linux in one `sendmmsg` system
//! call per [`BATCH`] datagrams (a voice frame fans out to every other member of the call at
//! once), elsewhere one `send_to` each. A datagram the kernel refuses is dropped, as the
//! network would drop it; the rest of the batch still goes out.

use std::net::{SocketAddr, UdpSocket};

/// Most datagrams handed to the kernel in one call.
#[cfg(target_os = "linux")]
const BATCH: usize = 64;

/// Reusable state for sending batches.
pub(super) struct BatchSender {
    #[cfg(target_os = "linux")]
    headers: nix::sys::socket::MultiHeaders<nix::sys::socket::SockaddrStorage>,
    #[cfg(target_os = "linux")]
    addresses: Vec<Option<nix::sys::socket::SockaddrStorage>>,
}

impl BatchSender {
    pub(super) fn new() -> BatchSender {
        BatchSender {
            #[cfg(target_os = "linux")]
            headers: nix::sys::socket::MultiHeaders::preallocate(BATCH, None),
            #[cfg(target_os = "linux")]
            addresses: Vec::with_capacity(BATCH),
        }
    }

    /// Sends every datagram in `batch` and empties it.
    #[cfg(target_os = "linux")]
    pub(super) fn send_all(&mut self, socket: &UdpSocket, batch: &mut Vec<(SocketAddr, Vec<u8>)>) {
        use nix::sys::socket::{sendmmsg, ControlMessage, MsgFlags, SockaddrStorage};
        use std::io::IoSlice;
        use std::os::fd::AsRawFd;

        let mut rest = &batch[..];
        while !rest.is_empty() {
            let chunk = &rest[..rest.len().min(BATCH)];
            self.addresses.clear();
            self.addresses.extend(chunk.iter().map(|(to, _)| Some(SockaddrStorage::from(*to))));
            let slices: Vec<[IoSlice<'_>; 1]> = chunk.iter().map(|(_, datagram)| [IoSlice::new(datagram)]).collect();
            let no_control: [ControlMessage<'_>; 0] = [];
            let sent = sendmmsg(
                socket.as_raw_fd(),
                &mut self.headers,
                &slices,
                &self.addresses,
                no_control,
                MsgFlags::empty(),
            )
            .map(|results| results.count());
            // The kernel stops at the first datagram it refuses: skip that one, go on with the rest.
            let advanced = match sent {
                Ok(0) | Err(_) => 1,
                Ok(count) => count,
            };
            rest = &rest[advanced.min(rest.len())..];
        }
        batch.clear();
    }

    /// Sends every datagram in `batch` and empties it.
    #[cfg(not(target_os = "linux"))]
    pub(super) fn send_all(&mut self, socket: &UdpSocket, batch: &mut Vec<(SocketAddr, Vec<u8>)>) {
        for (to, datagram) in batch.drain(..) {
            let _ = socket.send_to(&datagram, to);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn every_datagram_of_a_batch_reaches_its_own_address() {
        let sender_socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let receivers: Vec<UdpSocket> = (0..3).map(|_| UdpSocket::bind("127.0.0.1:0").expect("bind")).collect();
        let mut batch = Vec::new();
        // More than one system call's worth, spread over the receivers.
        for n in 0..150u32 {
            let receiver = &receivers[n as usize % receivers.len()];
            batch.push((receiver.local_addr().expect("addr"), n.to_be_bytes().to_vec()));
        }
        BatchSender::new().send_all(&sender_socket, &mut batch);
        assert!(batch.is_empty());
        for (index, receiver) in receivers.iter().enumerate() {
            receiver.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
            let mut buf = [0u8; 8];
            for expected in (0..150u32).filter(|n| *n as usize % 3 == index) {
                let (len, from) = receiver.recv_from(&mut buf).expect("a datagram of the batch");
                assert_eq!(from, sender_socket.local_addr().expect("addr"));
                assert_eq!(&buf[..len], expected.to_be_bytes());
            }
        }
    }

    #[test]
    fn a_refused_datagram_does_not_stop_the_rest() {
        let sender_socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let receiver = UdpSocket::bind("127.0.0.1:0").expect("bind");
        receiver.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        let to = receiver.local_addr().expect("addr");
        // An IPv6 destination cannot be reached from an IPv4 socket: the kernel refuses it.
        let unreachable: SocketAddr = "[::1]:9".parse().expect("address");
        let mut batch = vec![(to, b"one".to_vec()), (unreachable, b"lost".to_vec()), (to, b"two".to_vec())];
        BatchSender::new().send_all(&sender_socket, &mut batch);
        let mut buf = [0u8; 8];
        let (len, _) = receiver.recv_from(&mut buf).expect("first");
        assert_eq!(&buf[..len], b"one");
        let (len, _) = receiver.recv_from(&mut buf).expect("third");
        assert_eq!(&buf[..len], b"two");
    }
}
