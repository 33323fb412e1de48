//! Backups as a family uses them: a backup taken while people chat restores every message
//! acknowledged before it began; damaged, cut, foreign and unencrypted-looking archives are
//! refused without touching the data directory; passphrases; the backup service beside a
//! server ("back up now", status, schedule); and `itc-server backup|restore|backups` end to
//! end, backing up with the server running and stopped. Real servers, real SQLite files in
//! temp dirs.

mod common;

use common::{run_server_command, write_config, ServerProcess, TestServer, MEMBER_PASSWORD, WAIT};
use iptincan::backup::schedule::{BackupOutcome, Backups};
use iptincan::backup::{self, BackupError, BackupOptions, Passphrase, RestoreOptions};
use iptincan::client::Client;
use iptincan::config::{self, DataDir};
use iptincan::proto::{ChannelId, ErrorCode, MessageId};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Sends numbered messages to #general until `stop` (or a bounded count and time), recording
/// each acknowledged id.
fn keep_sending(
    client: Client,
    name: &'static str,
    acked: Arc<Mutex<Vec<MessageId>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let started = Instant::now();
        for i in 0..2000 {
            if stop.load(std::sync::atomic::Ordering::Relaxed) || started.elapsed() > WAIT * 3 {
                break;
            }
            match client.send(ChannelId(1), &format!("{name} says {i}")).await {
                Ok(message) => acked.lock().expect("lock").push(message.id),
                Err(err) if err.code() == Some(ErrorCode::RateLimited) => {
                    tokio::time::sleep(Duration::from_millis(30)).await
                }
                Err(err) => panic!("{name}: {err}"),
            }
        }
    })
}

/// Waits (bounded) until `condition` holds.
async fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < WAIT * 2, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The backup service for a test server's data directory, beside it as the appliance and
/// `itc-server` run it.
fn backups_beside(server: &TestServer) -> Arc<Backups> {
    Arc::new(Backups::new(server.config.clone(), DataDir::new(server.dir.path())))
}

/// Starts a server on a restored data directory, with the configuration restored there.
async fn start_restored(dir: tempfile::TempDir) -> TestServer {
    let restored = config::load_or_create(&dir.path().join("server.toml")).expect("restored config loads");
    TestServer::restart(dir, restored.config).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_two_members_chat_restores_every_acknowledged_message() {
    let server = TestServer::start().await;
    let ann = server.member("ann").await;
    let bob = server.member("bob").await;
    let acked = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let senders =
        [keep_sending(ann, "ann", acked.clone(), stop.clone()), keep_sending(bob, "bob", acked.clone(), stop.clone())];
    wait_until("some messages", || acked.lock().expect("lock").len() >= 60).await;

    let backups = backups_beside(&server);
    let before_backup: BTreeSet<MessageId> = acked.lock().expect("lock").iter().copied().collect();
    let report = backups.back_up_now().await.expect("backs up while they chat");
    let after_backup = acked.lock().expect("lock").len();
    wait_until("more messages after the backup", || acked.lock().expect("lock").len() >= after_backup + 20).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for sender in senders {
        sender.await.expect("sender");
    }
    assert!(report.path.starts_with(server.dir.path().join("backups")), "{report:?}");
    assert_eq!(std::fs::metadata(&report.path).expect("archive").len(), report.size);
    let status = backups.last().expect("a last backup");
    assert_eq!(status.outcome, BackupOutcome::Written(report.clone()));

    let fresh = tempfile::tempdir().expect("tempdir");
    let restore_report = backup::restore(&report.path, &DataDir::new(fresh.path()), &RestoreOptions::default(), |_| {})
        .expect("restores into an empty data directory");
    assert_eq!(restore_report.set_aside, None);
    let original_fingerprint = server.running().fingerprint();
    let restored = start_restored(fresh).await;
    assert_eq!(restored.running().fingerprint(), original_fingerprint, "same certificate, same connection code");
    let reader = restored.connect().await;
    reader.login("ann", MEMBER_PASSWORD).await.expect("accounts restored");
    let stored = common::all_message_ids(&reader, ChannelId(1)).await;
    let lost: Vec<_> = before_backup.difference(&stored).collect();
    assert!(lost.is_empty(), "{} messages acknowledged before the backup are missing: {lost:?}", lost.len());
    let all_acked: BTreeSet<MessageId> = acked.lock().expect("lock").iter().copied().collect();
    assert!(stored.is_subset(&all_acked), "the restored history holds only messages that were sent");
    assert!(stored.len() < all_acked.len(), "messages sent after the backup are not in it");
}

/// Every file under `dir` and its bytes.
fn contents(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut found = BTreeMap::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("reads dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                folders.push(path);
            } else {
                found.insert(
                    path.strip_prefix(dir).expect("inside").to_path_buf(),
                    std::fs::read(&path).expect("reads"),
                );
            }
        }
    }
    found
}

/// A stopped server process's data directory with one message, and a backup of it.
async fn server_with_backup(message: &str) -> (tempfile::TempDir, config::Config, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(dir.path(), "", "");
    let server = ServerProcess::spawn(dir.path(), &[]).expect("starts");
    let ann = Client::connect(&server.target(), None).await.expect("connects");
    ann.register("ann", MEMBER_PASSWORD).await.expect("registers");
    ann.send(ChannelId(1), message).await.expect("sends");
    drop(ann);
    let (_, status) = server.terminate();
    assert!(status.success());
    let config = config::load_or_create(&dir.path().join("server.toml")).expect("config").config;
    let report =
        backup::create(&config, &DataDir::new(dir.path()), &BackupOptions::default(), |_| {}).expect("backs up");
    (dir, config, report.path)
}

fn restore_err(archive: &Path, dir: &Path, options: &RestoreOptions) -> BackupError {
    backup::restore(archive, &DataDir::new(dir), options, |_| {}).expect_err("refused")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_cut_and_foreign_archives_are_refused_and_change_nothing() {
    let (dir, _config, archive) = server_with_backup("the tamper target message").await;
    let good = std::fs::read(&archive).expect("reads");
    let work = tempfile::tempdir().expect("tempdir");

    let flipped = work.path().join("flipped.tar");
    let mut bytes = good.clone();
    let at = bytes.windows(10).position(|w| w == b"tamper tar").expect("the message is in the database");
    bytes[at] ^= 0x20;
    std::fs::write(&flipped, bytes).expect("writes");

    let cut = work.path().join("cut.tar");
    std::fs::write(&cut, &good[..good.len() / 2]).expect("writes");

    let plain = work.path().join("plain.tar");
    let mut builder = tar::Builder::new(Vec::new());
    builder.append_path_with_name(dir.path().join("server.toml"), "server.toml").expect("appends");
    builder.append_path_with_name(dir.path().join("itc-server.db"), "itc-server.db").expect("appends");
    std::fs::write(&plain, builder.into_inner().expect("tar")).expect("writes");

    let before = contents(dir.path());
    let options = RestoreOptions::default();
    let refusals = [
        (flipped, "backup is damaged: itc-server.db does not match its checksum"),
        (cut, "backup is damaged: "),
        (plain, "not an IPTinCan backup: it does not start with manifest.json"),
    ];
    for (archive, message) in &refusals {
        let err = restore_err(archive, dir.path(), &options);
        assert!(err.to_string().starts_with(message), "{}: {err}", archive.display());
        assert_eq!(contents(dir.path()), before, "a refused restore changed the data directory");
        assert!(backup::verify(archive, None).is_err());
        // Onto an empty data directory too: nothing but the lock files appears.
        let empty = tempfile::tempdir().expect("tempdir");
        restore_err(archive, empty.path(), &options);
        let left: Vec<_> = contents(empty.path()).into_keys().collect();
        assert_eq!(left, [PathBuf::from("itc-backup.lock"), PathBuf::from("itc-server.lock")]);
    }

    // Another server's archive over this one: refused unless asked to replace it.
    let (other, _, other_archive) = server_with_backup("another family").await;
    let err = restore_err(&other_archive, dir.path(), &options);
    assert!(matches!(err, BackupError::ForeignServer { .. }), "{err}");
    assert!(err.to_string().contains("another server"), "{err}");
    assert_eq!(contents(dir.path()), before);
    let replace = RestoreOptions { replace_other_server: true, ..RestoreOptions::default() };
    let report = backup::restore(&other_archive, &DataDir::new(dir.path()), &replace, |_| {}).expect("replaces");
    let aside = report.set_aside.expect("the replaced files are kept");
    assert_eq!(std::fs::read(aside.join("itc-server.db")).expect("kept"), before[Path::new("itc-server.db")]);
    assert_eq!(
        std::fs::read(dir.path().join("server-cert.pem")).expect("restored"),
        std::fs::read(other.path().join("server-cert.pem")).expect("other's")
    );

    // Its own archive over itself is the normal roll-back and needs no flag.
    backup::restore(&archive, &DataDir::new(other.path()), &replace, |_| {}).expect("restores");
    backup::restore(&archive, &DataDir::new(other.path()), &options, |_| {}).expect("same server, no flag needed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_backups_need_their_passphrase() {
    let server = TestServer::start().await;
    let ann = server.member("ann").await;
    let sent = ann.send(ChannelId(1), "a private family matter").await.expect("sends");
    let out = tempfile::tempdir().expect("tempdir");
    let options = BackupOptions {
        output: Some(out.path().to_path_buf()),
        passphrase: Some(Passphrase::new("correct horse battery staple")),
        ..BackupOptions::default()
    };
    let data_dir = DataDir::new(server.dir.path());
    let report = backup::create(&server.config, &data_dir, &options, |_| {}).expect("backs up");
    assert!(report.encrypted && report.path.to_string_lossy().ends_with(".tar.enc"), "{report:?}");
    let bytes = std::fs::read(&report.path).expect("reads");
    assert!(!bytes.windows(16).any(|w| w == b"a private family"), "the message is not readable in the archive");
    assert!(!bytes.windows(13).any(|w| w == b"manifest.json"));

    assert!(matches!(backup::verify(&report.path, None), Err(BackupError::PassphraseNeeded)));
    let wrong = Passphrase::new("wrong horse");
    assert!(matches!(backup::verify(&report.path, Some(&wrong)), Err(BackupError::WrongPassphrase)));
    let fresh = tempfile::tempdir().expect("tempdir");
    let wrong_options = RestoreOptions { passphrase: Some(wrong), ..RestoreOptions::default() };
    assert_eq!(restore_err(&report.path, fresh.path(), &wrong_options).to_string(), "wrong passphrase for this backup");

    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 1;
    let flipped_path = out.path().join("flipped.tar.enc");
    std::fs::write(&flipped_path, flipped).expect("writes");
    let err = backup::verify(&flipped_path, options.passphrase.as_ref()).expect_err("refused");
    assert!(err.to_string().starts_with("backup is damaged:"), "{err}");

    let right = RestoreOptions { passphrase: options.passphrase.clone(), ..RestoreOptions::default() };
    backup::restore(&report.path, &DataDir::new(fresh.path()), &right, |_| {}).expect("restores");
    drop(server);
    let restored = start_restored(fresh).await;
    let reader = restored.connect().await;
    reader.login("ann", MEMBER_PASSWORD).await.expect("logs in");
    assert_eq!(reader.history(ChannelId(1), None, None).await.expect("history").messages, vec![sent]);
}

#[tokio::test]
async fn the_backup_service_beside_a_server_backs_up_reports_and_schedules() {
    let server = TestServer::start().await;
    let backups = backups_beside(&server);
    assert_eq!(backups.last(), None);
    let next = backups.next().expect("nightly backups are on by default");
    assert_eq!(next.time(), jiff::civil::time(3, 0, 0, 0));
    assert!(next.timestamp() > jiff::Timestamp::now());
    assert!(next.timestamp() <= jiff::Timestamp::now() + jiff::SignedDuration::from_hours(25));

    let report = backups.back_up_now().await.expect("backs up");
    let listed = backup::list(&server.dir.path().join("backups")).expect("lists");
    assert_eq!(listed.iter().map(|a| a.path.clone()).collect::<Vec<_>>(), vec![report.path.clone()]);
    backup::verify(&report.path, None).expect("verifies");

    // A restore is refused while this server runs on its data directory.
    let err = restore_err(&report.path, server.dir.path(), &RestoreOptions::default());
    assert!(err.to_string().contains("another itc-server is using the data directory"), "{err}");

    // A failing backup is reported too; with nightly backups off there is no next one.
    let broken = TestServer::start_with(|config| {
        config.backup.enabled = false;
        config.backup.passphrase_file = "missing-passphrase".into();
    })
    .await;
    let broken_backups = backups_beside(&broken);
    assert_eq!(broken_backups.next(), None);
    let err = broken_backups.back_up_now().await.expect_err("no passphrase file");
    assert!(err.to_string().contains("missing-passphrase"), "{err}");
    let status = broken_backups.last().expect("recorded");
    assert_eq!(status.outcome, BackupOutcome::Failed(err.to_string()));

    // Once closed (the program is ending), the service takes no more backups.
    backups.close().await;
    assert!(matches!(backups.back_up_now().await, Err(BackupError::Cancelled)));
    assert_eq!(backups.last().map(|status| status.outcome), Some(BackupOutcome::Cancelled));
    assert_eq!(backup::list(&server.dir.path().join("backups")).expect("lists").len(), 1, "nothing more written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_holds_off_a_restore_and_when_cancelled_leaves_no_partial_archive() {
    let (dir, config, archive) = server_with_backup("before the cancelled backup").await;
    let data_dir = DataDir::new(dir.path());
    // Enough data that the backup is still writing when it is cancelled.
    let photo: Vec<u8> = (0..32u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    std::fs::write(data_dir.uploads().join("holiday.jpg"), photo).expect("writes");
    let folder = dir.path().join("backups");
    let before = contents(&folder);

    let options = BackupOptions::default();
    let cancel = options.cancel.clone();
    let (writing_tx, writing_rx) = std::sync::mpsc::channel();
    let backing_up = {
        let (config, data_dir) = (config.clone(), data_dir.clone());
        std::thread::spawn(move || {
            backup::create(&config, &data_dir, &options, |progress| {
                if progress.step == backup::Step::Write {
                    let _ = writing_tx.send(());
                }
            })
        })
    };
    writing_rx.recv_timeout(WAIT).expect("the backup starts writing");
    // While it runs, it holds the data directory against a restore (the server is stopped).
    let err = restore_err(&archive, dir.path(), &RestoreOptions::default());
    assert!(err.to_string().contains("a backup of the data directory"), "{err}");
    cancel.cancel();
    let outcome = backing_up.join().expect("the backup thread");
    assert!(matches!(outcome, Err(BackupError::Cancelled)), "{outcome:?}");
    assert_eq!(contents(&folder), before, "no partial archive or temporary file is left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn itc_server_backup_and_restore_end_to_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(dir.path(), "", "");
    let server = ServerProcess::spawn(dir.path(), &[]).expect("starts");
    let ann = Client::connect(&server.target(), None).await.expect("connects");
    ann.register("ann", MEMBER_PASSWORD).await.expect("registers");
    let sent = ann.send(ChannelId(1), "before the backup").await.expect("sends");

    let (ok, stdout, stderr) = run_server_command(dir.path(), &["backup"]);
    assert!(ok, "backup while the server runs: {stderr}");
    assert!(stdout.starts_with("backup written and verified: "), "{stdout}");
    assert!(stderr.contains("backup: verifying the archive 100%"), "progress on stderr: {stderr}");
    let archive = backup::list(&dir.path().join("backups")).expect("lists").pop().expect("one archive").path;
    let (ok, stdout, _) = run_server_command(dir.path(), &["backups"]);
    assert!(ok && stdout.contains(&archive.display().to_string()), "{stdout}");
    let archive_arg = archive.to_string_lossy().into_owned();

    let (ok, _, stderr) = run_server_command(dir.path(), &["restore", &archive_arg]);
    assert!(!ok);
    assert!(stderr.starts_with("itc-server: another itc-server is using the data directory"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let code = server.code.clone();
    drop(ann);
    server.terminate();

    let (ok, stdout, stderr) = run_server_command(dir.path(), &["backup"]);
    assert!(ok, "backup while the server is stopped: {stderr}");
    assert!(stdout.starts_with("backup written and verified: "), "{stdout}");
    assert_eq!(backup::list(&dir.path().join("backups")).expect("lists").len(), 2);

    let fresh = tempfile::tempdir().expect("tempdir");
    let (ok, stdout, stderr) = run_server_command(fresh.path(), &["restore", &archive_arg]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("restored the backup of"), "{stdout}");
    let restored = ServerProcess::spawn(fresh.path(), &[]).expect("the restored server starts");
    let fingerprint = |code: &str| match iptincan::client::Target::parse(code).expect("a code") {
        iptincan::client::Target::Code(code) => code.fingerprint,
        other => panic!("not a code: {other:?}"),
    };
    assert_eq!(fingerprint(&restored.code), fingerprint(&code), "the same certificate");
    let reader = Client::connect(&restored.target(), None).await.expect("connects");
    reader.login("ann", MEMBER_PASSWORD).await.expect("logs in");
    assert_eq!(reader.history(ChannelId(1), None, None).await.expect("history").messages, vec![sent]);
    drop(reader);
    restored.terminate();

    let (ok, _, stderr) = run_server_command(fresh.path(), &["restore", "/nonexistent/itc-backup.tar"]);
    assert!(!ok);
    assert!(stderr.starts_with("itc-server: /nonexistent/itc-backup.tar: "), "{stderr}");
    let (ok, _, stderr) = run_server_command(fresh.path(), &["backup", "--frobnicate"]);
    assert!(!ok);
    assert!(stderr.contains("unexpected argument '--frobnicate'"), "{stderr}");
    let (ok, _, stderr) = run_server_command(fresh.path(), &["restore"]);
    assert!(!ok && stderr.contains("<ARCHIVE>"), "{stderr}");
}
