//! The server's TUN device I/O in batches. On Linux the device carries virtio-net headers
//! (tun-rs's offload): one read may bring a TCP or UDP segment of up to 64 KB, split here into
//! the MTU-sized packets the tunnel seals, and one write hands the kernel as many of a batch's
//! packets as coalesce (GRO) into one segment, so the kernel forwards a few large segments
//! rather than many small packets. Elsewhere (WinTUN) one packet per read and per write.

use super::tunnels::Buffers;
use std::io;
use tun_rs::AsyncDevice;

/// Spare bytes a packet for [`TunWriter::send`] needs in front of it (the virtio-net header).
#[cfg(target_os = "linux")]
pub const HEADROOM: usize = tun_rs::VIRTIO_NET_HDR_LEN;
/// Spare bytes a packet for [`TunWriter::send`] needs in front of it.
#[cfg(not(target_os = "linux"))]
pub const HEADROOM: usize = 0;

/// Most packets one read is split into (a 64 KB segment of MTU-sized packets fits).
#[cfg(target_os = "linux")]
const SPLIT: usize = tun_rs::IDEAL_BATCH_SIZE;
/// Room for one packet of a split segment (the device's MTU, with margin).
#[cfg(target_os = "linux")]
const PACKET_ROOM: usize = 2048;
/// Room for one read: a virtio-net header and a segment of up to 64 KB.
const READ_ROOM: usize = HEADROOM + 65_535;

/// Whether a failed read or write concerns one packet (a malformed segment) rather than the
/// device: only errors from the system itself carry an OS error code.
pub fn concerns_one_packet(err: &io::Error) -> bool {
    err.raw_os_error().is_none()
}

/// Reads the device; keeps its buffers between reads.
pub struct TunReader {
    read: Vec<u8>,
    #[cfg(target_os = "linux")]
    packets: Vec<Vec<u8>>,
    #[cfg(target_os = "linux")]
    sizes: Vec<usize>,
    count: usize,
}

impl TunReader {
    /// Buffers for one read (about 330 KB on Linux, 64 KB elsewhere).
    pub fn new() -> TunReader {
        TunReader {
            read: vec![0u8; READ_ROOM],
            #[cfg(target_os = "linux")]
            packets: vec![vec![0u8; PACKET_ROOM]; SPLIT],
            #[cfg(target_os = "linux")]
            sizes: vec![0; SPLIT],
            count: 0,
        }
    }

    /// Waits for the next read; its packets are then in [`TunReader::packets`].
    #[cfg(target_os = "linux")]
    pub async fn recv(&mut self, device: &AsyncDevice) -> io::Result<()> {
        self.count = 0;
        self.count = device.recv_multiple(&mut self.read, &mut self.packets, &mut self.sizes, 0).await?;
        Ok(())
    }

    /// Reads what is already waiting, if anything (`WouldBlock` when nothing is).
    #[cfg(target_os = "linux")]
    pub fn try_recv(&mut self, device: &AsyncDevice) -> io::Result<()> {
        self.count = 0;
        self.count = device.try_recv_multiple(&mut self.read, &mut self.packets, &mut self.sizes, 0)?;
        Ok(())
    }

    /// Calls `visit` with each packet of the last read, then of up to `reads - 1` more reads
    /// of what is already waiting on `device`.
    pub fn visit_waiting(&mut self, device: &AsyncDevice, reads: usize, mut visit: impl FnMut(&[u8])) {
        for read in 0..reads {
            if read > 0 && self.try_recv(device).is_err() {
                break;
            }
            self.packets().for_each(&mut visit);
        }
    }

    /// The packets of the last read.
    #[cfg(target_os = "linux")]
    pub fn packets(&self) -> impl Iterator<Item = &[u8]> {
        self.packets.iter().zip(&self.sizes).take(self.count).map(|(packet, size)| &packet[..*size])
    }

    /// Waits for the next read; its packet is then in [`TunReader::packets`].
    #[cfg(not(target_os = "linux"))]
    pub async fn recv(&mut self, device: &AsyncDevice) -> io::Result<()> {
        self.count = 0;
        self.count = device.recv(&mut self.read).await?;
        Ok(())
    }

    /// Reads what is already waiting, if anything (`WouldBlock` when nothing is).
    #[cfg(not(target_os = "linux"))]
    pub fn try_recv(&mut self, device: &AsyncDevice) -> io::Result<()> {
        self.count = 0;
        self.count = device.try_recv(&mut self.read)?;
        Ok(())
    }

    /// The packet of the last read (none if it failed).
    #[cfg(not(target_os = "linux"))]
    pub fn packets(&self) -> impl Iterator<Item = &[u8]> {
        (self.count > 0).then(|| &self.read[..self.count]).into_iter()
    }
}

/// Writes batches of packets to the device.
#[derive(Default)]
pub struct TunWriter {
    #[cfg(target_os = "linux")]
    gro: tun_rs::GROTable,
}

impl TunWriter {
    /// Writes `packets` (each with [`HEADROOM`] in front), coalescing what it can, and empties
    /// them; a packet the device refuses is dropped, as a network would drop it.
    pub async fn send(&mut self, device: &AsyncDevice, packets: &mut Buffers) {
        if packets.is_empty() {
            return;
        }
        self.write(device, packets).await;
        packets.clear();
    }

    async fn write(&mut self, device: &AsyncDevice, packets: &mut Buffers) {
        #[cfg(target_os = "linux")]
        {
            let headroom = packets.headroom();
            if let Err(err) = device.send_multiple(&mut self.gro, packets.filled_mut(), headroom).await {
                tracing::debug!(error = %err, "could not write to the VPN device");
            }
        }
        #[cfg(not(target_os = "linux"))]
        for packet in packets.iter() {
            if let Err(err) = device.send(packet).await {
                tracing::debug!(error = %err, "could not write to the VPN device");
            }
        }
    }
}
