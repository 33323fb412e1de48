//! The version of this build, from one place: the workspace's `version` in `Cargo.toml`.
//!
//! `itc-server --version`, `itc --version`, the handshake, `GET /api/health`, `GET /api/server`,
//! the tray's dashboard and the updater all read [`current`]. Debug builds only: the
//! `ITC_TEST_VERSION` environment variable stands in for it, so that the update tests can run a
//! "newer build" without compiling a second copy of the engine; release builds ignore it.

/// The version compiled in (`CARGO_PKG_VERSION`, the workspace version).
pub(crate) const BUILT: &str = env!("CARGO_PKG_VERSION");

/// The version this program reports.
pub fn current() -> &'static str {
    #[cfg(debug_assertions)]
    {
        static OVERRIDE: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
        if let Some(version) = OVERRIDE.get_or_init(|| std::env::var("ITC_TEST_VERSION").ok()) {
            return version;
        }
    }
    BUILT
}
