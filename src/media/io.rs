//! The relay thread's socket I/O (the VPN client's tunnel receives with [`BatchReceiver`]
//! too). Waiting for datagrams: on Linux the socket stays non-blocking (the VPN sends from a
//! second handle on it through Tokio, and the flag is shared by both handles) and the thread
//! waits with `poll`; elsewhere the socket blocks with a timeout. Receiving: on Linux up to
//! [`RECEIVE_BURST`] messages in one `recvmmsg` system call, with UDP GRO on, so that one
//! message may hold a run of same-sized datagrams from one sender that the kernel coalesced
//! (split here again, by the segment size it reports); elsewhere one `recv_from` at a time.
//! Sending a batch of datagrams, each to its own address: on Linux in one `sendmmsg` system
//! call per [`BATCH`] datagrams (a voice frame fans out to every other member of the call at
//! once), elsewhere one `send_to` each. A datagram the kernel refuses (or has no room for) is
//! dropped, as the network would drop it; the rest of the batch still goes out.

use super::relay::Outgoing;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

/// Most messages taken from the socket before their copies are sent. Where `recv_from`
/// blocks (not Linux), a second one would wait for the next datagram, so one at a time.
const RECEIVE_BURST: usize = if cfg!(target_os = "linux") { 16 } else { 1 };
/// Room for one message: a run of coalesced datagrams (at most 64 KB), or one datagram of any
/// size the media and the VPN accept (a media datagram over its limit still shows as such).
const MESSAGE_ROOM: usize = 65_536;

/// Sets `socket` up for [`wait_readable`] and [`BatchReceiver::receive`].
#[cfg(target_os = "linux")]
pub(super) fn prepare(socket: &UdpSocket, _timeout: Duration) -> io::Result<()> {
    socket.set_nonblocking(true)?;
    enable_gro(socket);
    Ok(())
}

/// Turns UDP GRO on for `socket` where the kernel has it ([`BatchReceiver::receive`] splits
/// what it coalesces); a kernel without it delivers datagrams one by one.
#[cfg(target_os = "linux")]
pub(crate) fn enable_gro(socket: &impl std::os::fd::AsFd) {
    use nix::sys::socket::{setsockopt, sockopt::UdpGroSegment};
    if let Err(err) = setsockopt(socket, UdpGroSegment, &true) {
        tracing::debug!(error = %err, "no UDP GRO on this system");
    }
}

/// Sets `socket` up for [`wait_readable`] and [`BatchReceiver::receive`].
#[cfg(not(target_os = "linux"))]
pub(super) fn prepare(socket: &UdpSocket, timeout: Duration) -> io::Result<()> {
    socket.set_nonblocking(false)?;
    socket.set_read_timeout(Some(timeout))
}

/// Waits up to `timeout` for a datagram; whether one may be there.
#[cfg(target_os = "linux")]
pub(super) fn wait_readable(socket: &UdpSocket, timeout: Duration) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let mut fds = [PollFd::new(socket.as_fd(), PollFlags::POLLIN)];
    let timeout = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
    poll(&mut fds, timeout).is_ok_and(|ready| ready > 0)
}

/// Waits up to `timeout` for a datagram; whether one may be there (the blocking `recv_from`
/// with its read timeout does the waiting here).
#[cfg(not(target_os = "linux"))]
pub(super) fn wait_readable(_socket: &UdpSocket, _timeout: Duration) -> bool {
    true
}

/// Reusable buffers for receiving a turn's messages.
pub(crate) struct BatchReceiver {
    buffers: Vec<u8>,
    /// Per message received: its room in `buffers`, sender, length, and the size of each
    /// datagram in it.
    received: Vec<(usize, SocketAddr, usize, usize)>,
    #[cfg(target_os = "linux")]
    headers: nix::sys::socket::MultiHeaders<nix::sys::socket::SockaddrStorage>,
    /// Whether a header's room for control data was used up by the last receive. nix's
    /// `recvmmsg` leaves each header's control length as the kernel wrote it back (0 for a
    /// message without control data), so the next coalesced run in that header would lose
    /// its segment size: the headers are then made anew.
    #[cfg(target_os = "linux")]
    stale_headers: bool,
}

/// Headers for one `recvmmsg`, each with room for a UDP GRO segment size.
#[cfg(target_os = "linux")]
fn fresh_headers() -> nix::sys::socket::MultiHeaders<nix::sys::socket::SockaddrStorage> {
    nix::sys::socket::MultiHeaders::preallocate(RECEIVE_BURST, Some(nix::cmsg_space!(nix::libc::c_int)))
}

impl BatchReceiver {
    pub(crate) fn new() -> BatchReceiver {
        BatchReceiver {
            buffers: vec![0u8; RECEIVE_BURST * MESSAGE_ROOM],
            received: Vec::with_capacity(RECEIVE_BURST),
            #[cfg(target_os = "linux")]
            headers: fresh_headers(),
            #[cfg(target_os = "linux")]
            stale_headers: false,
        }
    }

    /// Receives what is waiting on the non-blocking `socket`; then [`BatchReceiver::each`]
    /// visits it. An error (`WouldBlock` when nothing is waiting, or one that concerns one
    /// peer, such as an ICMP port unreachable reported on the socket) leaves nothing to visit.
    #[cfg(target_os = "linux")]
    pub(crate) fn receive(&mut self, socket: &impl std::os::fd::AsRawFd) -> io::Result<()> {
        use nix::sys::socket::{recvmmsg, ControlMessageOwned, MsgFlags, SockaddrStorage};
        use std::io::IoSliceMut;
        fn socket_address(address: &SockaddrStorage) -> Option<SocketAddr> {
            match (address.as_sockaddr_in(), address.as_sockaddr_in6()) {
                (Some(v4), _) => Some(SocketAddr::from(*v4)),
                (_, Some(v6)) => Some(SocketAddr::from(*v6)),
                _ => None,
            }
        }

        self.received.clear();
        if std::mem::take(&mut self.stale_headers) {
            self.headers = fresh_headers();
        }
        let mut rooms = self.buffers.chunks_exact_mut(MESSAGE_ROOM);
        let mut slices: [[IoSliceMut<'_>; 1]; RECEIVE_BURST] =
            std::array::from_fn(|_| [IoSliceMut::new(rooms.next().unwrap_or_default())]);
        let messages = recvmmsg(socket.as_raw_fd(), &mut self.headers, &mut slices, MsgFlags::empty(), None)?;
        for (room, message) in messages.enumerate() {
            // A message whose control data did not fit cannot be split: dropped.
            let Ok(controls) = message.cmsgs() else {
                self.stale_headers = true;
                continue;
            };
            let mut segment = None;
            let mut had_control = false;
            for control in controls {
                had_control = true;
                if let ControlMessageOwned::UdpGroSegments(size) = control {
                    segment = usize::try_from(size).ok().filter(|size| *size > 0);
                }
            }
            self.stale_headers |= !had_control;
            let Some(from) = message.address.as_ref().and_then(socket_address) else { continue };
            self.received.push((room, from, message.bytes, segment.unwrap_or(message.bytes)));
        }
        Ok(())
    }

    /// Receives the next datagram if one comes before the socket's read timeout; then
    /// [`BatchReceiver::each`] visits it.
    #[cfg(not(target_os = "linux"))]
    pub(crate) fn receive(&mut self, socket: &UdpSocket) -> io::Result<()> {
        self.received.clear();
        let (len, from) = socket.recv_from(&mut self.buffers[..MESSAGE_ROOM])?;
        self.received.push((0, from, len, len));
        Ok(())
    }

    /// Calls `visit` with each datagram of the last [`BatchReceiver::receive`] and its sender,
    /// in the order they arrived.
    pub(crate) fn each(&mut self, mut visit: impl FnMut(SocketAddr, &mut [u8])) {
        for &(room, from, len, segment) in &self.received {
            let start = room * MESSAGE_ROOM;
            let Some(message) = self.buffers.get_mut(start..start + len) else { continue };
            for datagram in message.chunks_mut(segment.max(1)) {
                visit(from, datagram);
            }
        }
    }
}

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
    pub(super) fn send_all(&mut self, socket: &UdpSocket, batch: &mut Outgoing) {
        use nix::sys::socket::{sendmmsg, ControlMessage, MsgFlags, SockaddrStorage};
        use std::io::IoSlice;
        use std::os::fd::AsRawFd;

        let mut next = 0;
        while next < batch.len() {
            let chunk = || (next..batch.len().min(next + BATCH)).filter_map(|index| batch.get(index));
            self.addresses.clear();
            self.addresses.extend(chunk().map(|(to, _)| Some(SockaddrStorage::from(to))));
            let slices: Vec<[IoSlice<'_>; 1]> = chunk().map(|(_, datagram)| [IoSlice::new(datagram)]).collect();
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
            next += match sent {
                Ok(0) | Err(_) => 1,
                Ok(count) => count,
            };
        }
        batch.clear();
    }

    /// Sends every datagram in `batch` and empties it.
    #[cfg(not(target_os = "linux"))]
    pub(super) fn send_all(&mut self, socket: &UdpSocket, batch: &mut Outgoing) {
        for (to, datagram) in batch.iter() {
            let _ = socket.send_to(datagram, to);
        }
        batch.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    #[test]
    fn every_datagram_of_a_batch_reaches_its_own_address() {
        let sender_socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let receivers: Vec<UdpSocket> = (0..3).map(|_| UdpSocket::bind("127.0.0.1:0").expect("bind")).collect();
        let mut batch = Outgoing::default();
        // More than one system call's worth, spread over the receivers.
        for n in 0..150u32 {
            let receiver = &receivers[n as usize % receivers.len()];
            batch.push(receiver.local_addr().expect("addr"), &n.to_be_bytes());
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
    fn waiting_sees_a_datagram_and_gives_up_without_one() {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        prepare(&socket, Duration::from_millis(50)).expect("prepare");
        if cfg!(target_os = "linux") {
            assert!(!wait_readable(&socket, Duration::from_millis(50)), "nothing was sent");
        }
        let peer = UdpSocket::bind("127.0.0.1:0").expect("bind");
        peer.send_to(b"hello", socket.local_addr().expect("addr")).expect("send");
        assert!(wait_readable(&socket, Duration::from_secs(5)));
        let mut buf = [0u8; 8];
        let (len, _) = socket.recv_from(&mut buf).expect("the datagram");
        assert_eq!(&buf[..len], b"hello");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_turn_brings_every_datagram_with_its_sender_and_coalesced_runs_are_split_again() {
        use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, SockaddrStorage};
        use std::io::IoSlice;
        use std::os::fd::AsRawFd;

        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        prepare(&socket, Duration::from_millis(50)).expect("prepare");
        let to = socket.local_addr().expect("addr");
        let one = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let other = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let mut receiver = BatchReceiver::new();
        let mut got = Vec::new();
        let mut take = |receiver: &mut BatchReceiver, count: usize| {
            while got.len() < count && wait_readable(&socket, Duration::from_secs(5)) {
                receiver.receive(&socket).expect("a datagram is waiting");
                receiver.each(|from, datagram| got.push((from, datagram.to_vec())));
            }
        };
        // A turn of one plain datagram first: the coalesced run that follows lands where it
        // was received, with room for its segment size all the same.
        one.send_to(b"first", to).expect("send");
        take(&mut receiver, 1);
        // Three 100-byte datagrams and a shorter one in one segmented send: a GRO socket gets
        // them as one message, as it would after the kernel coalesced them.
        let run: Vec<Vec<u8>> = [100, 100, 100, 40].iter().enumerate().map(|(n, len)| vec![n as u8; *len]).collect();
        let slices: Vec<IoSlice<'_>> = run.iter().map(|datagram| IoSlice::new(datagram)).collect();
        let segment = 100u16;
        sendmsg(
            other.as_raw_fd(),
            &slices,
            &[ControlMessage::UdpGsoSegments(&segment)],
            MsgFlags::empty(),
            Some(&SockaddrStorage::from(to)),
        )
        .expect("segmented send");
        one.send_to(b"last", to).expect("send");
        take(&mut receiver, 6);

        let one = one.local_addr().expect("addr");
        let other = other.local_addr().expect("addr");
        let mut expected = vec![(one, b"first".to_vec())];
        expected.extend(run.into_iter().map(|datagram| (other, datagram)));
        expected.push((one, b"last".to_vec()));
        assert_eq!(got, expected);
    }

    #[test]
    fn a_refused_datagram_does_not_stop_the_rest() {
        let sender_socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let receiver = UdpSocket::bind("127.0.0.1:0").expect("bind");
        receiver.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        let to = receiver.local_addr().expect("addr");
        // An IPv6 destination cannot be reached from an IPv4 socket: the kernel refuses it.
        let unreachable: SocketAddr = "[::1]:9".parse().expect("address");
        let mut batch = Outgoing::default();
        batch.push(to, b"one");
        batch.push(unreachable, b"lost");
        batch.push(to, b"two");
        BatchSender::new().send_all(&sender_socket, &mut batch);
        let mut buf = [0u8; 8];
        let (len, _) = receiver.recv_from(&mut buf).expect("first");
        assert_eq!(&buf[..len], b"one");
        let (len, _) = receiver.recv_from(&mut buf).expect("third");
        assert_eq!(&buf[..len], b"two");
    }
}
