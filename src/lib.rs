//! IPTinCan engine: a private voice, video and text chat server for a family PC.
//!
//! The headless `itc-server`, the `itc` CLI and the tray app are thin shells over this library.
//! `docs/architecture.md` has the code map and the invariants between these modules.

pub mod appliance;
pub mod backup;
pub mod client;
pub mod clock;
pub mod code;
pub mod config;
pub mod e2e;
pub(crate) mod ids;
pub(crate) mod lock;
pub mod media;
pub mod net;
pub(crate) mod preview;
pub(crate) mod private_file;
pub mod proto;
pub mod random;
pub(crate) mod ratelimit;
pub(crate) mod rest;
pub mod server;
pub mod store;
pub mod subnet;
pub mod tls;
pub(crate) mod transport;
pub mod update;
pub mod version;
pub mod vpn;
