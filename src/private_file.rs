//! Small files only their owner may read (mode 0600 on Unix), written whole or not at all and
//! read as "nothing yet" when missing: the server's device cookie key, the client's device
//! cookies and known hosts. Shared by server and client.

use std::io::Write;
use std::path::Path;

/// Replaces `path` with `bytes` through a temporary file beside it (synced, then renamed), so a
/// crash or a full disk leaves the old file or the new one, never half of one. Creates the
/// parent folder if needed.
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    let temporary = path.with_file_name(name);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&temporary).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    match written.and_then(|()| std::fs::rename(&temporary, path)) {
        Ok(()) => Ok(()),
        Err(err) => {
            let _ = std::fs::remove_file(&temporary);
            Err(err)
        }
    }
}

/// The text of `path`; `None` when it does not exist yet.
pub fn read_if_present(path: &Path) -> std::io::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn writes_whole_private_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("deep").join("secret");
        super::write(&path, b"one").expect("writes");
        super::write(&path, b"two").expect("replaces");
        assert_eq!(std::fs::read(&path).expect("reads"), b"two");
        assert_eq!(std::fs::read_dir(path.parent().expect("parent")).expect("lists").count(), 1, "no leftovers");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("metadata").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
