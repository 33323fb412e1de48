//! The device cookies a client was given, one per server and account, in a private file of
//! `host:port user cookie` lines (kept beside the known-hosts file by `itc`). Presented on the
//! next login, a cookie makes the server count only this device's own failed logins against
//! it, so strangers guessing the password elsewhere cannot lock it out (protocol §8 `login`).

use std::path::{Path, PathBuf};

/// The cookie file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("device cookie file {path}: {source}")]
pub struct DeviceCookieError {
    /// The file.
    pub path: String,
    /// Why.
    pub source: std::io::Error,
}

/// A file of device cookies, readable and writable by its owner only (mode 0600 on Unix).
#[derive(Debug, Clone)]
pub struct DeviceCookieJar {
    path: PathBuf,
}

impl DeviceCookieJar {
    /// The file's name beside a known-hosts file.
    pub const FILE_NAME: &'static str = "device_cookies";

    /// Uses the file at `path` (created when the first cookie is kept).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        DeviceCookieJar { path: path.into() }
    }

    /// The jar in the folder of the known-hosts file `known_hosts`.
    pub fn beside(known_hosts: &Path) -> Self {
        let folder = known_hosts.parent().unwrap_or_else(|| Path::new(""));
        DeviceCookieJar::new(folder.join(Self::FILE_NAME))
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, source: std::io::Error) -> DeviceCookieError {
        DeviceCookieError { path: self.path.display().to_string(), source }
    }

    fn entries(&self) -> Result<Vec<(String, String, String)>, DeviceCookieError> {
        let Some(text) = crate::private_file::read_if_present(&self.path).map_err(|e| self.error(e))? else {
            return Ok(Vec::new());
        };
        Ok(text
            .lines()
            .filter_map(|line| {
                let mut fields = line.split_whitespace();
                let entry = (fields.next()?.to_string(), fields.next()?.to_string(), fields.next()?.to_string());
                fields.next().is_none().then_some(entry)
            })
            .collect())
    }

    /// The cookie kept for `user` at the server `authority` (`host:port`).
    pub fn get(&self, authority: &str, user: &str) -> Result<Option<String>, DeviceCookieError> {
        let user = user.to_ascii_lowercase();
        Ok(self.entries()?.into_iter().find(|(a, u, _)| a == authority && *u == user).map(|(_, _, c)| c))
    }

    /// Keeps `cookie` for `user` at `authority`, replacing an older one. Does nothing when it is
    /// already kept, or when a field would not fit on one line.
    pub fn keep(&self, authority: &str, user: &str, cookie: &str) -> Result<(), DeviceCookieError> {
        let user = user.to_ascii_lowercase();
        let fits = |field: &str| !field.is_empty() && !field.contains(char::is_whitespace);
        if ![authority, &user, cookie].into_iter().all(fits) {
            return Ok(());
        }
        let mut entries = self.entries()?;
        if entries.iter().any(|(a, u, c)| a == authority && *u == user && c == cookie) {
            return Ok(());
        }
        entries.retain(|(a, u, _)| !(a == authority && *u == user));
        entries.push((authority.to_string(), user, cookie.to_string()));
        let text: String = entries.iter().map(|(a, u, c)| format!("{a} {u} {c}\n")).collect();
        crate::private_file::write(&self.path, text.as_bytes()).map_err(|err| self.error(err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_one_cookie_per_server_and_account_privately() {
        let dir = tempfile::tempdir().expect("tempdir");
        let jar = DeviceCookieJar::beside(&dir.path().join("itc").join("known_hosts"));
        assert_eq!(jar.path(), dir.path().join("itc").join("device_cookies"));
        assert_eq!(jar.get("home:3784", "ann").expect("reads"), None, "no file yet");
        jar.keep("home:3784", "Ann", "c1").expect("keeps");
        jar.keep("home:3784", "bob", "c2").expect("keeps");
        jar.keep("[::1]:3784", "ann", "c3").expect("keeps");
        jar.keep("home:3784", "ann", "c4").expect("replaces");
        jar.keep("home:3784", "ann", "has space").expect("ignored");
        assert_eq!(jar.get("home:3784", "ANN").expect("reads").as_deref(), Some("c4"));
        assert_eq!(jar.get("home:3784", "bob").expect("reads").as_deref(), Some("c2"));
        assert_eq!(jar.get("[::1]:3784", "ann").expect("reads").as_deref(), Some("c3"));
        assert_eq!(std::fs::read_to_string(jar.path()).expect("reads").lines().count(), 3);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(jar.path()).expect("metadata").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
