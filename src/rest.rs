//! The REST API on TCP 3786 (HTTPS when TLS is on): `GET /api/health` and `GET /api/server`
//! (the server's description and its router port-mapping state).
//!
//! A thin axum router over a [`ServerView`], which the server implements (so this module does
//! not depend on the server's internals); connections come from the server's listener, one hyper
//! HTTP/1.1 connection per task. Every REST connection counts as unfinished for the port's
//! admission limits for as long as it is open, so the same per-address limits apply here.

use crate::net::PortMappingState;
use crate::proto::ServerInfo;
use crate::transport::{Slot, Stream};
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// REST connections served at once (the port's budget of unfinished connections).
pub(crate) const MAX_CONNECTIONS: usize = 128;
/// Longest wait for a request's headers (also on an idle keep-alive connection).
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the API reads of the running server.
pub(crate) trait ServerView: Send + Sync + 'static {
    /// The public description of the server right now.
    fn server_info(&self) -> ServerInfo;
    /// How long the server has been running.
    fn uptime(&self) -> Duration;
    /// What router port mapping is doing now.
    fn port_mapping(&self) -> PortMappingState;
}

/// The shared view the handlers get.
type View = Arc<dyn ServerView>;

/// The API's routes.
pub fn router(ctx: View) -> Router {
    Router::new().route("/api/health", get(health)).route("/api/server", get(server_info)).with_state(ctx)
}

/// Serves HTTP/1.1 on one accepted stream until the client closes it, it idles longer than
/// [`IDLE_TIMEOUT`] waiting to send a request, the server stops, or its `slot` is taken for a
/// newer connection.
pub(crate) async fn serve_connection(router: Router, stream: Box<dyn Stream>, slot: Slot, cancel: CancellationToken) {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(IDLE_TIMEOUT);
    let connection = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(router));
    tokio::pin!(connection);
    let served = tokio::select! {
        served = connection.as_mut() => served,
        _ = slot.closed_for_room() => Ok(()),
        _ = cancel.cancelled() => {
            connection.as_mut().graceful_shutdown();
            tokio::time::timeout(Duration::from_secs(1), connection).await.unwrap_or(Ok(()))
        }
    };
    if let Err(err) = served {
        tracing::debug!(error = %err, "REST connection ended with an error");
    }
}

async fn health(State(ctx): State<View>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "status": "ok",
        "version": crate::version::current(),
        "uptime_seconds": ctx.uptime().as_secs(),
    }))
}

/// `GET /api/server`: the public description, plus what router port mapping is doing.
#[derive(serde::Serialize)]
struct ServerReport {
    #[serde(flatten)]
    info: ServerInfo,
    port_mapping: PortMappingState,
}

async fn server_info(State(ctx): State<View>) -> Json<ServerReport> {
    Json(ServerReport { info: ctx.server_info(), port_mapping: ctx.port_mapping() })
}
