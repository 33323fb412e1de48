//! The archive format: a tar file whose first entry is `manifest.json` (format name and
//! version, app version, creation time, server identity, and each file's path, size and
//! SHA-256), followed by exactly the files the manifest lists.
//!
//! Reading checks everything before a caller may trust a byte: the manifest must come first
//! and be ours, every path must be one this format allows (no `..`, no absolute path, no
//! link, nothing outside the fixed names and `uploads/`), every file must appear once with its
//! size and checksum, and none may be missing. This module knows nothing of data directories.

use super::{BackupError, Progress, Step};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Write};
use std::path::PathBuf;

/// The manifest's name: always the archive's first entry.
pub(crate) const MANIFEST: &str = "manifest.json";
/// `format` in every manifest.
pub(crate) const FORMAT: &str = "iptincan-backup";
/// The manifest format version this code writes and reads.
pub(crate) const FORMAT_VERSION: u32 = 1;
/// The configuration file's entry.
pub(crate) const CONFIG: &str = "server.toml";
/// The database snapshot's entry.
pub(crate) const DATABASE: &str = "itc-server.db";
/// The TLS certificate's entry.
pub(crate) const CERT: &str = "server-cert.pem";
/// The TLS private key's entry.
pub const KEY: &str = "server-key.pem";
/// The folder of uploaded files.
pub(crate) const UPLOADS: &str = "uploads";
/// Largest manifest accepted (room for about 100,000 uploads).
const MAX_MANIFEST_BYTES: u64 = 32 * 1024 * 1024;

/// What an archive holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`FORMAT_VERSION`] when written by this version.
    pub format_version: u32,
    /// The IPTinCan version that wrote it.
    pub app_version: String,
    /// When the snapshot was taken, RFC 3339 in UTC.
    pub created: String,
    /// Which server it is of.
    pub server: ServerIdentity,
    /// Every file after the manifest, in archive order.
    pub files: Vec<FileEntry>,
}

/// The server an archive belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerIdentity {
    /// `server.name` at the time.
    pub name: String,
    /// SHA-256 of the TLS certificate (lower-case hex), the fingerprint connection codes carry;
    /// none when TLS was off.
    pub fingerprint: Option<String>,
}

/// One file in the archive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Its path in the archive (see [`check_path`]).
    pub path: String,
    /// Its length in bytes.
    pub size: u64,
    /// SHA-256 of its bytes, lower-case hex.
    pub sha256: String,
}

/// Whether `path` is one an archive may hold: one of the fixed names, or a file under
/// `uploads/`, with `/` separators, and no empty, `.` or `..` component, no absolute path, no
/// drive letter or backslash.
pub(crate) fn check_path(path: &str) -> Result<(), BackupError> {
    let unsafe_path = || BackupError::UnsafePath(path.to_string());
    if path.is_empty() || path.len() > 4096 || path.contains(['\\', ':', '\0']) || path.starts_with('/') {
        return Err(unsafe_path());
    }
    let components: Vec<&str> = path.split('/').collect();
    if components.iter().any(|c| c.is_empty() || *c == "." || *c == "..") {
        return Err(unsafe_path());
    }
    match components.as_slice() {
        [single] if [CONFIG, DATABASE, CERT, KEY].contains(single) => Ok(()),
        [first, _, ..] if *first == UPLOADS => Ok(()),
        _ => Err(unsafe_path()),
    }
}

/// SHA-256 of everything read through it.
pub(crate) struct HashingReader<R> {
    inner: R,
    digest: ring::digest::Context,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    /// Hashes what `inner` yields.
    pub fn new(inner: R) -> Self {
        HashingReader { inner, digest: ring::digest::Context::new(&ring::digest::SHA256), count: 0 }
    }

    /// Bytes read and their SHA-256 (lower-case hex).
    pub fn finish(self) -> (u64, String) {
        (self.count, hex(self.digest.finish().as_ref()))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.digest.update(&buf[..read]);
        self.count += read as u64;
        Ok(read)
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The size and SHA-256 of everything `reader` yields.
pub fn measure(reader: impl Read) -> io::Result<(u64, String)> {
    let mut hashing = HashingReader::new(reader);
    io::copy(&mut hashing, &mut io::sink())?;
    Ok(hashing.finish())
}

/// Where a file's bytes come from when writing.
pub enum Source {
    /// Held in memory (config, certificate, key).
    Bytes(Vec<u8>),
    /// Read from disk while writing (database snapshot, uploads).
    File(PathBuf),
}

/// Writes `manifest` and then each file (in manifest order, `sources` alongside) to `out` as
/// a tar archive. A file on disk whose size or checksum no longer matches its manifest entry
/// (it changed while the backup ran) is an error.
pub fn write<W: Write>(
    out: W,
    manifest: &Manifest,
    sources: &[Source],
    progress: &mut dyn FnMut(Progress),
) -> Result<W, BackupError> {
    let write_err = |source| BackupError::io("the archive", source);
    let mtime = manifest.created.parse::<jiff::Timestamp>().map(|t| t.as_second()).unwrap_or(0);
    let mtime = u64::try_from(mtime).unwrap_or(0);
    let mut builder = tar::Builder::new(out);
    let manifest_json = serde_json::to_vec_pretty(manifest).map_err(|e| write_err(io::Error::other(e)))?;
    builder
        .append_data(&mut header(manifest_json.len() as u64, mtime), MANIFEST, manifest_json.as_slice())
        .map_err(write_err)?;
    let total: u64 = manifest.files.iter().map(|f| f.size).sum();
    let mut done = 0;
    for (entry, source) in manifest.files.iter().zip(sources) {
        let mut header = header(entry.size, mtime);
        let (size, sha256) = match source {
            Source::Bytes(bytes) => {
                builder.append_data(&mut header, &entry.path, bytes.as_slice()).map_err(write_err)?;
                (entry.size, entry.sha256.clone())
            }
            Source::File(path) => {
                let file = std::fs::File::open(path).map_err(|e| BackupError::io(path.display(), e))?;
                let mut hashing = HashingReader::new(io::Read::take(file, entry.size));
                builder.append_data(&mut header, &entry.path, &mut hashing).map_err(write_err)?;
                hashing.finish()
            }
        };
        if size != entry.size || sha256 != entry.sha256 {
            return Err(BackupError::Changed(entry.path.clone()));
        }
        done += entry.size;
        progress(Progress { step: Step::Write, done, total });
    }
    builder.into_inner().map_err(write_err)
}

fn header(size: u64, mtime: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(size);
    header.set_mode(0o600);
    header.set_mtime(mtime);
    header
}

/// Reads an archive from `input`: checks the manifest, then hands each file to `on_file` with
/// a reader of exactly its bytes, and checks its size and checksum once `on_file` returns.
/// `step` names the work in progress reports. Returns the manifest once every file checked out.
pub fn read(
    input: impl Read,
    step: Step,
    on_file: &mut dyn FnMut(&FileEntry, &mut dyn Read) -> Result<(), BackupError>,
    progress: &mut dyn FnMut(Progress),
) -> Result<Manifest, BackupError> {
    let mut archive = tar::Archive::new(input);
    let not_ours = |reason: &str| BackupError::NotABackup(reason.to_string());
    let mut entries = archive.entries().map_err(|_| not_ours("not a tar archive"))?;
    let first = entries.next().ok_or_else(|| not_ours("the archive is empty"))?;
    let first = first.map_err(|_| not_ours("not a tar archive"))?;
    if first.path_bytes().as_ref() != MANIFEST.as_bytes() {
        return Err(not_ours("it does not start with manifest.json"));
    }
    let manifest = parse_manifest(first)?;
    let listed: BTreeMap<&str, &FileEntry> = manifest.files.iter().map(|f| (f.path.as_str(), f)).collect();
    let total: u64 = manifest.files.iter().map(|f| f.size).sum();
    let mut seen = BTreeSet::new();
    let mut done = 0;
    for entry in entries {
        let entry = entry.map_err(damaged)?;
        let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        check_path(&path)?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(BackupError::UnsafePath(path));
        }
        let file =
            *listed.get(path.as_str()).ok_or_else(|| BackupError::Damaged(format!("{path} is not in the manifest")))?;
        if !seen.insert(path.clone()) {
            return Err(BackupError::Damaged(format!("{path} appears twice")));
        }
        if entry.header().size().map_err(damaged)? != file.size {
            return Err(BackupError::Damaged(format!("{path} does not have the size its manifest says")));
        }
        let mut hashing = HashingReader::new(entry);
        on_file(file, &mut hashing)?;
        io::copy(&mut hashing, &mut io::sink()).map_err(damaged)?;
        let (size, sha256) = hashing.finish();
        if size != file.size || sha256 != file.sha256 {
            return Err(BackupError::Damaged(format!("{path} does not match its checksum")));
        }
        done += size;
        progress(Progress { step, done, total });
    }
    if let Some(missing) = manifest.files.iter().find(|f| !seen.contains(&f.path)) {
        return Err(BackupError::Damaged(format!("{} is missing (the archive may be cut short)", missing.path)));
    }
    Ok(manifest)
}

/// A failure while reading the archive's bytes: an operating-system error is an I/O error,
/// anything else (bad tar header, early end) means the archive is damaged.
fn damaged(err: io::Error) -> BackupError {
    if err.raw_os_error().is_some() {
        BackupError::io("the archive", err)
    } else {
        BackupError::Damaged(format!("it is not a readable archive ({err})"))
    }
}

fn parse_manifest(entry: impl Read) -> Result<Manifest, BackupError> {
    let mut text = Vec::new();
    entry.take(MAX_MANIFEST_BYTES + 1).read_to_end(&mut text).map_err(damaged)?;
    if text.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(BackupError::NotABackup("manifest.json is too large".into()));
    }
    let value: serde_json::Value =
        serde_json::from_slice(&text).map_err(|_| BackupError::NotABackup("manifest.json is not JSON".into()))?;
    if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(BackupError::NotABackup("manifest.json is not an IPTinCan manifest".into()));
    }
    let version = value.get("format_version").and_then(|v| v.as_u64()).unwrap_or(0);
    if version > u64::from(FORMAT_VERSION) {
        let app = value.get("app_version").and_then(|v| v.as_str()).unwrap_or("unknown");
        return Err(BackupError::NewerFormat { what: format!("format {version}, written by IPTinCan {app}") });
    }
    let manifest: Manifest =
        serde_json::from_value(value).map_err(|e| BackupError::NotABackup(format!("manifest.json: {e}")))?;
    let mut paths = BTreeSet::new();
    for file in &manifest.files {
        check_path(&file.path)?;
        if !paths.insert(file.path.as_str()) {
            return Err(BackupError::Damaged(format!("{} is listed twice in the manifest", file.path)));
        }
    }
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(files: Vec<FileEntry>) -> Manifest {
        Manifest {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            app_version: "0.1.0".into(),
            created: "2026-01-02T03:04:05Z".into(),
            server: ServerIdentity { name: "Smiths".into(), fingerprint: None },
            files,
        }
    }

    fn entry(path: &str, data: &[u8]) -> FileEntry {
        let (size, sha256) = measure(data).expect("hashes");
        FileEntry { path: path.into(), size, sha256 }
    }

    fn archive(manifest: &Manifest, data: &[&[u8]]) -> Vec<u8> {
        let sources: Vec<Source> = data.iter().map(|d| Source::Bytes(d.to_vec())).collect();
        write(Vec::new(), manifest, &sources, &mut |_| {}).expect("writes")
    }

    /// Each file's archive path and bytes.
    type Contents = Vec<(String, Vec<u8>)>;

    fn read_all(bytes: &[u8]) -> Result<(Manifest, Contents), BackupError> {
        let mut files = Vec::new();
        let manifest = read(
            bytes,
            Step::Verify,
            &mut |file, data| {
                let mut bytes = Vec::new();
                data.read_to_end(&mut bytes).map_err(|e| BackupError::io("test", e))?;
                files.push((file.path.clone(), bytes));
                Ok(())
            },
            &mut |_| {},
        )?;
        Ok((manifest, files))
    }

    #[test]
    fn paths_stay_inside() {
        for good in
            ["server.toml", "itc-server.db", "server-cert.pem", "server-key.pem", "uploads/ab/cdef", "uploads/x"]
        {
            check_path(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        for bad in [
            "",
            "/etc/passwd",
            "../server.toml",
            "uploads/../server.toml",
            "uploads/./x",
            "uploads//x",
            "uploads",
            "uploads/",
            "C:/x",
            "uploads\\..\\x",
            "other.txt",
            "itc-server.lock",
        ] {
            assert!(matches!(check_path(bad), Err(BackupError::UnsafePath(_))), "{bad:?} accepted");
        }
    }

    #[test]
    fn round_trip_and_manifest_first() {
        let files = [entry(CONFIG, b"[server]\n"), entry("uploads/ab/c", b"picture")];
        let written = manifest(files.to_vec());
        let bytes = archive(&written, &[b"[server]\n", b"picture"]);
        let (read_back, contents) = read_all(&bytes).expect("reads");
        assert_eq!(read_back, written);
        assert_eq!(
            contents,
            vec![(CONFIG.to_string(), b"[server]\n".to_vec()), ("uploads/ab/c".into(), b"picture".to_vec())]
        );
        let mut tar = tar::Archive::new(bytes.as_slice());
        let first = tar.entries().expect("tar").next().expect("one").expect("ok");
        assert_eq!(first.path_bytes().as_ref(), MANIFEST.as_bytes());
    }

    #[test]
    fn refusals_say_why() {
        let written = manifest(vec![entry(CONFIG, b"[server]\n")]);
        let good = archive(&written, &[b"[server]\n"]);
        let flipped = {
            let mut bytes = good.clone();
            let at = bytes.windows(9).rposition(|w| w == b"[server]\n").expect("data");
            bytes[at + 1] = b'S';
            bytes
        };
        assert_eq!(
            read_all(&flipped).expect_err("refused").to_string(),
            "backup is damaged: server.toml does not match its checksum"
        );
        let cut = &good[..1024];
        assert!(read_all(cut).expect_err("refused").to_string().starts_with("backup is damaged:"));

        let mut newer = written.clone();
        newer.format_version = FORMAT_VERSION + 1;
        assert!(matches!(read_all(&archive(&newer, &[b"[server]\n"])), Err(BackupError::NewerFormat { .. })));
        let mut foreign = written.clone();
        foreign.format = "something-else".into();
        assert!(matches!(read_all(&archive(&foreign, &[b"[server]\n"])), Err(BackupError::NotABackup(_))));
        let mut escaping = written.clone();
        escaping.files[0].path = "../server.toml".into();
        let listed = raw_archive(&escaping, "server.toml", tar::EntryType::Regular, b"[server]\n");
        assert!(matches!(read_all(&listed), Err(BackupError::UnsafePath(p)) if p == "../server.toml"));
        let unlisted = raw_archive(&written, "uploads/../../x", tar::EntryType::Regular, b"[server]\n");
        assert!(matches!(read_all(&unlisted), Err(BackupError::UnsafePath(p)) if p == "uploads/../../x"));
        assert!(matches!(read_all(b"just some text"), Err(BackupError::NotABackup(_))));

        // A plain tar without a manifest, and one with a symlink the manifest does not list.
        let mut plain = tar::Builder::new(Vec::new());
        plain.append_data(&mut header(3, 0), "server.toml", b"a=1".as_slice()).expect("appends");
        let plain = plain.into_inner().expect("tar");
        assert_eq!(
            read_all(&plain).expect_err("refused").to_string(),
            "not an IPTinCan backup: it does not start with manifest.json"
        );
    }

    /// An archive with `manifest` and one entry whose name is written raw (the tar crate
    /// refuses to write unsafe names itself).
    fn raw_archive(manifest: &Manifest, name: &str, kind: tar::EntryType, data: &[u8]) -> Vec<u8> {
        let json = serde_json::to_vec(manifest).expect("json");
        let mut builder = tar::Builder::new(Vec::new());
        builder.append_data(&mut header(json.len() as u64, 0), MANIFEST, json.as_slice()).expect("appends");
        let mut entry = header(data.len() as u64, 0);
        entry.set_entry_type(kind);
        entry.as_gnu_mut().expect("gnu").name[..name.len()].copy_from_slice(name.as_bytes());
        entry.set_cksum();
        builder.append(&entry, data).expect("appends");
        builder.into_inner().expect("tar")
    }

    #[test]
    fn links_are_refused() {
        let written = manifest(vec![entry(KEY, b"")]);
        let bytes = raw_archive(&written, KEY, tar::EntryType::Symlink, b"");
        assert!(matches!(read_all(&bytes), Err(BackupError::UnsafePath(path)) if path == KEY));
    }
}
