//! First-run setup: the form, its checks, and writing the configuration before the first start.

use super::{Appliance, ApplianceError, Status};
use crate::config;
use serde::Deserialize;

/// Longest server name, in characters (it travels in connection codes).
pub const MAX_SERVER_NAME_CHARS: usize = 64;

/// The first-run setup form.
#[derive(Debug, Clone, Deserialize)]
pub struct SetupChoices {
    /// What family members will see.
    pub server_name: String,
    /// The admin's own password (replaces the default one).
    pub admin_password: String,
    /// Open the router's ports with UPnP / NAT-PMP.
    pub open_router_ports: bool,
}

impl Appliance {
    /// First-run setup: writes the configuration, starts the server (which makes the
    /// certificate and the admin account) and gives the admin the chosen password.
    pub async fn setup(&self, choices: SetupChoices) -> Result<Status, ApplianceError> {
        if !self.needs_setup() {
            return Err(ApplianceError::AlreadySetUp);
        }
        let name = choices.server_name.trim();
        if name.is_empty() || name.chars().count() > MAX_SERVER_NAME_CHARS || name.chars().any(char::is_control) {
            return Err(ApplianceError::BadChoice(format!(
                "the server name is 1 to {MAX_SERVER_NAME_CHARS} printable characters"
            )));
        }
        crate::server::context::check_new_password(&choices.admin_password)?;
        let loaded =
            config::write_setup(&self.data_dir.config_file(), &self.template, name, choices.open_router_ports)?;
        let admin = loaded.config.auth.default_user.clone();
        self.start().await?;
        let guard = self.running.lock().await;
        let running = guard.as_ref().ok_or(ApplianceError::NotRunning)?;
        running.reset_password(&admin, choices.admin_password).await?;
        drop(guard);
        tracing::info!("first-run setup done");
        Ok(self.status())
    }
}
