//! Files over the REST API with real access tokens, over real HTTPS on loopback: a 20 MiB file
//! streamed up (with and without `Content-Length`) and down byte-identical, shared by attaching
//! it to a message; a name that looks like a path stays a name; scopes; uploads over the
//! per-file limit or the storage left refused in the one JSON error shape with nothing left on
//! disk (before the body is sent when its length is declared); the JSON routes keep their cap;
//! a picture's thumbnail, and its metadata stripped unless `keep_metadata=1`.

mod common;

use common::pattern::generate;
use common::picture::png;
use common::uploads_dir::{stored_blobs, unfinished};
use common::{rest_connect, TestServer};
use iptincan::proto::Scope;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MIB: u64 = 1 << 20;

/// How a request's body goes out.
enum Body<'a> {
    None,
    /// With `Content-Length`.
    Sized(&'a [u8]),
    /// `Transfer-Encoding: chunked`, in pieces of this many bytes.
    Chunked(&'a [u8], usize),
    /// Only the headers, announcing this length; the body never comes.
    Announced(u64),
}

/// An HTTP answer.
struct Answer {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| panic!("JSON ({err}): {}", self.text()))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body[..self.body.len().min(2000)]).into_owned()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    /// Asserts the one error shape with `status` and `code`.
    fn assert_error(&self, status: u16, code: &str, what: &str) {
        assert_eq!(self.status, status, "{what}: {}", self.text());
        let body = self.json();
        assert_eq!(body["error"]["code"], code, "{what}: {body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: {body}");
        assert_eq!(body.as_object().map(|body| body.len()), Some(1), "{what}: only `error`: {body}");
    }
}

/// One request on its own HTTPS connection; the whole answer.
async fn send(server: &TestServer, method: &str, path: &str, token: &str, headers: &str, body: Body<'_>) -> Answer {
    let mut tls = rest_connect(server).await;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n{headers}"
    );
    match &body {
        Body::None => head += "Content-Length: 0\r\n",
        Body::Sized(bytes) => head += &format!("Content-Length: {}\r\n", bytes.len()),
        Body::Chunked(..) => head += "Transfer-Encoding: chunked\r\n",
        Body::Announced(length) => head += &format!("Content-Length: {length}\r\n"),
    }
    head += "\r\n";
    tls.write_all(head.as_bytes()).await.expect("writes the head");
    // A refused body may be cut off by the server mid-write; the answer still comes.
    let _ = match body {
        Body::None | Body::Announced(_) => Ok(()),
        Body::Sized(bytes) => tls.write_all(bytes).await,
        Body::Chunked(bytes, piece) => write_chunked(&mut tls, bytes, piece).await,
    };
    let _ = tls.flush().await;
    let mut response = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(60), tls.read_to_end(&mut response)).await;
    assert!(read.is_ok(), "{method} {path}: no answer within 60 s");
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").expect("an HTTP response");
    let head = String::from_utf8(response[..split].to_vec()).expect("an ASCII head");
    let status = head.get(9..12).and_then(|code| code.parse().ok()).expect("a status line");
    Answer { status, head, body: response[split + 4..].to_vec() }
}

async fn write_chunked(tls: &mut (impl AsyncWriteExt + Unpin), bytes: &[u8], piece: usize) -> std::io::Result<()> {
    for part in bytes.chunks(piece) {
        tls.write_all(format!("{:x}\r\n", part.len()).as_bytes()).await?;
        tls.write_all(part).await?;
        tls.write_all(b"\r\n").await?;
    }
    tls.write_all(b"0\r\n\r\n").await
}

fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// `size` pseudo-random bytes (written through a file, as the other file tests make them).
fn test_bytes(dir: &Path, size: u64, seed: u64) -> Vec<u8> {
    let path = dir.join(format!("source-{seed}"));
    generate(&path, size, seed).expect("writes the test file");
    std::fs::read(&path).expect("reads it back")
}

/// Percent-encodes every byte but letters and digits.
fn encode(name: &str) -> String {
    name.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { char::from(b).to_string() } else { format!("%{b:02X}") })
        .collect()
}

async fn general_id(server: &TestServer) -> i64 {
    let admin = server.admin().await;
    let channels = admin.channels().await.expect("channels");
    channels.channels.iter().find(|channel| channel.name == "general").expect("#general").id.0
}

#[tokio::test]
async fn a_large_file_streams_up_and_down_over_rest() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let both = admin.create_token("script", vec![Scope::Read, Scope::Send], None).await.expect("token").secret;
    let reader = admin.create_token("reader", vec![Scope::Read], None).await.expect("token").secret;
    let sender = admin.create_token("sender", vec![Scope::Send], None).await.expect("token").secret;
    let general = general_id(&server).await;
    let uploads = server.dir.path().join("uploads");
    let work = tempfile::tempdir().expect("tempdir");
    let bytes = test_bytes(work.path(), 20 * MIB, 0x5eed);
    let name = "../../etc/passwd";
    let root_before: Vec<_> =
        std::fs::read_dir(server.dir.path()).expect("data dir").map(|e| e.expect("entry").file_name()).collect();

    let path = format!("/api/channels/{general}/files?name={}", encode(name));
    let refused = send(&server, "POST", &path, &reader, "", Body::Sized(&bytes[..1000])).await;
    refused.assert_error(403, "forbidden", "a token without `send` uploads");
    let typed = "Content-Type: application/x-test\r\n";
    let up = send(&server, "POST", &path, &both, typed, Body::Sized(&bytes)).await;
    assert_eq!(up.status, 201, "uploads 20 MiB: {}", up.text());
    let info = up.json();
    assert_eq!(info["size"], 20 * MIB, "{info}");
    assert_eq!(info["name"], name, "the name is kept as it was given: {info}");
    assert_eq!(info["content_type"], "application/x-test", "{info}");
    assert_eq!(info["sha256"], sha256_hex(&bytes), "{info}");
    let file_id = info["file_id"].as_i64().expect("a file id");
    let blobs = stored_blobs(&uploads);
    assert_eq!(blobs.len(), 1, "one blob: {blobs:?}");
    assert_eq!(blobs[0].1, 20 * MIB);
    assert!(blobs[0].0.ends_with(sha256_hex(&bytes)), "stored under its hash: {}", blobs[0].0.display());
    assert_eq!(unfinished(&uploads), 0, "nothing left in uploads/tmp");
    let root_after: Vec<_> =
        std::fs::read_dir(server.dir.path()).expect("data dir").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(root_before, root_after, "nothing new beside uploads/");

    let message = send(
        &server,
        "POST",
        &format!("/api/channels/{general}/messages"),
        &both,
        "Content-Type: application/json\r\n",
        Body::Sized(json!({"body": "", "attachments": [file_id]}).to_string().as_bytes()),
    )
    .await;
    assert_eq!(message.status, 201, "attached: {}", message.text());
    assert_eq!(message.json()["attachments"][0]["file_id"], file_id, "{}", message.text());

    let refused = send(&server, "GET", &format!("/api/files/{file_id}"), &sender, "", Body::None).await;
    refused.assert_error(403, "forbidden", "a token without `read` downloads");
    let down = send(&server, "GET", &format!("/api/files/{file_id}"), &reader, "", Body::None).await;
    assert_eq!(down.status, 200, "downloads: {}", down.text());
    assert_eq!(down.body.len() as u64, 20 * MIB, "every byte");
    assert!(down.body == bytes, "byte-identical");
    assert_eq!(down.header("content-type"), Some("application/x-test"));
    assert_eq!(down.header("content-length"), Some("20971520"));
    let disposition = down.header("content-disposition").expect("Content-Disposition");
    assert_eq!(disposition, "attachment; filename*=UTF-8''..%2F..%2Fetc%2Fpasswd", "the name, never a path");
    assert_eq!(down.header("x-content-type-options"), Some("nosniff"));
    let missing = send(&server, "GET", &format!("/api/files/{file_id}?thumbnail=1"), &reader, "", Body::None).await;
    missing.assert_error(404, "not_found", "a file that is not a picture has no thumbnail");
    let missing = send(&server, "GET", &format!("/api/files/{}", file_id + 100), &reader, "", Body::None).await;
    missing.assert_error(404, "not_found", "no such file");

    // Without Content-Length: streamed with chunked encoding, its size found at the end.
    let odd = &bytes[..(3 * MIB + 5) as usize];
    let path = format!("/api/channels/{general}/files?name=stream%20%E2%9C%93.bin");
    let up = send(&server, "POST", &path, &both, "", Body::Chunked(odd, 100_000)).await;
    assert_eq!(up.status, 201, "uploads without a length: {}", up.text());
    let info = up.json();
    assert_eq!((info["size"].as_u64(), info["name"].as_str()), (Some(3 * MIB + 5), Some("stream ✓.bin")), "{info}");
    assert_eq!(info["sha256"], sha256_hex(odd), "{info}");
    assert_eq!(info["content_type"], Value::Null, "no type given: {info}");
    let down = send(&server, "GET", &format!("/api/files/{}", info["file_id"]), &both, "", Body::None).await;
    assert!(down.status == 200 && down.body == odd, "the chunked upload comes back identical");
    assert_eq!(unfinished(&uploads), 0, "nothing left in uploads/tmp");
}

#[tokio::test]
async fn uploads_over_the_limits_are_refused_and_leave_nothing() {
    let server = TestServer::start_with(|config| {
        config.server.max_file_bytes = 4 * MIB;
        config.server.max_storage_bytes = 6 * MIB;
    })
    .await;
    let admin = server.admin().await;
    let token = admin.create_token("script", vec![Scope::Read, Scope::Send], None).await.expect("token").secret;
    let general = general_id(&server).await;
    let uploads = server.dir.path().join("uploads");
    let work = tempfile::tempdir().expect("tempdir");
    let bytes = test_bytes(work.path(), 5 * MIB, 42);
    let path = format!("/api/channels/{general}/files?name=big.bin");
    let nothing_kept = |what: &str, blobs: usize| {
        assert_eq!(unfinished(&uploads), 0, "{what}: nothing in uploads/tmp");
        assert_eq!(stored_blobs(&uploads).len(), blobs, "{what}: no new blob");
    };

    // Declared too large: refused from the head alone, before any of the body is sent.
    let over = send(&server, "POST", &path, &token, "", Body::Announced(4 * MIB + 1)).await;
    over.assert_error(413, "file_too_large", "over max_file_bytes, declared");
    nothing_kept("over max_file_bytes, declared", 0);
    // Not declared: stopped once it grows past the limit, and what came is removed.
    let over = send(&server, "POST", &path, &token, "", Body::Chunked(&bytes, 64 * 1024)).await;
    over.assert_error(413, "file_too_large", "over max_file_bytes, streamed");
    nothing_kept("over max_file_bytes, streamed", 0);

    let fits = send(&server, "POST", &path, &token, "", Body::Sized(&bytes[..(3 * MIB) as usize])).await;
    assert_eq!(fits.status, 201, "3 MiB fits: {}", fits.text());
    nothing_kept("a stored upload", 1);

    // 3 MiB of the 6 are left.
    let full = send(&server, "POST", &path, &token, "", Body::Announced(3 * MIB + 1)).await;
    full.assert_error(507, "storage_full", "over the storage left, declared");
    nothing_kept("over the storage left, declared", 1);
    let full = send(&server, "POST", &path, &token, "", Body::Chunked(&bytes[MIB as usize..], 64 * 1024)).await;
    full.assert_error(507, "storage_full", "over the storage left, streamed");
    nothing_kept("over the storage left, streamed", 1);
    let last = send(&server, "POST", &path, &token, "", Body::Chunked(&bytes[..(3 * MIB) as usize - 7], 50_000)).await;
    assert_eq!(last.status, 201, "what is left still fits: {}", last.text());
    nothing_kept("the last upload", 2);

    let empty = send(&server, "POST", &path, &token, "", Body::None).await;
    empty.assert_error(400, "invalid_argument", "an empty file");
    let no_name = send(&server, "POST", &format!("/api/channels/{general}/files"), &token, "", Body::Sized(b"x")).await;
    no_name.assert_error(400, "invalid_argument", "no name");
    let control = send(&server, "POST", &format!("{path}%0A"), &token, "", Body::Sized(b"x")).await;
    control.assert_error(400, "invalid_argument", "a control character in the name");
    nothing_kept("refused arguments", 2);

    // The JSON routes keep their 64 KiB cap.
    let long = json!({"body": "x".repeat(100 * 1024)}).to_string();
    let capped = send(
        &server,
        "POST",
        &format!("/api/channels/{general}/messages"),
        &token,
        "Content-Type: application/json\r\n",
        Body::Sized(long.as_bytes()),
    )
    .await;
    capped.assert_error(413, "payload_too_large", "a JSON body over 64 KiB");
}

#[tokio::test]
async fn pictures_get_thumbnails_and_lose_metadata_unless_kept() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let token = admin.create_token("script", vec![Scope::Read, Scope::Send], None).await.expect("token").secret;
    let general = general_id(&server).await;
    let picture = png(600, 300);

    let mut sent = Vec::new();
    for (query, stripped) in [("", true), ("&keep_metadata=1", false)] {
        let path = format!("/api/channels/{general}/files?name=wide.png{query}");
        let up = send(&server, "POST", &path, &token, "", Body::Sized(&picture)).await;
        assert_eq!(up.status, 201, "uploads a picture: {}", up.text());
        let info = up.json();
        assert_eq!(info["content_type"], "image/png", "{info}");
        assert_eq!((info["image"]["width"].as_u64(), info["image"]["height"].as_u64()), (Some(600), Some(300)));
        assert_eq!(info["image"]["metadata_stripped"], stripped, "{query}: {info}");
        sent.push(info);
    }
    let kept = &sent[1];
    let down = send(&server, "GET", &format!("/api/files/{}", kept["file_id"]), &token, "", Body::None).await;
    assert!(down.status == 200 && down.body == picture, "kept as uploaded");
    let thumb =
        send(&server, "GET", &format!("/api/files/{}?thumbnail=1", kept["file_id"]), &token, "", Body::None).await;
    assert_eq!(thumb.status, 200, "{}", thumb.text());
    assert_eq!(thumb.header("content-type"), Some("image/png"));
    assert_eq!(thumb.body.len() as u64, kept["image"]["thumbnail_size"].as_u64().expect("a size"));
    let small = image::load_from_memory(&thumb.body).expect("the thumbnail is a picture");
    assert_eq!((small.width(), small.height()), (256, 128), "fits in 256 pixels, aspect kept");
    let bad =
        send(&server, "GET", &format!("/api/files/{}?thumbnail=2", kept["file_id"]), &token, "", Body::None).await;
    bad.assert_error(400, "invalid_argument", "thumbnail is 0 or 1");
}
