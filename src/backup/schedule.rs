//! The backup service, which runs beside the server and needs none: "back up now", the
//! nightly run at `backup.time` (local time) followed by pruning to `backup.retention_days`,
//! what the tray shows (the last backup, the one under way, the next scheduled one), and
//! cancelling the one under way when the program ends.
//!
//! [`next_run`] is the pure schedule arithmetic, tested with fixed time zones; [`Backups`]
//! holds the state and runs the work on a blocking thread, one backup at a time. Its owner
//! (the appliance, `itc-server`) runs [`Backups::run_nightly`] while its server runs; a
//! backup works the same with the server up or stopped (see [`super::create`]).

use super::{BackupError, BackupOptions, BackupReport, Passphrase, Progress, ProgressCell};
use crate::config::{Config, DataDir};
use jiff::civil::Time;
use jiff::{Timestamp, Zoned};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Longest single sleep while waiting for the next run, so that a changed clock or a machine
/// waking from sleep is noticed within this long.
const WAKE_EVERY: Duration = Duration::from_secs(60);

/// The first moment after `now` when the local clock of `now`'s time zone shows `at`.
///
/// On a day when `at` does not exist (clocks jump forward over it) the run is at the
/// corresponding moment after the jump (02:30 becomes 03:30); on a day when it happens twice
/// (clocks go back) the run is at the first of the two, and not again at the second.
pub(crate) fn next_run(now: &Zoned, at: Time) -> Zoned {
    let mut date = now.date();
    loop {
        // A time zone where the date itself is missing cannot be resolved: try the next day.
        if let Ok(candidate) = date.to_datetime(at).to_zoned(now.time_zone().clone()) {
            if candidate.timestamp() > now.timestamp() {
                return candidate;
            }
        }
        match date.tomorrow() {
            Ok(next) => date = next,
            Err(_) => return now.clone(),
        }
    }
}

/// How a backup ended.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum BackupOutcome {
    /// The archive was written and verified.
    Written(BackupReport),
    /// It was cancelled (the program was ending) and left no partial archive.
    Cancelled,
    /// It failed; the error message.
    Failed(String),
}

/// How the last backup went.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupStatus {
    /// When it ended.
    pub finished: Timestamp,
    /// How.
    pub outcome: BackupOutcome,
}

/// The backups of one data directory.
#[derive(Debug)]
pub struct Backups {
    data_dir: DataDir,
    config: Mutex<Config>,
    one_at_a_time: tokio::sync::Mutex<()>,
    last: Mutex<Option<BackupStatus>>,
    progress: ProgressCell,
    /// Cancelled by [`Backups::close`]: stops the backup under way and refuses later ones.
    closing: CancellationToken,
    /// Every backup's task, so that [`Backups::close`] can wait for them to clean up.
    tasks: TaskTracker,
}

impl Backups {
    /// Backups for the server with this configuration and data directory.
    pub fn new(config: Config, data_dir: DataDir) -> Self {
        Backups {
            data_dir,
            config: Mutex::new(config),
            one_at_a_time: tokio::sync::Mutex::new(()),
            last: Mutex::new(None),
            progress: ProgressCell::default(),
            closing: CancellationToken::new(),
            tasks: TaskTracker::new(),
        }
    }

    /// Uses `config` from the next backup on (the nightly schedule takes it when it is next
    /// started).
    pub(crate) fn reconfigure(&self, config: Config) {
        *self.config.lock().unwrap_or_else(|p| p.into_inner()) = config;
    }

    fn config(&self) -> Config {
        self.config.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Takes a backup into `backup.directory` now (encrypted when `backup.passphrase_file` is
    /// set), then deletes archives there older than `backup.retention_days`. Waits for a
    /// backup already running to finish first. Logs one line.
    ///
    /// The backup runs in a task of its own: if the caller stops waiting, it still finishes
    /// (or is cancelled by [`Backups::close`]) and its outcome is still recorded.
    pub async fn back_up_now(self: &Arc<Self>) -> Result<BackupReport, BackupError> {
        let backups = self.clone();
        let task = self.tasks.spawn(async move { backups.run_one().await });
        task.await.unwrap_or_else(|join| Err(BackupError::io("backup", std::io::Error::other(join.to_string()))))
    }

    async fn run_one(&self) -> Result<BackupReport, BackupError> {
        let _turn = self.one_at_a_time.lock().await;
        let (config, data_dir) = (self.config(), self.data_dir.clone());
        let cancel = self.closing.child_token();
        let record_progress = self.progress.recorder();
        let outcome = tokio::task::spawn_blocking(move || {
            if cancel.is_cancelled() {
                return Err(BackupError::Cancelled);
            }
            let passphrase = match config.backup.passphrase_file.as_str() {
                "" => None,
                file => Some(Passphrase::from_file(&data_dir.resolve(file))?),
            };
            let options = BackupOptions { output: None, passphrase, cancel };
            let report = super::create(&config, &data_dir, &options, record_progress)?;
            let folder = data_dir.resolve(&config.backup.directory);
            let pruned = super::prune(&folder, config.backup.retention_days, Timestamp::now())?;
            Ok((report, pruned.len()))
        })
        .await
        .unwrap_or_else(|join| Err(BackupError::io("backup", std::io::Error::other(join.to_string()))));
        self.progress.clear();
        let (status, outcome) = match outcome {
            Ok((report, pruned)) => {
                tracing::info!(file = %report.path.display(), bytes = report.size, pruned, "backup written and verified");
                (Ok(report.clone()), BackupOutcome::Written(report))
            }
            Err(BackupError::Cancelled) => {
                tracing::info!("backup cancelled; no partial archive was left");
                (Err(BackupError::Cancelled), BackupOutcome::Cancelled)
            }
            Err(err) => {
                tracing::error!(error = %err, "backup failed");
                let message = err.to_string();
                (Err(err), BackupOutcome::Failed(message))
            }
        };
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(BackupStatus { finished: Timestamp::now(), outcome });
        status
    }

    /// Cancels the backup under way and any asked for later (they end with
    /// [`BackupError::Cancelled`]), and waits until the one under way has removed its partial
    /// files. For when the program ends: the service takes no more backups afterwards.
    pub async fn close(&self) {
        self.closing.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }

    /// The archives in `backup.directory`, oldest first.
    pub fn archives(&self) -> Result<Vec<super::ArchiveInfo>, BackupError> {
        let config = self.config();
        super::list(&self.data_dir.resolve(&config.backup.directory))
    }

    /// How the last backup since start-up went, if there was one.
    pub fn last(&self) -> Option<BackupStatus> {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// How far the backup under way has got; None when none runs.
    pub(crate) fn in_progress(&self) -> Option<Progress> {
        self.progress.get()
    }

    /// When the next nightly backup is due; None when they are off.
    pub fn next(&self) -> Option<Zoned> {
        let backup = self.config().backup;
        let at = backup.time_of_day().ok().filter(|_| backup.enabled)?;
        Some(next_run(&Zoned::now(), at))
    }

    /// Runs the nightly backups until `stop` (returns at once when `backup.enabled` is off).
    /// A backup under way when `stop` comes finishes in the background.
    pub async fn run_nightly(self: Arc<Self>, stop: CancellationToken) {
        let backup = self.config().backup;
        if !backup.enabled {
            return;
        }
        let at = match backup.time_of_day() {
            Ok(at) => at,
            Err(err) => return tracing::error!(error = %err, "nightly backups are off"),
        };
        loop {
            let due = next_run(&Zoned::now(), at);
            loop {
                let left = Zoned::now().duration_until(&due);
                let Ok(left) = Duration::try_from(left) else { break };
                if left.is_zero() {
                    break;
                }
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(left.min(WAKE_EVERY)) => {}
                }
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = self.back_up_now() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::{date, time};
    use jiff::tz::TimeZone;

    /// US Eastern rules, without needing a time-zone database on the machine.
    fn eastern() -> TimeZone {
        TimeZone::posix("EST5EDT,M3.2.0,M11.1.0").expect("posix tz")
    }

    fn local(y: i16, mo: i8, d: i8, h: i8, mi: i8, s: i8) -> Zoned {
        date(y, mo, d).at(h, mi, s, 0).to_zoned(eastern()).expect("exists")
    }

    #[test]
    fn later_today_or_else_tomorrow() {
        let at = time(3, 0, 0, 0);
        assert_eq!(next_run(&local(2026, 1, 10, 1, 0, 0), at), local(2026, 1, 10, 3, 0, 0));
        assert_eq!(
            next_run(&local(2026, 1, 10, 3, 0, 0), at),
            local(2026, 1, 11, 3, 0, 0),
            "not twice at the same time"
        );
        assert_eq!(next_run(&local(2026, 1, 10, 3, 0, 1), at), local(2026, 1, 11, 3, 0, 0));
        assert_eq!(next_run(&local(2026, 12, 31, 23, 0, 0), at), local(2027, 1, 1, 3, 0, 0), "across the year");
    }

    #[test]
    fn midnight() {
        let midnight = time(0, 0, 0, 0);
        assert_eq!(next_run(&local(2026, 1, 10, 23, 59, 59), midnight), local(2026, 1, 11, 0, 0, 0));
        assert_eq!(next_run(&local(2026, 1, 11, 0, 0, 0), midnight), local(2026, 1, 12, 0, 0, 0));
        assert_eq!(next_run(&local(2026, 2, 28, 12, 0, 0), midnight), local(2026, 3, 1, 0, 0, 0));
    }

    #[test]
    fn daylight_saving_gap_runs_after_the_jump() {
        // 2026-03-08: clocks go from 02:00 EST straight to 03:00 EDT; 02:30 does not exist.
        let at = time(2, 30, 0, 0);
        let run = next_run(&local(2026, 3, 8, 1, 0, 0), at);
        assert_eq!(run.timestamp(), "2026-03-08T07:30:00Z".parse::<Timestamp>().expect("ts"));
        assert_eq!(run.time(), time(3, 30, 0, 0));
        assert_eq!(next_run(&run, at), local(2026, 3, 9, 2, 30, 0), "and once only");
    }

    #[test]
    fn daylight_saving_fold_runs_once() {
        // 2026-11-01: 01:30 happens twice (EDT, then EST). Run at the first, not the second.
        let at = time(1, 30, 0, 0);
        let first = next_run(&local(2026, 11, 1, 0, 0, 0), at);
        assert_eq!(first.timestamp(), "2026-11-01T05:30:00Z".parse::<Timestamp>().expect("ts"));
        let between = first.checked_add(jiff::SignedDuration::from_mins(45)).expect("adds"); // 01:15 EST
        assert_eq!(next_run(&between, at), local(2026, 11, 2, 1, 30, 0));
    }
}
