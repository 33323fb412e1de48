//! Device cookies, as OWASP describes them for slowing password guessing: after a successful
//! login the server hands the client a value that only the server can make, bound to the
//! account; a later login that presents it is checked against that cookie's own failures only
//! ([`super::throttle`]), so strangers guessing from elsewhere never hold the device back.
//!
//! A cookie is `NONCE.MAC`: 16 random bytes and HMAC-SHA256 over a label, the account name
//! (lower-cased) and the nonce, both base64url. The HMAC key is 32 random bytes in the data
//! directory ([`KEY_FILE`], private to the server's user), made on first start; losing it only
//! means devices get new cookies at their next login. A cookie proves nothing about the
//! password: it only decides which limit an attempt is counted against.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::hmac;
use std::path::Path;

/// The key's file in the data directory.
pub(crate) const KEY_FILE: &str = "device-cookie.key";
/// Key length in bytes.
const KEY_BYTES: usize = 32;
/// Nonce length in bytes.
const NONCE_BYTES: usize = 16;
/// Longest cookie looked at (longer ones are not ours).
pub(crate) const MAX_COOKIE_CHARS: usize = 128;
/// Domain separation for the MAC.
const LABEL: &[u8] = b"iptincan device cookie v1\0";

/// The key file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct DeviceKeyError {
    /// The file.
    pub path: String,
    /// Why.
    pub source: std::io::Error,
}

/// Makes and checks device cookies with the server's key.
pub struct DeviceCookies {
    key: hmac::Key,
}

impl std::fmt::Debug for DeviceCookies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceCookies")
    }
}

impl DeviceCookies {
    /// With the key in `path`, made (random, mode 0600) when the file is missing or damaged.
    pub fn load_or_create(path: &Path) -> Result<DeviceCookies, DeviceKeyError> {
        let error = |source| DeviceKeyError { path: path.display().to_string(), source };
        match std::fs::read(path) {
            Ok(bytes) if bytes.len() == KEY_BYTES => return Ok(DeviceCookies::from_secret(&bytes)),
            Ok(_) => tracing::warn!(file = %path.display(), "the device cookie key is damaged; making a new one"),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(error(err)),
        }
        let secret = crate::random::random_bytes::<KEY_BYTES>();
        crate::private_file::write(path, &secret).map_err(error)?;
        Ok(DeviceCookies::from_secret(&secret))
    }

    /// With a given key.
    pub(crate) fn from_secret(secret: &[u8]) -> DeviceCookies {
        DeviceCookies { key: hmac::Key::new(hmac::HMAC_SHA256, secret) }
    }

    /// A new cookie for `account`.
    pub fn issue(&self, account: &str) -> String {
        let nonce = URL_SAFE_NO_PAD.encode(crate::random::random_bytes::<NONCE_BYTES>());
        let tag = hmac::sign(&self.key, &message(account, &nonce));
        format!("{nonce}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// The cookie's id (its nonce) if `cookie` is one this server made for `account`.
    pub fn verify<'a>(&self, account: &str, cookie: &'a str) -> Option<&'a str> {
        if cookie.len() > MAX_COOKIE_CHARS {
            return None;
        }
        let (nonce, tag) = cookie.split_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        hmac::verify(&self.key, &message(account, nonce), &tag).ok()?;
        Some(nonce)
    }
}

fn message(account: &str, nonce: &str) -> Vec<u8> {
    [LABEL, super::throttle::account_key(account).as_bytes(), b"\0", nonce.as_bytes()].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_bound_to_the_account_and_the_key() {
        let cookies = DeviceCookies::from_secret(&[7; KEY_BYTES]);
        let cookie = cookies.issue("Ann");
        let id = cookies.verify("ann", &cookie).expect("valid, whatever the ASCII case");
        assert_eq!(Some(id), cookie.split('.').next());
        assert_ne!(cookie, cookies.issue("ann"), "each cookie is new");
        assert!(cookies.verify("bob", &cookie).is_none(), "another account");
        assert!(DeviceCookies::from_secret(&[8; KEY_BYTES]).verify("ann", &cookie).is_none(), "another key");
        let (nonce, tag) = cookie.split_once('.').expect("two parts");
        assert!(cookies.verify("ann", &format!("{nonce}x.{tag}")).is_none(), "a changed nonce");
        for junk in ["", ".", "abc", "a.b.c", &"x".repeat(500)] {
            assert!(cookies.verify("ann", junk).is_none(), "{junk:?}");
        }
    }

    #[test]
    fn the_key_is_kept_private_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(KEY_FILE);
        let cookie = DeviceCookies::load_or_create(&path).expect("made").issue("ann");
        assert!(DeviceCookies::load_or_create(&path).expect("read").verify("ann", &cookie).is_some());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("metadata").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, b"short").expect("damage");
        let renewed = DeviceCookies::load_or_create(&path).expect("renewed");
        assert!(renewed.verify("ann", &cookie).is_none(), "a new key");
        assert_eq!(std::fs::read(&path).expect("read").len(), KEY_BYTES);
    }
}
