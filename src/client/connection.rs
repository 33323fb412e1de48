//! The connected [`Client`]: connecting (TCP, TLS, hello), its reader and writer tasks, raw
//! requests and the event stream.

use super::exchange::{read_frames, round_trip, unexpected, Pending};
use super::pinning::tls_handshake;
use super::{ClientError, KnownHosts, Target};
use crate::proto::{Event, Reply, Request, Welcome, SUPPORTED_VERSIONS};
use crate::transport::Stream;
use bytes::Bytes;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// Time allowed for TCP connect plus TLS handshake plus hello.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Events buffered for a reader that is not reading; later ones are dropped and counted.
const EVENT_BUFFER: usize = 8192;

/// A connected client. Dropping it closes the connection.
#[derive(Debug)]
pub struct Client {
    outbox: mpsc::Sender<Bytes>,
    pending: Pending,
    next_id: AtomicU64,
    events: mpsc::Receiver<Event>,
    dropped_events: Arc<AtomicU64>,
    welcome: Welcome,
    host: String,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Client {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Client {
    /// Connects, checks the certificate, and says hello.
    pub async fn connect(target: &Target, known_hosts: Option<&KnownHosts>) -> Result<Client, ClientError> {
        Self::connect_from(target, known_hosts, None).await
    }

    /// [`Client::connect`] from the local address `from` (one of this machine's addresses,
    /// e.g. on a machine with several), or the system's choice when `None`.
    pub async fn connect_from(
        target: &Target,
        known_hosts: Option<&KnownHosts>,
        from: Option<std::net::IpAddr>,
    ) -> Result<Client, ClientError> {
        let authority = target.authority();
        tokio::time::timeout(CONNECT_TIMEOUT, Self::connect_inner(target, known_hosts, from))
            .await
            .map_err(|_| ClientError::Timeout(format!("a connection to {authority}")))?
    }

    async fn connect_inner(
        target: &Target,
        known_hosts: Option<&KnownHosts>,
        from: Option<std::net::IpAddr>,
    ) -> Result<Client, ClientError> {
        let authority = target.authority();
        let tcp = tcp_connect(target, from)
            .await
            .map_err(|source| ClientError::Connect { addr: authority.clone(), source })?;
        let _ = tcp.set_nodelay(true);
        let stream: Box<dyn Stream> =
            if target.tls() { Box::new(tls_handshake(target, known_hosts, tcp).await?) } else { Box::new(tcp) };
        let (reader, mut writer) = tokio::io::split(stream);
        let (outbox, mut to_send) = mpsc::channel::<Bytes>(1024);
        let writer_task = tokio::spawn(async move {
            while let Some(frame) = to_send.recv().await {
                if writer.write_all(&frame).await.is_err() || writer.flush().await.is_err() {
                    return;
                }
            }
            let _ = writer.shutdown().await;
        });
        let pending: Pending = Arc::default();
        let (event_tx, events) = mpsc::channel(EVENT_BUFFER);
        let dropped_events = Arc::new(AtomicU64::new(0));
        let reader_task =
            tokio::spawn(read_frames(reader, outbox.clone(), pending.clone(), event_tx, dropped_events.clone()));
        let next_id = AtomicU64::new(1);
        let hello = Request::Hello {
            versions: SUPPORTED_VERSIONS.to_vec(),
            client: format!("itc {}", crate::version::current()),
        };
        let welcome = match round_trip(&outbox, &pending, &next_id, hello).await? {
            Reply::Welcome(welcome) => welcome,
            other => return Err(unexpected(other)),
        };
        let host = target.host().to_string();
        Ok(Client {
            outbox,
            pending,
            next_id,
            events,
            dropped_events,
            welcome,
            host,
            tasks: vec![writer_task, reader_task],
        })
    }

    /// What the server said in its welcome: name, description, MOTD, auth methods.
    pub fn welcome(&self) -> &Welcome {
        &self.welcome
    }

    /// The server's host name or address, as connected to.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Sends a request and waits for its answer.
    pub async fn request(&self, request: Request) -> Result<Reply, ClientError> {
        round_trip(&self.outbox, &self.pending, &self.next_id, request).await
    }

    /// The next server-pushed event; `None` once the connection is closed.
    pub async fn next_event(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// Hands the event stream over, so another task can read events while the client is
    /// shared (e.g. in an `Arc`) for requests; [`Client::next_event`] then answers `None`.
    pub fn take_events(&mut self) -> mpsc::Receiver<Event> {
        std::mem::replace(&mut self.events, mpsc::channel(1).1)
    }

    /// Events dropped because they were not read fast enough.
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events.load(Ordering::Relaxed)
    }
}

/// A TCP connection to the target, from `from` when given (the first of the target's
/// addresses in the same family).
async fn tcp_connect(target: &Target, from: Option<std::net::IpAddr>) -> std::io::Result<TcpStream> {
    let Some(from) = from else { return TcpStream::connect((target.host(), target.port())).await };
    let mut addresses = tokio::net::lookup_host((target.host(), target.port())).await?;
    let to = addresses.find(|to| to.is_ipv4() == from.is_ipv4()).ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::AddrNotAvailable, format!("no address of the same family as {from}"))
    })?;
    let socket = if from.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.bind(std::net::SocketAddr::new(from, 0))?;
    socket.connect(to).await
}
