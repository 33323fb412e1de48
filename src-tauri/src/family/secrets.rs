//! Session tokens in the OS credential store (`keyring`: the Secret Service on Linux, the
//! Credential Manager on Windows), one entry per server and user, never in a plain file.

use super::FamilyError;

/// The credential store's service name for the app's entries.
const SERVICE: &str = "IPTinCan";

fn entry(key: &str) -> Result<keyring::Entry, FamilyError> {
    keyring::Entry::new(SERVICE, key).map_err(FamilyError::Keyring)
}

/// Keeps `token` for the server and user `key`.
pub fn store(key: &str, token: &str) -> Result<(), FamilyError> {
    entry(key)?.set_password(token).map_err(FamilyError::Keyring)
}

/// The token kept for `key`, if any.
pub fn load(key: &str) -> Result<Option<String>, FamilyError> {
    match entry(key)?.get_password() {
        Ok(token) => Ok(Some(token)),
        Err(keyring::Error::NoEntry) => Ok(None),
        Err(err) => Err(FamilyError::Keyring(err)),
    }
}

/// Forgets the token kept for `key` (nothing to do when there is none).
pub fn forget(key: &str) -> Result<(), FamilyError> {
    match entry(key)?.delete_credential() {
        Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
        Err(err) => Err(FamilyError::Keyring(err)),
    }
}
