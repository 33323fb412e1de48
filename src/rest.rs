//! The REST API on TCP 3786 (HTTPS when TLS is on): `GET /api/health` and `GET /api/server`.
//!
//! A thin axum router over the engine's shared state; connections come from the server's
//! listener, one hyper HTTP/1.1 connection per task.

use crate::server::{Shared, Stream};
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;

/// REST connections served at once.
pub const MAX_CONNECTIONS: usize = 128;

/// The API's routes.
pub fn router(ctx: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/health", get(health))
        .route("/api/server", get(server_info))
        .with_state(ctx)
}

/// Serves HTTP/1.1 on one accepted stream until the client closes it.
pub async fn serve_connection(router: Router, stream: Box<dyn Stream>) {
    let service = TowerToHyperService::new(router);
    let served = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(err) = served {
        tracing::debug!(error = %err, "REST connection ended with an error");
    }
}

async fn health(State(ctx): State<Arc<Shared>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "status": "ok",
        "version": crate::server::VERSION,
        "uptime_seconds": ctx.started_at.elapsed().as_secs(),
    }))
}

async fn server_info(State(ctx): State<Arc<Shared>>) -> Json<crate::proto::ServerInfo> {
    Json(ctx.server_info())
}
