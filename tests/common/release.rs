//! A release feed for update tests: a signing key made by the test, artifacts packed and
//! signed the way `scripts/package` does (a `.tar.gz` signed with zipsign, the file name as
//! context), a `manifest.json`, and a small HTTP server on loopback that serves the folder and
//! counts what it served.

use base64::Engine as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use zipsign_api::SigningKey;

/// A test signing key; its public half goes to the program under test through
/// `ITC_UPDATE_TEST_PUBLIC_KEY` (honoured by debug builds only).
pub struct TestKey(SigningKey);

impl TestKey {
    pub fn new() -> TestKey {
        TestKey(SigningKey::from_bytes(&iptincan::random::random_bytes::<32>()))
    }

    /// The public key as `ITC_UPDATE_TEST_PUBLIC_KEY` takes it.
    pub fn public_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.0.verifying_key().to_bytes())
    }
}

/// The version after this build's: the patch number plus one.
pub fn next_version() -> String {
    let mut version = semver::Version::parse(env!("CARGO_PKG_VERSION")).expect("semver");
    version.patch += 1;
    version.to_string()
}

/// A shell script standing in for `itc-server` VERSION: the real debug binary under test,
/// told to report VERSION (`ITC_TEST_VERSION`, honoured by debug builds only).
pub fn wrapper_script(version: &str) -> String {
    format!("#!/bin/sh\nITC_TEST_VERSION={version} exec '{}' \"$@\"\n", env!("CARGO_BIN_EXE_itc-server"))
}

/// A release folder served over HTTP on loopback.
pub struct Feed {
    pub dir: tempfile::TempDir,
    pub url: String,
    served: Arc<Mutex<Vec<String>>>,
}

impl Feed {
    /// Starts serving an empty folder.
    pub fn start() -> Feed {
        let dir = tempfile::tempdir().expect("tempdir");
        let listener = TcpListener::bind("127.0.0.1:0").expect("binds");
        let url = format!("http://{}/manifest.json", listener.local_addr().expect("address"));
        let served = Arc::new(Mutex::new(Vec::new()));
        let (root, log) = (dir.path().to_path_buf(), served.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let (root, log) = (root.clone(), log.clone());
                std::thread::spawn(move || serve(stream, &root, &log));
            }
        });
        Feed { dir, url, served }
    }

    /// Packs `files` (name, contents, mode) into `name` (a `.tar.gz`), signed with `key`
    /// unless `key` is `None`.
    pub fn add_artifact(&self, name: &str, files: &[(&str, &[u8], u32)], key: Option<&TestKey>) -> PathBuf {
        let mut packed = Vec::new();
        {
            let gz = flate2::write::GzEncoder::new(&mut packed, flate2::Compression::default());
            let mut tar = tar::Builder::new(gz);
            for (file, contents, mode) in files {
                let mut header = tar::Header::new_gnu();
                header.set_size(contents.len() as u64);
                header.set_mode(*mode);
                header.set_cksum();
                tar.append_data(&mut header, file, *contents).expect("tar entry");
            }
            tar.into_inner().expect("tar").finish().expect("gzip");
        }
        let path = self.dir.path().join(name);
        let mut signed = std::io::Cursor::new(Vec::new());
        match key {
            Some(TestKey(key)) => zipsign_api::sign::copy_and_sign_tar(
                &mut std::io::Cursor::new(packed),
                &mut signed,
                std::slice::from_ref(key),
                Some(name.as_bytes()),
            )
            .expect("signs"),
            None => signed = std::io::Cursor::new(packed),
        }
        std::fs::write(&path, signed.into_inner()).expect("writes artifact");
        path
    }

    /// Writes `manifest.json` listing one release with these artifacts.
    pub fn publish(&self, version: &str, artifacts: &[&str]) {
        let assets: Vec<_> = artifacts.iter().map(|name| serde_json::json!({ "name": name, "url": name })).collect();
        let manifest = serde_json::json!({ "schema": 1, "releases": [{ "version": version, "assets": assets }] });
        std::fs::write(self.dir.path().join("manifest.json"), manifest.to_string()).expect("writes manifest");
    }

    /// The paths requested so far.
    pub fn served(&self) -> Vec<String> {
        self.served.lock().expect("log").clone()
    }
}

/// Flips one byte in the middle of a file (its compressed contents, past the signature).
pub fn tamper(path: &Path) {
    let mut bytes = std::fs::read(path).expect("reads");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(path, bytes).expect("writes");
}

/// Answers one HTTP/1.1 GET with the file, or 404.
fn serve(mut stream: std::net::TcpStream, root: &Path, log: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut header = String::new();
    while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
        header.clear();
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/").trim_start_matches('/').to_string();
    log.lock().expect("log").push(path.clone());
    let file = (!path.contains("..")).then(|| root.join(&path)).filter(|file| file.is_file());
    let mut body = Vec::new();
    let status = match file.map(std::fs::File::open) {
        Some(Ok(mut file)) => {
            file.read_to_end(&mut body).expect("reads");
            "200 OK"
        }
        _ => "404 Not Found",
    };
    let head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(&body));
}
