//! Fetching a page for its preview, safely: the host is resolved once, every address it
//! resolves to must pass [`super::address::check`], and the connection goes to that checked
//! address (no second lookup, so a DNS answer cannot change between check and use). Redirects
//! are followed by hand, each hop checked the same way, at most [`MAX_REDIRECTS`]. Only
//! `http` and `https` on any port; `GET` without cookies or credentials; an HTML answer of at most
//! [`MAX_BODY_BYTES`] is read (a longer one is cut there), in at most [`FETCH_TIMEOUT`] for all
//! hops together.

use super::address::{check, Refused};
use bytes::Bytes;
use hyper::body::Body;
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;

/// Most redirects followed.
pub const MAX_REDIRECTS: usize = 3;
/// Most bytes of a page read.
pub const MAX_BODY_BYTES: usize = 512 * 1024;
/// Longest a whole fetch (every hop) may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a page was not fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Not an `http` or `https` URL with a host.
    #[error("not an http(s) URL")]
    BadUrl,
    /// The host resolves to (or is) an address a preview may not reach.
    #[error("refused: {0}")]
    Refused(#[from] Refused),
    /// The host has no address.
    #[error("the host has no address")]
    NoAddress,
    /// More than [`MAX_REDIRECTS`] redirects.
    #[error("too many redirects")]
    TooManyRedirects,
    /// The answer is not an HTML page.
    #[error("not an HTML page")]
    NotHtml,
    /// The server answered with an error status.
    #[error("status {0}")]
    Status(u16),
    /// It took longer than [`FETCH_TIMEOUT`].
    #[error("timed out")]
    Timeout,
    /// Too many other fetches ran meanwhile (worth trying again later).
    #[error("too many previews at once")]
    Busy,
    /// The network, TLS or HTTP failed.
    #[error("{0}")]
    Network(String),
}

/// A page that was fetched: its final URL and the start of its HTML.
#[derive(Debug)]
pub struct Page {
    /// Where it was found after redirects.
    pub url: Uri,
    /// At most [`MAX_BODY_BYTES`] of it, as text.
    pub html: String,
}

/// Fetches `url`, refusing any hop to an address [`check`] refuses or to one of `own`.
pub async fn fetch(url: &str, own: &[IpAddr], tls: Arc<rustls::ClientConfig>) -> Result<Page, FetchError> {
    let uri: Uri = url.parse().map_err(|_| FetchError::BadUrl)?;
    tokio::time::timeout(FETCH_TIMEOUT, follow(uri, own, tls)).await.map_err(|_| FetchError::Timeout)?
}

async fn follow(mut uri: Uri, own: &[IpAddr], tls: Arc<rustls::ClientConfig>) -> Result<Page, FetchError> {
    for _ in 0..=MAX_REDIRECTS {
        match hop(&uri, own, &tls).await? {
            Hop::Page(html) => return Ok(Page { url: uri, html }),
            Hop::Redirect(location) => uri = resolve(&uri, &location).ok_or(FetchError::BadUrl)?,
        }
    }
    Err(FetchError::TooManyRedirects)
}

/// An absolute `http(s)` URL for `reference` as found on the page at `base` (absolute,
/// scheme-relative `//host/…` or host-relative `/…`; a path relative to the page's directory).
pub fn resolve(base: &Uri, reference: &str) -> Option<Uri> {
    let reference = reference.trim();
    let scheme = base.scheme_str()?;
    let authority = base.authority()?.as_str();
    let has_scheme = reference.find(':').is_some_and(|colon| !reference[..colon].contains(['/', '?', '#']));
    let absolute = if reference.starts_with("http://") || reference.starts_with("https://") {
        reference.to_string()
    } else if has_scheme {
        return None;
    } else if let Some(rest) = reference.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else if reference.starts_with('/') {
        format!("{scheme}://{authority}{reference}")
    } else {
        let path = base.path();
        let dir = &path[..path.rfind('/').map_or(0, |slash| slash + 1)];
        format!("{scheme}://{authority}{}{reference}", if dir.is_empty() { "/" } else { dir })
    };
    let uri: Uri = absolute.parse().ok()?;
    matches!(uri.scheme_str(), Some("http" | "https")).then_some(uri)
}

enum Hop {
    Page(String),
    Redirect(String),
}

/// One request: resolve, check, connect to the checked address, ask, read.
async fn hop(uri: &Uri, own: &[IpAddr], tls: &Arc<rustls::ClientConfig>) -> Result<Hop, FetchError> {
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => return Err(FetchError::BadUrl),
    };
    let host = uri.host().ok_or(FetchError::BadUrl)?;
    let bare_host = host.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let addresses: Vec<SocketAddr> = match bare_host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((bare_host, port))
            .await
            .map_err(|err| FetchError::Network(format!("cannot resolve the host: {err}")))?
            .collect(),
    };
    for address in &addresses {
        check(address.ip(), own)?;
    }
    let address = *addresses.first().ok_or(FetchError::NoAddress)?;
    let tcp = TcpStream::connect(address).await.map_err(|err| FetchError::Network(err.to_string()))?;
    let authority = uri.authority().ok_or(FetchError::BadUrl)?.as_str().to_string();
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    let request = Request::get(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::USER_AGENT, format!("IPTinCan-LinkPreview/{}", crate::version::current()))
        .header(hyper::header::ACCEPT, "text/html,application/xhtml+xml")
        .header(hyper::header::CONNECTION, "close")
        .body(Empty)
        .map_err(|err| FetchError::Network(err.to_string()))?;
    if https {
        let name = rustls::pki_types::ServerName::try_from(bare_host.to_string()).map_err(|_| FetchError::BadUrl)?;
        let stream = tokio_rustls::TlsConnector::from(tls.clone())
            .connect(name, tcp)
            .await
            .map_err(|err| FetchError::Network(format!("TLS: {err}")))?;
        exchange(TokioIo::new(stream), request).await
    } else {
        exchange(TokioIo::new(tcp), request).await
    }
}

/// A request body with nothing in it.
struct Empty;

impl Body for Empty {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        true
    }
}

async fn exchange<T>(io: TokioIo<T>, request: Request<Empty>) -> Result<Hop, FetchError>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let network = |err: hyper::Error| FetchError::Network(err.to_string());
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await.map_err(network)?;
    let driver = tokio::spawn(connection);
    let outcome = async {
        let response = sender.send_request(request).await.map_err(network)?;
        let status = response.status();
        if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
            let location = response
                .headers()
                .get(hyper::header::LOCATION)
                .and_then(|value| value.to_str().ok())
                .ok_or(FetchError::Status(status.as_u16()))?;
            return Ok(Hop::Redirect(location.to_string()));
        }
        if !status.is_success() {
            return Err(FetchError::Status(status.as_u16()));
        }
        let content_type = response
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if !(content_type.starts_with("text/html") || content_type.starts_with("application/xhtml+xml")) {
            return Err(FetchError::NotHtml);
        }
        let mut body = response.into_body();
        let mut html = Vec::new();
        while html.len() < MAX_BODY_BYTES {
            let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
            match frame {
                None => break,
                Some(Err(err)) => return Err(network(err)),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        let room = MAX_BODY_BYTES - html.len();
                        html.extend_from_slice(&data[..data.len().min(room)]);
                    }
                }
            }
        }
        Ok(Hop::Page(String::from_utf8_lossy(&html).into_owned()))
    }
    .await;
    driver.abort();
    outcome
}

#[cfg(test)]
mod tests {
    use super::resolve;
    use hyper::Uri;

    #[test]
    fn references_resolve_against_the_page() {
        let base: Uri = "https://example.com/a/b.html?x=1".parse().expect("uri");
        let cases = [
            ("http://other.org/x", Some("http://other.org/x")),
            ("//cdn.example.com/i.png", Some("https://cdn.example.com/i.png")),
            ("/top.png", Some("https://example.com/top.png")),
            ("pic.png", Some("https://example.com/a/pic.png")),
            ("ftp://example.com/x", None),
            ("javascript:alert(1)", None),
        ];
        for (reference, expected) in cases {
            assert_eq!(resolve(&base, reference).map(|u| u.to_string()).as_deref(), expected, "{reference}");
        }
    }
}
