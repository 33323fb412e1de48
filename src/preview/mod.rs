//! Link previews: the server fetches the first link of a message for its title, description
//! and image, so the other members' apps never contact the site (their addresses stay private).
//!
//! `address` decides (pure, table-tested) which addresses may be reached; `fetch` resolves once,
//! checks every address, connects to the checked one, re-checks each redirect hop and caps
//! size, time and content type; `html` reads the page's `og:` tags or `<title>`. [`Previews`]
//! ties them together with the server's own addresses, the TLS roots and a bound on fetches
//! running at once. Caching and events are the server's (`server::link_previews`).

mod address;
mod fetch;
mod html;

pub use fetch::FetchError;

use crate::proto::LinkPreview;
use std::net::IpAddr;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Longest link looked at, in bytes.
pub const MAX_URL_LEN: usize = 2048;
/// Most fetches running at once; others wait (at most [`fetch::FETCH_TIMEOUT`]) for a turn.
const MAX_CONCURRENT_FETCHES: usize = 4;

/// The link preview service of one server: cheap to clone.
#[derive(Clone)]
pub struct Previews {
    tls: Arc<rustls::ClientConfig>,
    own: Arc<Vec<IpAddr>>,
    running: Arc<Semaphore>,
}

impl std::fmt::Debug for Previews {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Previews").field("own", &self.own).finish()
    }
}

impl Previews {
    /// A service that also refuses `own` (the addresses the server listens on), besides the
    /// addresses of this machine's interfaces (read at each fetch).
    pub fn new(own: Vec<IpAddr>) -> Result<Previews, rustls::Error> {
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        let tls = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Previews {
            tls: Arc::new(tls),
            own: Arc::new(own),
            running: Arc::new(Semaphore::new(MAX_CONCURRENT_FETCHES)),
        })
    }

    /// Fetches `url` and reads its preview; `Ok(None)` when the page says nothing usable.
    pub async fn preview(&self, url: &str) -> Result<Option<LinkPreview>, FetchError> {
        let turn = tokio::time::timeout(fetch::FETCH_TIMEOUT, self.running.acquire()).await;
        let Ok(Ok(_turn)) = turn else {
            return Err(FetchError::Busy);
        };
        let mut own: Vec<IpAddr> = self.own.to_vec();
        own.extend(if_addrs::get_if_addrs().unwrap_or_default().into_iter().map(|interface| interface.ip()));
        let page = fetch::fetch(url, &own, self.tls.clone()).await?;
        let info = html::page_info(&page.html);
        let image = info.image.and_then(|image| fetch::resolve(&page.url, &image)).map(|uri| uri.to_string());
        let found = info.title.is_some() || info.description.is_some() || image.is_some();
        Ok(found.then(|| LinkPreview { url: url.to_string(), title: info.title, description: info.description, image }))
    }
}

/// The first `http://` or `https://` link in a message, without the punctuation that ends a
/// sentence after it.
pub fn first_url(body: &str) -> Option<&str> {
    let start = ["http://", "https://"].iter().filter_map(|scheme| body.find(scheme)).min()?;
    let rest = &body[start..];
    let end = rest.find(|c: char| c.is_whitespace() || "<>\"'`".contains(c)).unwrap_or(rest.len());
    let mut url = &rest[..end];
    loop {
        let trimmed = url.trim_end_matches(['.', ',', ';', ':', '!', '?']);
        let trimmed = match trimmed.strip_suffix(')') {
            Some(inner) if inner.matches('(').count() < inner.matches(')').count() + 1 => inner,
            _ => trimmed,
        };
        if trimmed == url {
            break;
        }
        url = trimmed;
    }
    let host_part = url.split("://").nth(1).unwrap_or("");
    (!host_part.is_empty() && url.len() <= MAX_URL_LEN).then_some(url)
}

#[cfg(test)]
mod tests {
    use super::first_url;

    #[test]
    fn the_first_link_is_found_without_trailing_punctuation() {
        let cases = [
            ("see https://example.com/a?b=1.", Some("https://example.com/a?b=1")),
            ("(http://example.com/x) and https://later.org", Some("http://example.com/x")),
            (
                "wiki: https://en.wikipedia.org/wiki/Rust_(language)!",
                Some("https://en.wikipedia.org/wiki/Rust_(language)"),
            ),
            ("<https://example.com>", Some("https://example.com")),
            ("no link here, ftp://x.org", None),
            ("just http://", None),
        ];
        for (body, expected) in cases {
            assert_eq!(first_url(body), expected, "{body}");
        }
    }
}
