//! Byte streams and listening: the [`Stream`] both server and client speak over (TLS, or plain
//! TCP when `[tls] enabled = false`), and the accept loop every TCP port of the server uses.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Time a client has to finish the TLS handshake.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A byte stream: TLS, or plain TCP when `[tls] enabled = false`.
pub trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Stream for T {}

/// Accepts TCP connections until `cancel`, at most `max_connections` at once, completes the
/// TLS handshake within [`TLS_HANDSHAKE_TIMEOUT`], and runs `on_stream` for each in a tracked task.
pub async fn listen<F, Fut>(
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    max_connections: usize,
    cancel: CancellationToken,
    tasks: TaskTracker,
    on_stream: F,
) where
    F: Fn(Box<dyn Stream>, SocketAddr) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let permits = Arc::new(tokio::sync::Semaphore::new(max_connections));
    loop {
        let permit = tokio::select! {
            _ = cancel.cancelled() => break,
            permit = permits.clone().acquire_owned() => permit,
        };
        let Ok(permit) = permit else { break };
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
        let _ = tcp.set_nodelay(true);
        let (acceptor, on_stream) = (acceptor.clone(), on_stream.clone());
        tasks.spawn(async move {
            let _permit = permit;
            let stream: Box<dyn Stream> = match acceptor {
                None => Box::new(tcp),
                Some(acceptor) => match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => Box::new(tls),
                    Ok(Err(err)) => return tracing::debug!(%peer, error = %err, "TLS handshake failed"),
                    Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
                },
            };
            on_stream(stream, peer).await;
        });
    }
}
