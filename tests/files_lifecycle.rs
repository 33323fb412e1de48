//! What happens to stored files over time, on a real server on loopback with the files on
//! disk: a file is collected (its row, and its blob once no file names it) when no message and
//! no custom emoji refers to it any more, keeping blobs another file shares.

mod common;

use common::pattern::generate;
use common::uploads_dir::stored_blobs;
use common::{assert_code, TestServer};
use iptincan::client::UploadOptions;
use iptincan::proto::{ChannelKind, ErrorCode};

fn png(side: u32) -> Vec<u8> {
    let mut out = Vec::new();
    image::DynamicImage::new_rgba8(side, side)
        .write_with_encoder(image::codecs::png::PngEncoder::new(&mut out))
        .expect("encodes");
    out
}

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
    let picture = png(24);
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
