//! The VPN's datagrams out of the media socket (a second handle on it, through Tokio). On Linux
//! a run of datagrams to one peer that share a size (the last may be shorter: a segment split
//! from one TUN read seals into exactly such a run) leaves in one system call with UDP
//! segmentation offload (`UDP_SEGMENT`): the kernel cuts it into the datagrams. Where the kernel
//! refuses that (before Linux 4.18, or a device without checksum offload), and elsewhere, one
//! `send_to` per datagram. A datagram the kernel refuses is dropped, as a network would drop it.

use super::tunnels::Outbox;
use tokio::net::UdpSocket;

/// Most datagrams in one segmented send (the kernel's limit before Linux 5.x was 64).
#[cfg(target_os = "linux")]
const MAX_SEGMENTS: usize = 64;
/// Most bytes in one segmented send (what one UDP datagram of IPv4 or IPv6 can carry).
#[cfg(target_os = "linux")]
const MAX_SEGMENTED_BYTES: usize = 65_000;

/// Sends the datagrams of an [`Outbox`].
#[derive(Debug)]
pub struct UdpSender {
    /// Whether segmented sends are still tried (off after the kernel refused one).
    #[cfg(target_os = "linux")]
    segmenting: bool,
}

// Elsewhere than Linux it holds nothing, and clippy would have it derived.
#[cfg_attr(not(target_os = "linux"), allow(clippy::derivable_impls))]
impl Default for UdpSender {
    fn default() -> UdpSender {
        UdpSender {
            #[cfg(target_os = "linux")]
            segmenting: true,
        }
    }
}

impl UdpSender {
    /// Sends every datagram of `outbox` and forgets them.
    pub async fn send_all(&mut self, socket: &UdpSocket, outbox: &mut Outbox) {
        #[cfg(target_os = "linux")]
        {
            let mut start = 0;
            while start < outbox.network.len() {
                let end = if self.segmenting { run_end(outbox, start) } else { start + 1 };
                if end - start > 1 {
                    match send_segmented(socket, outbox, start, end).await {
                        Ok(()) => {}
                        Err(err) if refuses_segmenting(&err) => {
                            tracing::debug!(error = %err, "no UDP segmentation offload here; the VPN sends one datagram at a time");
                            self.segmenting = false;
                            continue;
                        }
                        Err(err) => tracing::debug!(error = %err, "could not send VPN datagrams"),
                    }
                } else {
                    send_one(socket, outbox, start).await;
                }
                start = end;
            }
        }
        #[cfg(not(target_os = "linux"))]
        for index in 0..outbox.network.len() {
            send_one(socket, outbox, index).await;
        }
        outbox.clear_network();
    }
}

async fn send_one(socket: &UdpSocket, outbox: &Outbox, index: usize) {
    let (Some(to), Some(datagram)) = (outbox.network_to.get(index), outbox.network.get(index)) else { return };
    if let Err(err) = socket.send_to(datagram, to).await {
        tracing::debug!(%to, error = %err, "could not send a VPN datagram");
    }
}

/// Where the run of datagrams that may leave in one segmented send, starting at `start`, ends.
#[cfg(target_os = "linux")]
fn run_end(outbox: &Outbox, start: usize) -> usize {
    let to = outbox.network_to.get(start);
    let size = outbox.network.get(start).map_or(0, <[u8]>::len);
    let mut bytes = size;
    let mut end = start + 1;
    while end - start < MAX_SEGMENTS {
        let (Some(next_to), Some(next)) = (outbox.network_to.get(end), outbox.network.get(end)) else { break };
        if Some(next_to) != to || next.len() > size || next.is_empty() || bytes + next.len() > MAX_SEGMENTED_BYTES {
            break;
        }
        bytes += next.len();
        end += 1;
        if next.len() < size {
            break;
        }
    }
    end
}

/// Sends datagrams `start..end` (one destination, one size but the last) in one system call.
#[cfg(target_os = "linux")]
async fn send_segmented(socket: &UdpSocket, outbox: &Outbox, start: usize, end: usize) -> std::io::Result<()> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, SockaddrStorage};
    use std::io::IoSlice;
    use std::os::fd::AsRawFd;

    let Some(to) = outbox.network_to.get(start).copied().map(SockaddrStorage::from) else { return Ok(()) };
    let slices: [IoSlice<'_>; MAX_SEGMENTS] =
        std::array::from_fn(|offset| IoSlice::new(outbox.network.get(start + offset).unwrap_or_default()));
    let segment = outbox.network.get(start).map_or(0, <[u8]>::len);
    let segment = u16::try_from(segment).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let count = end - start;
    socket
        .async_io(tokio::io::Interest::WRITABLE, || {
            let control = [ControlMessage::UdpGsoSegments(&segment)];
            sendmsg(socket.as_raw_fd(), &slices[..count], &control, MsgFlags::empty(), Some(&to))
                .map(|_| ())
                .map_err(std::io::Error::from)
        })
        .await
}

/// Whether a failed segmented send means the system cannot segment (rather than one bad send).
#[cfg(target_os = "linux")]
fn refuses_segmenting(err: &std::io::Error) -> bool {
    use nix::errno::Errno;
    [Errno::EIO, Errno::EINVAL, Errno::ENOPROTOOPT, Errno::EOPNOTSUPP]
        .iter()
        .any(|errno| err.raw_os_error() == Some(*errno as i32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use std::time::Duration;

    /// Sends `datagrams` (destination index, length, fill byte) and returns what each receiver got.
    async fn round_trip(datagrams: &[(usize, usize, u8)]) -> Vec<Vec<Vec<u8>>> {
        let sender_socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let receivers = [
            std::net::UdpSocket::bind("127.0.0.1:0").expect("bind"),
            std::net::UdpSocket::bind("127.0.0.1:0").expect("bind"),
        ];
        let mut outbox = Outbox::default();
        for (receiver, len, fill) in datagrams {
            let to: SocketAddr = receivers[*receiver].local_addr().expect("address");
            outbox.network_to.push(to);
            outbox.network.push(&vec![*fill; *len]);
        }
        UdpSender::default().send_all(&sender_socket, &mut outbox).await;
        assert!(outbox.network.is_empty() && outbox.network_to.is_empty(), "forgotten once sent");
        receivers
            .iter()
            .enumerate()
            .map(|(index, receiver)| {
                receiver.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
                let mut buf = vec![0u8; 65_536];
                (0..datagrams.iter().filter(|(to, ..)| *to == index).count())
                    .map(|_| {
                        let len = receiver.recv(&mut buf).expect("a datagram");
                        buf[..len].to_vec()
                    })
                    .collect()
            })
            .collect()
    }

    #[tokio::test]
    async fn runs_of_one_size_arrive_as_the_datagrams_they_were() {
        // Two runs to the first receiver (1452-byte datagrams, the last shorter), one datagram
        // to the second between them, and more than one send's worth at the end.
        let mut datagrams = vec![(0, 1452, 1), (0, 1452, 2), (0, 700, 3), (1, 1452, 4), (0, 1452, 5)];
        datagrams.extend((0..70u8).map(|n| (0, 200, n)));
        datagrams.push((1, 80, 9));
        let received = round_trip(&datagrams).await;
        for (index, got) in received.iter().enumerate() {
            let expected: Vec<Vec<u8>> =
                datagrams.iter().filter(|(to, ..)| *to == index).map(|(_, len, fill)| vec![*fill; *len]).collect();
            assert_eq!(got, &expected, "receiver {index}: every datagram, whole and in order");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_run_ends_at_another_destination_a_longer_datagram_or_after_a_shorter_one() {
        let a: SocketAddr = "192.0.2.1:1".parse().expect("address");
        let b: SocketAddr = "192.0.2.2:1".parse().expect("address");
        let mut outbox = Outbox::default();
        for (to, len) in [(a, 100), (a, 100), (a, 50), (a, 50), (a, 60), (b, 60), (b, 60)] {
            outbox.network_to.push(to);
            outbox.network.push(&vec![0; len]);
        }
        assert_eq!(run_end(&outbox, 0), 3, "the shorter third ends the first run");
        assert_eq!(run_end(&outbox, 3), 4, "a longer datagram is not part of a run");
        assert_eq!(run_end(&outbox, 4), 5, "another destination starts a new run");
        assert_eq!(run_end(&outbox, 5), 7);
    }
}
