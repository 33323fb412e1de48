//! The REST API on TCP 3786 (HTTPS when TLS is on): `GET /api/health`, `GET /api/server` and
//! `GET /api/openapi.json` for anyone, and with `Authorization: Bearer <access token>` what
//! scripts and bots need (stats, users, channels and categories, messages, invites, tokens,
//! VPN peers, permissions, moderation, bans, the audit log, keyword filters and approvals; see
//! [`routes`]).
//!
//! A thin axum router over a [`ServerView`], which the server implements (so this module does
//! not depend on the server's internals): every token-authenticated endpoint turns into one
//! control-protocol [`Request`] that the server runs through the same handlers, permission
//! checks and scopes as a control connection's ([`ServerView::call`]). Failures have one JSON
//! shape ([`error`]); each token (and each wrong one) is rate-limited; JSON bodies are capped at
//! [`MAX_BODY_BYTES`]. Files go up and down as raw bodies, streamed ([`files`]). The OpenAPI 3.1 document is generated from the handlers ([`openapi`]).
//!
//! Connections come from the server's listener, one hyper HTTP/1.1 connection per task. Every
//! REST connection counts as unfinished for the port's admission limits for as long as it is
//! open, so the same per-address limits apply here.

mod error;
mod files;
mod routes;

use crate::net::PortMappingState;
use crate::proto::{FileInfo, Reply, Request, ServerInfo, UploadSpec};
use crate::ratelimit::RateLimiter;
use crate::transport::{Slot, Stream};
use axum::extract::DefaultBodyLimit;
use axum::Router;
pub(crate) use error::ApiError;
pub(crate) use files::{Download, UploadBody};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// REST connections served at once (the port's budget of unfinished connections).
pub(crate) const MAX_CONNECTIONS: usize = 128;
/// Longest wait for a request's headers (also on an idle keep-alive connection).
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest request body accepted; a larger one gets `413 payload_too_large`.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;
/// Requests one token (or one wrong token) may make at once …
pub(crate) const TOKEN_BURST: u32 = 100;
/// … and then one per this interval (50 a second).
pub(crate) const TOKEN_REFILL: Duration = Duration::from_millis(20);

/// A future the server hands back to a handler.
pub(crate) type ServerFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the API reads of the running server, and how it runs requests there.
pub(crate) trait ServerView: Send + Sync + 'static {
    /// The public description of the server right now.
    fn server_info(&self) -> ServerInfo;
    /// How long the server has been running.
    fn uptime(&self) -> Duration;
    /// What router port mapping is doing now.
    fn port_mapping(&self) -> PortMappingState;
    /// Runs `request` as the holder of the access token `secret`, through the handlers a
    /// control connection's requests go through; refused when the token is unknown, revoked
    /// or expired, or lacks the scope the request needs.
    fn call<'a>(&'a self, secret: &'a str, request: Request) -> ServerFuture<'a, Result<Reply, ApiError>>;
    /// Stores the file `body` carries (its size from the body when `spec.size` is 0) as the
    /// holder of `secret`, with the checks and limits of `upload_begin`, writing it as it comes.
    fn upload<'a>(
        &'a self,
        secret: &'a str,
        spec: UploadSpec,
        body: UploadBody,
    ) -> ServerFuture<'a, Result<FileInfo, ApiError>>;
    /// Opens a file (or its thumbnail) the holder of `secret` may read, to stream it.
    fn download<'a>(
        &'a self,
        secret: &'a str,
        file_id: i64,
        thumbnail: bool,
    ) -> ServerFuture<'a, Result<Download, ApiError>>;
}

/// What the handlers share.
#[derive(Clone)]
struct ApiState {
    view: Arc<dyn ServerView>,
    limits: Arc<Mutex<RateLimiter>>,
    openapi: Arc<str>,
}

/// The API's routes, on `view`.
pub(crate) fn router(view: Arc<dyn ServerView>) -> Router {
    let (router, openapi) = routes::api().split_for_parts();
    let openapi = openapi::finish(openapi).to_pretty_json().unwrap_or_default() + "\n";
    let state = ApiState {
        view,
        limits: Arc::new(Mutex::new(RateLimiter::new(TOKEN_BURST, TOKEN_REFILL))),
        openapi: openapi.into(),
    };
    router
        .route("/api/openapi.json", axum::routing::get(routes::openapi_json))
        .fallback(error::no_route)
        .method_not_allowed_fallback(error::wrong_method)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
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

/// The OpenAPI document: generated from the handlers' annotations, with the bearer scheme and
/// the error responses every authenticated endpoint may give.
pub(crate) mod openapi {
    use utoipa::openapi::path::Operation;
    use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
    use utoipa::openapi::{ContentBuilder, OpenApi, Ref, ResponseBuilder};

    /// The name of the bearer-token security scheme in the document.
    pub(crate) const BEARER: &str = "bearer";

    /// The statuses every authenticated endpoint may answer besides its own, and when.
    const ERRORS: [(&str, &str); 10] = [
        ("400", "A path, query or body argument is malformed or out of range"),
        ("401", "No access token, or it is unknown, revoked or expired"),
        ("403", "The token lacks the scope, or its admin the role, for this"),
        ("404", "The thing named does not exist"),
        ("409", "It conflicts with what exists (a name taken, a limit reached)"),
        ("413", "The body is larger than 64 KiB"),
        ("415", "The body is not `application/json`"),
        ("429", "Too many requests with this token; wait a moment"),
        ("500", "The server failed; nothing was changed"),
        ("507", "The server's disk is full; nothing was saved"),
    ];

    /// The whole document, as served and committed.
    #[cfg(test)]
    pub(crate) fn document() -> OpenApi {
        finish(super::routes::api().split_for_parts().1)
    }

    /// Adds the bearer scheme and the error responses to `openapi`.
    pub(super) fn finish(mut openapi: OpenApi) -> OpenApi {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(BEARER, SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        for item in openapi.paths.paths.values_mut() {
            let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
            for operation in operations.into_iter().flatten() {
                add_errors(operation);
            }
        }
        openapi
    }

    fn add_errors(operation: &mut Operation) {
        if operation.security.as_ref().is_none_or(Vec::is_empty) {
            return;
        }
        for (status, description) in ERRORS {
            let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
            let response = ResponseBuilder::new().description(description).content("application/json", content).build();
            operation.responses.responses.entry(status.to_string()).or_insert(response.into());
        }
    }
}

#[cfg(test)]
mod tests {
    /// The committed `docs/openapi.json` is what the handlers generate, so that every change of
    /// the API shows in review.
    #[test]
    fn openapi_document_is_committed() {
        let generated = super::openapi::document().to_pretty_json().expect("serialises") + "\n";
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.json");
        if std::env::var_os("ITC_WRITE_OPENAPI").is_some() {
            std::fs::write(&path, &generated).expect("writes docs/openapi.json");
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/openapi.json is not what the handlers generate; review the difference, then regenerate it with \
             `ITC_WRITE_OPENAPI=1 cargo test --lib openapi_document_is_committed`"
        );
    }
}
