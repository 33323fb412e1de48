//! Byte streams and listening: the [`Stream`] both server and client speak over (TLS, or plain
//! TCP when `[tls] enabled = false`), and the accept loop every TCP port of the server uses,
//! with its [`Gate`]: the [`admission`] limits on connections that have not logged in yet.

pub mod admission;

pub use admission::{Limits, Refusal};

use admission::Admission;
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpSocket};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Time a client has to finish the TLS handshake.
pub(crate) const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a client has to finish the TLS handshake when it arrived under pressure (more than
/// half the port's budget of unfinished connections in use).
pub(crate) const PRESSURE_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections the kernel queues for `accept` (capped by the system's own maximum).
pub(crate) const LISTEN_BACKLOG: u32 = 4096;

/// A byte stream: TLS, or plain TCP when `[tls] enabled = false`.
pub trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Stream for T {}

/// Binds a TCP listener with a backlog of [`LISTEN_BACKLOG`].
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    #[cfg(not(windows))]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Called with each connection refused, or closed to make room ([`Refusal::Full`]).
pub(crate) type OnRefused = Box<dyn Fn(Refusal) + Send + Sync>;

/// One port's admission state, shared by its accept loop and its connections.
pub(crate) struct Gate {
    state: Mutex<GateState>,
    on_refused: OnRefused,
}

struct GateState {
    admission: Admission,
    closers: HashMap<u64, CancellationToken>,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("Gate").field("limits", state.admission.limits()).finish_non_exhaustive()
    }
}

impl Gate {
    /// A gate with these limits, reporting every refusal to `on_refused`.
    pub fn new(limits: Limits, on_refused: OnRefused) -> Arc<Gate> {
        let state = GateState { admission: Admission::new(limits), closers: HashMap::new() };
        Arc::new(Gate { state: Mutex::new(state), on_refused })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A slot for a connection from `peer`, closing another unfinished one if it must; `None`
    /// when refused.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Option<Slot> {
        let mut state = self.lock();
        let admitted = match state.admission.arrive(peer, Instant::now()) {
            Ok(admitted) => admitted,
            Err(refusal) => {
                drop(state);
                (self.on_refused)(refusal);
                return None;
            }
        };
        let evicted = admitted.evict.and_then(|ticket| state.closers.remove(&ticket));
        let closer = CancellationToken::new();
        state.closers.insert(admitted.ticket, closer.clone());
        drop(state);
        if let Some(evicted) = evicted {
            evicted.cancel();
            (self.on_refused)(Refusal::Full);
        }
        Some(Slot {
            gate: self.clone(),
            ticket: Some(admitted.ticket),
            closer,
            under_pressure: admitted.under_pressure,
        })
    }

    fn release(&self, ticket: u64) {
        let mut state = self.lock();
        state.admission.leave(ticket);
        state.closers.remove(&ticket);
    }
}

/// A connection's place among the unfinished ones, from accept until it logs in
/// ([`Slot::finish`]) or closes (drop).
#[derive(Debug)]
pub struct Slot {
    gate: Arc<Gate>,
    ticket: Option<u64>,
    closer: CancellationToken,
    under_pressure: bool,
}

impl Slot {
    /// Whether the connection arrived under pressure and gets the short deadlines.
    pub(crate) fn under_pressure(&self) -> bool {
        self.under_pressure
    }

    /// The connection logged in: it no longer counts as unfinished and is never closed to
    /// make room.
    pub fn finish(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.gate.release(ticket);
        }
    }

    /// Resolves when the connection is to close to make room for a newer one (never once
    /// finished).
    pub(crate) async fn closed_for_room(&self) {
        self.closer.cancelled().await
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Accepts TCP connections until `cancel`, admits each through `gate` (a refused one is
/// closed at once, before any TLS), completes the TLS handshake within
/// [`TLS_HANDSHAKE_TIMEOUT`] ([`PRESSURE_HANDSHAKE_TIMEOUT`] under pressure), and runs
/// `on_stream` for each in a tracked task.
pub async fn listen<F, Fut>(
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    gate: Arc<Gate>,
    cancel: CancellationToken,
    tasks: TaskTracker,
    on_stream: F,
) where
    F: Fn(Box<dyn Stream>, SocketAddr, Slot) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                tracing::warn!(error = %err, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(slot) = gate.admit(peer.ip()) else {
            tracing::debug!(%peer, "connection refused");
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, on_stream) = (acceptor.clone(), on_stream.clone());
        tasks.spawn(async move {
            let stream: Box<dyn Stream> = match acceptor {
                None => Box::new(tcp),
                Some(acceptor) => {
                    let limit = if slot.under_pressure() { PRESSURE_HANDSHAKE_TIMEOUT } else { TLS_HANDSHAKE_TIMEOUT };
                    let handshake = tokio::time::timeout(limit, acceptor.accept(tcp));
                    let finished = tokio::select! {
                        finished = handshake => finished,
                        _ = slot.closed_for_room() => return tracing::debug!(%peer, "closed in the TLS handshake to make room"),
                    };
                    match finished {
                        Ok(Ok(tls)) => Box::new(tls),
                        Ok(Err(err)) => return tracing::debug!(%peer, error = %err, "TLS handshake failed"),
                        Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            };
            on_stream(stream, peer, slot).await;
        });
    }
}
