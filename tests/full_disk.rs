//! A full disk: the server's data directory is a small tmpfs in a private mount namespace (so
//! the host is untouched), and the test fills it. Sending then fails with its own error code
//! (`disk_full`, "the server's disk is full; nothing was saved") that reaches the client, the
//! server keeps running, nothing acknowledged is lost, and sending works again once space is
//! freed. A backup onto a full disk fails clearly and leaves no partial archive behind. Needs
//! root (mount namespaces); skips with a printed reason where it cannot run.

mod common;

use common::{ServerProcess, MEMBER_PASSWORD, WAIT};
use iptincan::client::Client;
use iptincan::proto::{ChannelId, ErrorCode};
use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

fn can_use_mount_namespaces() -> Result<(), String> {
    let probe = Command::new("unshare").args(["-m", "true"]).output();
    match probe {
        Ok(output) if output.status.success() => Ok(()),
        Ok(output) => Err(String::from_utf8_lossy(&output.stderr).trim().to_string()),
        Err(err) => Err(format!("unshare: {err}")),
    }
}

/// Runs a command inside the server's mount namespace.
fn in_server_namespace(pid: u32, args: &[&str]) -> std::process::Output {
    Command::new("nsenter").args(["-t", &pid.to_string(), "-m", "--"]).args(args).output().expect("nsenter runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_new_messages_clearly_and_loses_nothing() {
    if let Err(reason) = can_use_mount_namespaces() {
        println!("SKIPPED a_full_disk_refuses_new_messages_clearly_and_loses_nothing: needs root for a private mount namespace ({reason})");
        return;
    }
    let outside = tempfile::tempdir().expect("tempdir");
    let data = outside.path().join("data");
    std::fs::create_dir(&data).expect("mountpoint");
    let config = outside.path().join("server.toml");
    std::fs::write(&config, common::TEST_CONFIG).expect("config");
    let script = format!(
        "mount -t tmpfs -o size=4m tmpfs '{data}' && exec '{server}' --data-dir '{data}' --config '{config}'",
        data = data.display(),
        server = common::server_binary().display(),
        config = config.display()
    );
    let mut command = Command::new("unshare");
    command.args(["--mount", "--propagation", "private", "sh", "-c", &script]);
    let server = ServerProcess::spawn_command(command).expect("starts on the tmpfs");
    let pid = server.child.id();
    let data_path = data.to_string_lossy().into_owned();
    let filler = format!("{data_path}/filler");

    let ann = Client::connect(&server.target(), None).await.expect("connects");
    ann.register("ann", MEMBER_PASSWORD).await.expect("registers");
    let mut acknowledged = BTreeSet::new();
    for i in 0..10 {
        acknowledged.insert(ann.send(ChannelId(1), &format!("before the disk filled {i}")).await.expect("sends").id);
    }

    // Fill the disk completely (dd stops at "No space left on device").
    let fill = in_server_namespace(pid, &["dd", "if=/dev/zero", &format!("of={filler}"), "bs=64k"]);
    assert!(String::from_utf8_lossy(&fill.stderr).contains("No space left"), "{fill:?}");

    let long = "x".repeat(iptincan::proto::MAX_MESSAGE_CHARS);
    let started = Instant::now();
    let refusal = loop {
        assert!(started.elapsed() < WAIT * 3, "the disk never filled up");
        match ann.send(ChannelId(1), &long).await {
            Ok(message) => {
                acknowledged.insert(message.id);
            }
            Err(err) if err.code() == Some(ErrorCode::RateLimited) => {
                tokio::time::sleep(Duration::from_millis(60)).await
            }
            Err(err) => break err,
        }
    };
    assert_eq!(refusal.code(), Some(ErrorCode::DiskFull), "{refusal}");
    assert!(refusal.to_string().contains("the server's disk is full; nothing was saved"), "{refusal}");

    // The server is still up, the connection still works, and nothing acknowledged is lost.
    let stored = common::all_message_ids(&ann, ChannelId(1)).await;
    assert!(acknowledged.is_subset(&stored), "lost: {:?}", acknowledged.difference(&stored).collect::<Vec<_>>());

    // Space comes back: so does sending.
    let freed = in_server_namespace(pid, &["rm", "-f", &filler]);
    assert!(freed.status.success(), "{freed:?}");
    let after = loop {
        match ann.send(ChannelId(1), "the disk has room again").await {
            Err(err) if err.code() == Some(ErrorCode::RateLimited) => {
                tokio::time::sleep(Duration::from_millis(60)).await
            }
            other => break other.expect("sends once space is freed"),
        }
    };
    let page = ann.history(ChannelId(1), None, Some(1)).await.expect("history");
    assert_eq!(page.messages.first().map(|m| m.id), Some(after.id));
    let (_, status) = server.terminate();
    assert!(status.success());
}

#[tokio::test]
async fn a_backup_onto_a_full_disk_fails_clearly_and_leaves_nothing_behind() {
    if let Err(reason) = can_use_mount_namespaces() {
        println!("SKIPPED a_backup_onto_a_full_disk_fails_clearly_and_leaves_nothing_behind: needs root for a private mount namespace ({reason})");
        return;
    }
    let server = common::TestServer::start().await;
    let (dir, _) = server.stop().await;
    common::write_config(dir.path(), "", "");
    // 3 MiB of uploads cannot fit in the 2 MiB the backup gets.
    let uploads = dir.path().join("uploads").join("ab");
    std::fs::create_dir_all(&uploads).expect("uploads");
    let noise: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(uploads.join("holiday-video"), noise).expect("writes");
    let out = dir.path().join("small-disk");
    std::fs::create_dir(&out).expect("mountpoint");
    let script = format!(
        "mount -t tmpfs -o size=2m tmpfs '{out}' && '{server}' --data-dir '{data}' backup --output '{out}'; \
         echo \"exit=$?\"; ls -A '{out}'",
        out = out.display(),
        server = common::server_binary().display(),
        data = dir.path().display()
    );
    let mut command = Command::new("unshare");
    command.args(["--mount", "--propagation", "private", "sh", "-c", &script]);
    let (_, stdout, stderr) = common::run_bounded(&mut command);
    let (exit, left) = stdout.split_once('\n').expect("exit line");
    assert_eq!(exit, "exit=1", "{stdout}{stderr}");
    assert_eq!(left.trim(), "", "a partial archive was left behind");
    let error = stderr.lines().last().unwrap_or_default();
    assert!(error.starts_with("itc-server: ") && error.contains("No space left on device"), "{stderr}");
}
