//! The config file on disk: first-run creation from the commented template, and edits (the
//! tray app's setup, the VPN switch) that keep comments and validate before writing.

use super::{invalid, parse, ConfigError, Loaded};
use std::path::Path;

/// The file written on first run: the reference configuration with comments.
pub const TEMPLATE: &str = include_str!("../../assets/server.toml");

/// Reads `path`, writing the default template there first if it does not exist.
pub fn load_or_create(path: &Path) -> Result<Loaded, ConfigError> {
    let io_err = |source| ConfigError::Io { path: path.display().to_string(), source };
    let created = !path.exists();
    if created {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io_err)?;
        }
        std::fs::write(path, TEMPLATE).map_err(io_err)?;
    }
    let text = std::fs::read_to_string(path).map_err(io_err)?;
    let mut loaded = parse(&text, &path.display().to_string())?;
    loaded.created = created;
    Ok(loaded)
}

/// Writes the configuration chosen in the tray app's first-run setup to `path`: `template`
/// (normally [`TEMPLATE`]), comments and all, with `server.name` and `network.upnp` set, and
/// `auth.allow_registration` off (the tray's server is invite-only).
/// Validates before writing, and writes through a temporary file, so a failure leaves no
/// half-written config.
pub fn write_setup(
    path: &Path,
    template: &str,
    server_name: &str,
    open_router_ports: bool,
) -> Result<Loaded, ConfigError> {
    let mut document: toml_edit::DocumentMut =
        template.parse().map_err(|err: toml_edit::TomlError| invalid("template", err.to_string()))?;
    document["server"]["name"] = toml_edit::value(server_name);
    document["network"]["upnp"] = toml_edit::value(open_router_ports);
    // The tray's server is invite-only: family members join through the dashboard's invites.
    document["auth"]["allow_registration"] = toml_edit::value(false);
    write_document(path, &document)
}

/// Turns the VPN on or off in the config file at `path` (the dashboard's VPN box): sets
/// `[vpn] enabled`, adding the section if it is missing, and keeps everything else in the
/// file as it was (comments, order, other values). Validates before writing and writes
/// through a temporary file, like [`write_setup`]; returns the configuration now in the file.
pub fn write_vpn_enabled(path: &Path, enabled: bool) -> Result<Loaded, ConfigError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: origin.clone(), source })?;
    let mut document: toml_edit::DocumentMut = text
        .parse()
        .map_err(|err: toml_edit::TomlError| ConfigError::Syntax { path: origin, message: err.to_string() })?;
    let vpn = document
        .entry("vpn")
        .or_insert_with(toml_edit::table)
        .as_table_like_mut()
        .ok_or_else(|| invalid("vpn", "must be a section ([vpn])"))?;
    vpn.insert("enabled", toml_edit::value(enabled));
    write_document(path, &document)
}

/// Validates `document` and writes it to `path` through a temporary file, so that a failure
/// leaves no half-written config.
fn write_document(path: &Path, document: &toml_edit::DocumentMut) -> Result<Loaded, ConfigError> {
    let text = document.to_string();
    let loaded = parse(&text, &path.display().to_string())?;
    let io_err = |source| ConfigError::Io { path: path.display().to_string(), source };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io_err)?;
    }
    let partial = path.with_extension("toml.partial");
    std::fs::write(&partial, text).map_err(io_err)?;
    std::fs::rename(&partial, path).map_err(io_err)?;
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, FILE_NAME};

    #[test]
    fn template_is_the_default_config() {
        let loaded = parse(TEMPLATE, "template").expect("template parses");
        assert_eq!(loaded.config, Config::default());
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    }

    #[test]
    fn template_has_every_key() {
        let defaults = toml::Value::try_from(Config::default()).expect("serialises");
        let template: toml::Value = toml::from_str(TEMPLATE).expect("template parses");
        let (Some(defaults), Some(template)) = (defaults.as_table(), template.as_table()) else {
            panic!("both are tables");
        };
        for (section, keys) in defaults {
            let template_keys = template.get(section).and_then(|v| v.as_table());
            let Some(template_keys) = template_keys else { panic!("[{section}] missing") };
            let Some(keys) = keys.as_table() else { panic!("{section} is a table") };
            for key in keys.keys() {
                assert!(template_keys.contains_key(key), "{section}.{key} missing from the template");
            }
        }
    }

    #[test]
    fn the_vpn_switch_adds_its_section_when_missing_and_refuses_a_mangled_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, "# ours\n[server]\nname = \"Smiths\" # shown to the family\n").expect("writes");
        assert!(write_vpn_enabled(&path, true).expect("writes").config.vpn.enabled);
        let text = std::fs::read_to_string(&path).expect("reads");
        assert_eq!(text, "# ours\n[server]\nname = \"Smiths\" # shown to the family\n\n[vpn]\nenabled = true\n");
        assert!(!write_vpn_enabled(&path, false).expect("writes").config.vpn.enabled);

        std::fs::write(&path, "vpn = 1\n").expect("writes");
        let err = write_vpn_enabled(&path, true).expect_err("not a section");
        assert!(err.to_string().starts_with("vpn: "), "{err}");
        assert_eq!(std::fs::read_to_string(&path).expect("reads"), "vpn = 1\n", "left as it was");
    }

    #[test]
    fn a_config_with_windows_line_endings_reads_the_same_and_stays_readable_after_an_edit() {
        let windows_text = TEMPLATE.replace('\n', "\r\n");
        assert!(windows_text.contains("\r\n[server]\r\n"), "the copy has Windows line endings");
        let loaded = parse(&windows_text, "template with CRLF").expect("parses");
        assert_eq!(loaded.config, Config::default());

        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, &windows_text).expect("writes");
        assert!(write_vpn_enabled(&path, true).expect("edits").config.vpn.enabled);
        let edited = std::fs::read_to_string(&path).expect("reads");
        let mut expected = Config::default();
        expected.vpn.enabled = true;
        assert_eq!(parse(&edited, "edited").expect("still parses").config, expected);
        assert!(edited.contains("# where archives go"), "comments are kept");
    }
}
