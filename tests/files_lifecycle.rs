//! What happens to stored files over time, on a real server on loopback with the files on
//! disk: a file is collected (its row, and its blob once no file names it) when no message and
//! no custom emoji refers to it any more, keeping blobs another file shares; an upload in
//! progress survives a restart and resumes at the offset the server confirms, unless its
//! resume window passed.

mod common;

use common::pattern::generate;
use common::picture::png;
use common::uploads_dir::{stored_blobs, unfinished};
use common::{assert_code, TestServer, MEMBER_PASSWORD};
use iptincan::client::{Client, UploadOptions};
use iptincan::proto::{ChannelKind, ErrorCode, UploadSpec};

#[tokio::test]
async fn files_are_collected_when_nothing_refers_to_them() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let ann = server.member("ann").await;
    let uploads = server.dir.path().join("uploads");
    let work = tempfile::tempdir().expect("tempdir");
    let general =
        admin.channels().await.expect("channels").channels.iter().find(|c| c.name == "general").expect("#general").id;
    let (shared, single, loose, threaded) = (
        work.path().join("shared"),
        work.path().join("single"),
        work.path().join("loose"),
        work.path().join("threaded"),
    );
    let shared_sha = generate(&shared, 300_000, 1).expect("writes");
    let single_sha = generate(&single, 200_000, 2).expect("writes");
    generate(&loose, 100_000, 3).expect("writes");
    generate(&threaded, 150_000, 4).expect("writes");
    let on_disk = |sha256: &str| stored_blobs(&uploads).iter().any(|(path, _)| path.ends_with(sha256));

    // Two messages, two files, one blob (content-addressed); one message with a file of its own.
    let first = ann.upload_file(&shared, "a.bin", UploadOptions::default()).await.expect("uploads");
    let second = ann.upload_file(&shared, "b.bin", UploadOptions::default()).await.expect("uploads");
    let own = ann.upload_file(&single, "c.bin", UploadOptions::default()).await.expect("uploads");
    let never_sent = ann.upload_file(&loose, "d.bin", UploadOptions::default()).await.expect("uploads");
    assert_eq!(stored_blobs(&uploads).len(), 3, "the same bytes are stored once");
    let m1 = ann.send_with_files(general, "one", vec![first.file_id]).await.expect("sends");
    let m2 = ann.send_with_files(general, "two", vec![second.file_id, own.file_id]).await.expect("sends");

    ann.delete(m1.id).await.expect("deletes the first");
    assert_code(ann.file_info(first.file_id).await, ErrorCode::NotFound);
    assert!(on_disk(&shared_sha), "the blob the second message's file shares stays");
    assert_eq!(ann.file_info(second.file_id).await.expect("still there").sha256, shared_sha);
    ann.delete(m2.id).await.expect("deletes the second");
    assert!(!on_disk(&shared_sha) && !on_disk(&single_sha), "no file names them: removed from disk");
    assert_code(ann.file_info(own.file_id).await, ErrorCode::NotFound);
    ann.file_info(never_sent.file_id).await.expect("a file never attached is not collected");
    assert_eq!(stored_blobs(&uploads).len(), 1, "only the unsent file's blob");

    // A thread's root with a file: deleting the root (and its replies) collects it.
    let file = ann.upload_file(&threaded, "t.bin", UploadOptions::default()).await.expect("uploads");
    let root = ann.send_with_files(general, "root", vec![file.file_id]).await.expect("sends");
    ann.reply_thread(root.id, "a reply").await.expect("replies");
    ann.delete(root.id).await.expect("deletes the root");
    assert!(!on_disk(&file.sha256), "the thread root's file is collected");

    // A deleted channel's files go with it.
    let temp = admin.create_channel("temp", None, ChannelKind::Text).await.expect("channel");
    let file = ann.upload_file(&threaded, "t.bin", UploadOptions::default()).await.expect("uploads");
    ann.send_with_files(temp.id, "", vec![file.file_id]).await.expect("sends");
    admin.delete_channel(temp.id).await.expect("deletes the channel");
    assert!(!on_disk(&file.sha256), "the deleted channel's file is collected");

    // A custom emoji's picture goes when the emoji goes, unless a message still carries it.
    let picture = png(24, 24);
    let picture_sha = sha256_hex(&picture);
    let emoji = admin.emoji_add("wave", &picture).await.expect("adds");
    let carried = admin.send_with_files(general, "", vec![emoji.file_id]).await.expect("the admin attaches it");
    admin.emoji_remove("wave").await.expect("removes");
    assert!(on_disk(&picture_sha), "a message still carries the picture");
    admin.delete(carried.id).await.expect("deletes");
    assert!(!on_disk(&picture_sha), "nothing refers to the picture: removed");
    admin.emoji_add("wave", &picture).await.expect("adds again");
    admin.emoji_remove("wave").await.expect("removes");
    assert!(!on_disk(&picture_sha), "an emoji removed alone takes its picture");
    assert_eq!(stored_blobs(&uploads).len(), 1, "only the unsent file's blob is left");
}

fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_in_progress_survives_a_restart() {
    let server = TestServer::start().await;
    let uploads = server.dir.path().join("uploads");
    let work = tempfile::tempdir().expect("tempdir");
    let (source, size) = (work.path().join("big.bin"), 24u64 << 20);
    let sha256 = generate(&source, size, 77).expect("writes");
    let spec = |name: &str, size| UploadSpec {
        name: name.into(),
        size,
        content_type: None,
        channel_id: None,
        keep_metadata: false,
    };

    let ann = server.member("ann").await;
    let state = ann.upload_begin(spec("big.bin", size)).await.expect("begins");
    let reached = ann.upload_part(&state, &source, size * 40 / 100).await.expect("sends 40 %");
    let stale = ann.upload_begin(spec("stale.bin", 1000)).await.expect("begins");
    ann.upload_chunk(&stale.upload_id, 0, &[9u8; 500]).await.expect("half of it");
    drop(ann);
    let (dir, config) = server.stop().await;
    // The second upload's resume window passes while the server is down; a stray temporary
    // file (no upload of the store's) is there too.
    let db = rusqlite::Connection::open(dir.path().join(&config.database.path)).expect("opens");
    let changed = db.execute("UPDATE uploads_in_progress SET expires_at = 1 WHERE upload_id = ?1", [&stale.upload_id]);
    assert_eq!(changed.expect("updates"), 1, "the stale upload is in the store");
    drop(db);
    std::fs::write(uploads.join("tmp").join("stray.part"), b"left over").expect("writes");
    assert_eq!(unfinished(&uploads), 3);

    let server = TestServer::restart(dir, config).await;
    let ann = Client::connect(&server.target(), None).await.expect("connects");
    ann.login("ann", MEMBER_PASSWORD).await.expect("logs in");
    let resumed = ann.upload_offset(&state.upload_id).await.expect("the upload is still there");
    assert!(
        resumed.offset > 0 && resumed.offset <= reached && resumed.offset % state.chunk_bytes as u64 == 0,
        "resumes at an offset the server kept: {} of {reached}",
        resumed.offset
    );
    assert_eq!(resumed.size, size);
    assert_code(ann.upload_offset(&stale.upload_id).await, ErrorCode::NotFound);
    assert_eq!(unfinished(&uploads), 1, "only the resumable upload's temporary file is left");
    let stored = ann.resume_upload(&state.upload_id, &source).await.expect("resumes and finishes");
    assert_eq!((stored.size, stored.sha256.as_str()), (size, sha256.as_str()), "the whole file, hashed right");
    assert_eq!(unfinished(&uploads), 0, "the temporary file is gone");
    let out = work.path().join("back.bin");
    assert_eq!(ann.download_to(stored.file_id, false, &out).await.expect("downloads"), size);
    assert_eq!(sha256_of_file(&out), sha256, "byte-identical");

    let (dir, config) = server.stop().await;
    let server = TestServer::restart(dir, config).await;
    let ann = Client::connect(&server.target(), None).await.expect("connects");
    ann.login("ann", MEMBER_PASSWORD).await.expect("logs in");
    assert_code(ann.upload_offset(&state.upload_id).await, ErrorCode::NotFound);
    assert_eq!(unfinished(&uploads), 0, "a finished upload is not taken back");
}

fn sha256_of_file(path: &std::path::Path) -> String {
    sha256_hex(&std::fs::read(path).expect("reads"))
}
