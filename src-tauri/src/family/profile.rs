//! What this app is for and which family servers it remembers: a small text file in the app's
//! data directory (`family.txt`). It holds no secret: each server's session token lives in the
//! OS credential store ([`super::secrets`]).
//!
//! Format: the first line is the mode (`host` or `member`); each further line is a remembered
//! server, `name<TAB>connection code<TAB>user name`, the last one used first.

use super::FamilyError;
use serde::Serialize;
use std::path::PathBuf;

/// The file's name in the app's data directory.
const FILE: &str = "family.txt";
/// Most servers remembered; the least recently used goes first.
const MAX_SERVERS: usize = 16;

/// What the first start chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// "Host a family server on this PC": the server runs here, and its owner chats too.
    Host,
    /// "Join a family server": no server runs here.
    Member,
}

/// A family server this app has signed in to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Server {
    /// Its name, as its invite or welcome gave it.
    pub name: String,
    /// Its connection code (address and pinned certificate).
    pub code: String,
    /// Who signed in there.
    pub username: String,
}

impl Server {
    /// The credential store's key for this server's session token.
    pub fn key(&self) -> String {
        format!("{}@{}", self.username, self.code)
    }
}

/// The file's contents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Profile {
    /// None until the first start's question is answered.
    pub mode: Option<Mode>,
    /// Remembered servers, the last one used first.
    pub servers: Vec<Server>,
}

impl Profile {
    fn path(dir: &std::path::Path) -> PathBuf {
        dir.join(FILE)
    }

    /// Reads the profile in `dir` (empty when there is none yet).
    pub fn load(dir: &std::path::Path) -> Result<Profile, FamilyError> {
        let text = match std::fs::read_to_string(Self::path(dir)) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Profile::default()),
            Err(err) => return Err(FamilyError::Profile(err)),
        };
        Ok(Self::parse(&text))
    }

    fn parse(text: &str) -> Profile {
        let mut lines = text.lines();
        let mode = match lines.next().map(str::trim) {
            Some("host") => Some(Mode::Host),
            Some("member") => Some(Mode::Member),
            _ => None,
        };
        let servers = lines
            .filter_map(|line| {
                let mut fields = line.split('\t');
                let (name, code, username) = (fields.next()?, fields.next()?, fields.next()?);
                Some(Server { name: name.into(), code: code.into(), username: username.into() })
            })
            .collect();
        Profile { mode, servers }
    }

    fn render(&self) -> String {
        let mode = match self.mode {
            Some(Mode::Host) => "host",
            Some(Mode::Member) => "member",
            None => "",
        };
        let clean = |text: &str| text.replace(['\t', '\n', '\r'], " ");
        let mut text = format!("{mode}\n");
        for server in &self.servers {
            text.push_str(&format!("{}\t{}\t{}\n", clean(&server.name), clean(&server.code), clean(&server.username)));
        }
        text
    }

    /// Writes the profile to `dir`.
    pub fn save(&self, dir: &std::path::Path) -> Result<(), FamilyError> {
        std::fs::create_dir_all(dir).map_err(FamilyError::Profile)?;
        std::fs::write(Self::path(dir), self.render()).map_err(FamilyError::Profile)
    }

    /// Puts `server` first (replacing an older entry for the same server and user); returns the
    /// entries that fell off the end, whose tokens the caller forgets.
    pub fn remember(&mut self, server: Server) -> Vec<Server> {
        self.servers.retain(|known| known.key() != server.key());
        self.servers.insert(0, server);
        self.servers.split_off(self.servers.len().min(MAX_SERVERS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_keeps_the_last_used_first() {
        let dir = std::env::temp_dir().join(format!("itc-profile-test-{}", std::process::id()));
        assert_eq!(Profile::load(&dir).expect("reads"), Profile::default());
        let mut profile = Profile { mode: Some(Mode::Member), servers: Vec::new() };
        let server =
            |name: &str, user: &str| Server { name: name.into(), code: format!("ITC-{name}"), username: user.into() };
        assert!(profile.remember(server("Smiths", "anna")).is_empty());
        profile.remember(server("Jones\tFamily", "anna"));
        profile.remember(server("Smiths", "anna"));
        profile.save(&dir).expect("writes");
        let read = Profile::load(&dir).expect("reads");
        std::fs::remove_dir_all(&dir).expect("cleans up");
        assert_eq!(read.mode, Some(Mode::Member));
        let names: Vec<_> = read.servers.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["Smiths", "Jones Family"]);
        for n in 0..MAX_SERVERS {
            profile.remember(server(&format!("s{n}"), "anna"));
        }
        assert_eq!(profile.servers.len(), MAX_SERVERS);
    }
}
