//! Copies of a live database (online backup) and integrity checks of a database file.

use super::StoreError;
use rusqlite::Connection;
use std::path::Path;

/// Pages copied per step of a snapshot (4 MiB with the default page size), between progress reports.
const SNAPSHOT_STEP_PAGES: i32 = 1024;

/// Copies the database at `source` into a new file `dest`, as one consistent snapshot, while
/// other connections (this server's writer, or another process) keep writing.
///
/// One read transaction on the source pins the snapshot: everything committed before this
/// call started is in the copy, and writers are never blocked (WAL). SQLite's online backup
/// API copies the pages in steps, calling `progress(pages_done, pages_total)` after each. The
/// copy is then switched to a rollback journal, so that it is one self-contained file, and
/// checked with [`check_integrity`]. Blocking: call it from a blocking thread.
pub fn snapshot(source: &Path, dest: &Path, mut progress: impl FnMut(u64, u64)) -> Result<(), StoreError> {
    let open_err = |path: &Path| {
        let path = path.display().to_string();
        move |err: rusqlite::Error| StoreError::Open { path, reason: err.to_string() }
    };
    let from = open_existing(source).map_err(open_err(source))?;
    from.execute_batch("BEGIN DEFERRED")?;
    from.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))?;
    let mut to = Connection::open(dest).map_err(open_err(dest))?;
    {
        let backup = rusqlite::backup::Backup::new(&from, &mut to)?;
        loop {
            let step = backup.step(SNAPSHOT_STEP_PAGES)?;
            let pages = backup.progress();
            let total = u64::try_from(pages.pagecount).unwrap_or(0);
            let remaining = u64::try_from(pages.remaining).unwrap_or(0);
            progress(total.saturating_sub(remaining), total);
            match step {
                rusqlite::backup::StepResult::Done => break,
                rusqlite::backup::StepResult::More => {}
                _ => std::thread::sleep(std::time::Duration::from_millis(10)),
            }
        }
    }
    from.execute_batch("COMMIT")?;
    to.query_row("PRAGMA journal_mode=DELETE", [], |_| Ok(()))?;
    drop(to);
    check_integrity(dest)
}

/// Runs `PRAGMA integrity_check` on the database file at `path` (which must exist).
/// Blocking: call it from a blocking thread.
pub fn check_integrity(path: &Path) -> Result<(), StoreError> {
    let conn = open_existing(path)
        .map_err(|err| StoreError::Open { path: path.display().to_string(), reason: err.to_string() })?;
    let problems = conn
        .prepare("PRAGMA integrity_check")
        .and_then(|mut statement| statement.query_map([], |row| row.get(0))?.collect::<rusqlite::Result<Vec<String>>>())
        .unwrap_or_else(|err| vec![err.to_string()]);
    if problems.len() == 1 && problems[0] == "ok" {
        return Ok(());
    }
    Err(StoreError::Database(format!("integrity check failed: {}", problems.join("; "))))
}

/// Opens an existing database file for reading and writing, never creating one.
fn open_existing(path: &Path) -> rusqlite::Result<Connection> {
    use rusqlite::OpenFlags;

    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ChannelId;
    use crate::proto::Role;
    use crate::store::tests::open;

    #[tokio::test]
    async fn snapshot_is_consistent_while_another_connection_writes() {
        let (dir, store) = open().await;
        let ann = store.create_user("ann".into(), "h".into(), Role::Member, 1).await.expect("ok");
        let body = "x".repeat(3000);
        for i in 0..2000 {
            store.insert_message(ChannelId(1), ann.clone(), body.clone(), None, i).await.expect("ok");
        }
        let copy = dir.path().join("copy.db");
        let writer = Connection::open(store.path()).expect("opens");
        let mut steps = 0;
        snapshot(store.path(), &copy, |done, total| {
            assert!(done <= total);
            steps += 1;
            // Writes landing between steps must not restart the copy or enter it.
            writer
                .execute(
                    "INSERT INTO messages (channel_id, author_id, body, created_at) VALUES (1, ?1, 'late', 0)",
                    [ann.id],
                )
                .expect("writes during the snapshot");
        })
        .expect("snapshot");
        assert!(steps > 1, "copied in several steps");
        let copied = Connection::open(&copy).expect("opens copy");
        let count: i64 = copied.query_row("SELECT count(*) FROM messages", [], |row| row.get(0)).expect("counts");
        assert_eq!(count, 2000);
        let mode: String = copied.query_row("PRAGMA journal_mode", [], |row| row.get(0)).expect("mode");
        assert_eq!(mode, "delete");
        assert!(matches!(snapshot(&dir.path().join("missing.db"), &copy, |_, _| {}), Err(StoreError::Open { .. })));
    }

    #[test]
    fn integrity_check_finds_damage() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.db");
        let conn = Connection::open(&path).expect("opens");
        conn.execute_batch("CREATE TABLE t (x TEXT); CREATE INDEX tx ON t(x);").expect("creates");
        for i in 0..500 {
            conn.execute("INSERT INTO t VALUES (?1)", [format!("row {i}")]).expect("inserts");
        }
        drop(conn);
        check_integrity(&path).expect("a sound database passes");
        // Page 2 is the table's root: give it a b-tree page type that does not exist.
        let mut bytes = std::fs::read(&path).expect("reads");
        bytes[4096] = 0x01;
        std::fs::write(&path, bytes).expect("writes");
        let err = check_integrity(&path).expect_err("the damage is found");
        assert!(err.to_string().contains("integrity check failed"), "{err}");
    }
}
