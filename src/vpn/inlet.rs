//! The hand-over of WireGuard datagrams from the media socket's thread to the VPN's tasks, in
//! batches: the media thread copies the WireGuard datagrams of one receive turn into a
//! [`Batch`] ([`Inlet::offer`]) and passes the batch on at the end of the turn
//! ([`Inlet::flush`]), so the VPN's task is woken once per turn rather than once per datagram.
//! The VPN hands each batch back once it is done with it ([`Outlet::give_back`]), so a steady
//! flow reuses the same few batches and allocates nothing per datagram.
//!
//! The queue is bounded: when the VPN lags and the queue is full, the turn's datagrams are
//! dropped (as a congested network would drop them) and voice is never held up.

use std::net::SocketAddr;
use std::ops::Range;
use std::sync::mpsc as returns;
use tokio::sync::mpsc;

/// Batches that may wait for the VPN's tasks.
const QUEUE: usize = 64;
/// A batch is passed on early once it holds this many bytes (so the queue's memory stays bounded).
const BATCH_BYTES: usize = 128 * 1024;

/// Datagrams with where each came from, in one reused buffer.
#[derive(Debug, Default)]
pub struct Batch {
    bytes: Vec<u8>,
    datagrams: Vec<(SocketAddr, Range<usize>)>,
}

impl Batch {
    /// Appends a copy of `datagram`, received from `from`.
    pub fn push(&mut self, from: SocketAddr, datagram: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(datagram);
        self.datagrams.push((from, start..self.bytes.len()));
    }

    /// Whether it holds no datagram.
    pub fn is_empty(&self) -> bool {
        self.datagrams.is_empty()
    }

    /// The datagrams with their senders, in order.
    pub fn iter(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
        self.datagrams.iter().filter_map(|(from, range)| Some((*from, self.bytes.get(range.clone())?)))
    }

    /// Forgets the datagrams, keeping the room.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.datagrams.clear();
    }
}

/// Where the media socket's thread puts WireGuard datagrams (when the VPN is off they are
/// taken and dropped).
#[derive(Debug, Default)]
pub struct Inlet {
    queue: Option<(mpsc::Sender<Batch>, returns::Receiver<Batch>)>,
    filling: Batch,
}

impl Inlet {
    /// Takes `datagram` if it is WireGuard's (into the batch being filled, when the VPN runs)
    /// and says whether it did; media is left to the caller.
    pub fn offer(&mut self, from: SocketAddr, datagram: &[u8]) -> bool {
        if !super::is_wireguard(datagram) {
            return false;
        }
        if self.queue.is_some() {
            self.filling.push(from, datagram);
            if self.filling.bytes.len() >= BATCH_BYTES {
                self.flush();
            }
        }
        true
    }

    /// Passes the batch being filled on to the VPN, if it holds anything; when the queue is
    /// full its datagrams are dropped.
    pub fn flush(&mut self) {
        let Some((sender, spent)) = &self.queue else { return };
        if self.filling.is_empty() {
            return;
        }
        let next = spent.try_recv().unwrap_or_default();
        match sender.try_send(std::mem::replace(&mut self.filling, next)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(mut batch) | mpsc::error::TrySendError::Closed(mut batch)) => {
                batch.clear();
                self.filling = batch;
            }
        }
    }
}

/// The VPN's end of the queue.
#[derive(Debug)]
pub struct Outlet {
    receiver: mpsc::Receiver<Batch>,
    spent: returns::SyncSender<Batch>,
}

impl Outlet {
    /// The next batch; `None` once the media thread is gone.
    pub async fn recv(&mut self) -> Option<Batch> {
        self.receiver.recv().await
    }

    /// The next batch if one is waiting.
    pub fn try_recv(&mut self) -> Option<Batch> {
        self.receiver.try_recv().ok()
    }

    /// Hands a batch back for reuse (dropped if enough are waiting already).
    pub fn give_back(&self, mut batch: Batch) {
        batch.clear();
        let _ = self.spent.try_send(batch);
    }
}

/// A connected inlet and outlet.
pub fn queue() -> (Inlet, Outlet) {
    let (sender, receiver) = mpsc::channel(QUEUE);
    // Room for every batch that can be in flight, so none is lost on the way back.
    let (spent, returned) = returns::sync_channel(QUEUE + 2);
    (Inlet { queue: Some((sender, returned)), filling: Batch::default() }, Outlet { receiver, spent })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from() -> SocketAddr {
        "192.0.2.1:51820".parse().expect("address")
    }

    #[test]
    fn an_inlet_of_a_vpn_that_is_off_takes_wireguard_and_leaves_media() {
        let mut inlet = Inlet::default();
        assert!(inlet.offer(from(), &[4, 0, 0, 0, 1]), "taken (and dropped) when off");
        assert!(!inlet.offer(from(), &[1, 2, 0, 0]), "media is left alone");
        inlet.flush();
        assert!(inlet.filling.is_empty(), "nothing is kept when off");
    }

    #[tokio::test]
    async fn a_turn_of_datagrams_arrives_as_one_batch_and_its_memory_comes_back() {
        let (mut inlet, mut outlet) = queue();
        assert!(inlet.offer(from(), &[4, 0, 0, 0, 1]));
        assert!(!inlet.offer(from(), &[1, 2, 0, 0]));
        assert!(inlet.offer(from(), &[4, 0, 0, 0, 2, 3]));
        inlet.flush();
        inlet.flush();
        let batch = outlet.recv().await.expect("a batch");
        let datagrams: Vec<_> = batch.iter().collect();
        assert_eq!(datagrams, vec![(from(), &[4, 0, 0, 0, 1][..]), (from(), &[4, 0, 0, 0, 2, 3][..])]);
        assert!(outlet.receiver.try_recv().is_err(), "an empty turn sends nothing");
        let memory = batch.bytes.as_ptr();
        outlet.give_back(batch);

        assert!(inlet.offer(from(), &[4, 0, 0, 0, 9]));
        inlet.flush();
        assert!(inlet.offer(from(), &[4, 0, 0, 0, 10]));
        assert_eq!(inlet.filling.bytes.as_ptr(), memory, "the returned batch is filled next");
    }

    #[tokio::test]
    async fn a_full_queue_drops_the_turn_and_a_big_turn_is_passed_on_in_parts() {
        let (mut inlet, mut outlet) = queue();
        for n in 0..QUEUE + 5 {
            assert!(inlet.offer(from(), &[4, 0, 0, 0, n as u8]));
            inlet.flush();
        }
        let mut received = 0;
        while let Ok(batch) = outlet.receiver.try_recv() {
            received += batch.iter().count();
        }
        assert_eq!(received, QUEUE, "what did not fit was dropped");

        let big = [4u8, 0, 0, 0].iter().copied().chain(std::iter::repeat_n(7, 1400)).collect::<Vec<_>>();
        let count = BATCH_BYTES / big.len() + 10;
        for _ in 0..count {
            inlet.offer(from(), &big);
        }
        inlet.flush();
        let mut batches = 0;
        let mut datagrams = 0;
        while let Ok(batch) = outlet.receiver.try_recv() {
            batches += 1;
            datagrams += batch.iter().count();
        }
        assert_eq!((batches, datagrams), (2, count), "passed on when it reached its size, then the rest");
    }
}
