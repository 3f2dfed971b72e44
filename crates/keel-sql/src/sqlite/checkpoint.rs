//! Background WAL checkpoints. SQLite's automatic checkpoint runs inside the commit that
//! crosses the threshold, so one unlucky write waits for pages to be copied and the database
//! file synced. Instead the writer has `wal_autocheckpoint=0` and this task checkpoints from
//! its own connection.
//!
//! When: a checkpoint syncs the WAL and the database file, and on ext4 a write that lands
//! during such a sync waits for the filesystem journal (measured: single commits of 10–20 ms
//! instead of 0.1 ms, once per checkpoint). So the task checkpoints as soon as writes pause
//! (no commit for one tick, `TICK`), and under a stream of writes that never pauses, at
//! most every `MAX_DEFER`: a short stall every few seconds instead of one every second.
//!
//! How: a PASSIVE checkpoint, which never blocks readers or the writer. A PASSIVE checkpoint
//! cannot rewind the WAL while writes keep arriving, so once the WAL passes
//! `RESTART_AFTER_PAGES` a RESTART checkpoint copies the few pages PASSIVE has not and makes
//! the next write start the WAL over, so the WAL stays bounded and its file is reused instead
//! of growing. A writer that never pauses would starve this task's RESTART, so busy writers
//! also call `Engine::after_writes` between transactions, which runs the RESTART on the
//! writer connection itself when the last checkpoint saw a large WAL.
//!
//! Checkpoints move already-committed data from the WAL into the database file; skipping,
//! deferring or interrupting one never loses a committed write.
//!
//! Flushing: with `synchronous=NORMAL` a commit never syncs the WAL, so between checkpoints
//! seconds of appended WAL pages stay dirty in the page cache, and the checkpoint's sync of
//! them (tens of ms to 0.4 s measured) stalls the commits that land meanwhile: create p99
//! 18–50 ms in most runs of `bench/records.sh`. So the same task also syncs the WAL's data
//! every `FLUSH_EVERY` while commits arrive (on the blocking pool, never in a writer's
//! commit): each sync has little to write, checkpoints find the WAL already on disk (create
//! p99 5.8–7.2 ms, throughput unchanged; docs/BENCHMARKS.md), and an OS crash or power loss
//! loses at most about `FLUSH_EVERY` of commits.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keel_core::{Error, Result};
use rusqlite::Connection;

use super::readers::Readers;

/// WAL size (in pages) past which the WAL is rewound (about 16 MB with 4 KiB pages).
const RESTART_AFTER_PAGES: i64 = 4_000;

/// How often the task looks at the WAL.
const TICK: Duration = Duration::from_secs(1);

/// The longest a checkpoint waits for writes to pause.
const MAX_DEFER: Duration = Duration::from_secs(5);

/// How often the WAL's appended pages are synced while commits arrive.
const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// What the writer and the background task share: the WAL frames the last checkpoint saw,
/// and a count of commits.
#[derive(Clone, Default)]
pub(crate) struct WalCounters(Arc<Counters>);

#[derive(Default)]
pub(crate) struct Counters {
    frames: AtomicI64,
    commits: AtomicU64,
}

impl WalCounters {
    /// Whether the WAL has grown past the rewind threshold (as of the last checkpoint).
    pub fn is_large(&self) -> bool {
        self.0.frames.load(Ordering::Relaxed) > RESTART_AFTER_PAGES
    }

    pub fn set(&self, frames: i64) {
        self.0.frames.store(frames, Ordering::Relaxed);
    }

    /// Counts one committed write transaction.
    pub fn committed(&self) {
        self.0.commits.fetch_add(1, Ordering::Relaxed);
    }

    pub fn commits(&self) -> u64 {
        self.0.commits.load(Ordering::Relaxed)
    }
}

/// Decides, tick by tick, whether to checkpoint now.
struct Policy {
    /// Commits seen at the previous tick.
    seen: u64,
    /// Commits covered by the last checkpoint.
    checkpointed: u64,
    last_checkpoint: Instant,
}

impl Policy {
    fn new(commits: u64, now: Instant) -> Policy {
        Policy {
            seen: commits,
            checkpointed: commits,
            last_checkpoint: now,
        }
    }

    /// Whether to checkpoint at this tick, given the commit count now.
    fn due(&mut self, commits: u64, now: Instant) -> bool {
        let writing = commits != self.seen;
        self.seen = commits;
        if commits == self.checkpointed {
            return false; // nothing new since the last checkpoint
        }
        if writing && now.duration_since(self.last_checkpoint) < MAX_DEFER {
            return false; // writes are arriving: wait for a pause, up to MAX_DEFER
        }
        self.checkpointed = commits;
        self.last_checkpoint = now;
        true
    }
}

/// Starts the checkpoint task for the database at `path` (it also flushes the WAL).
pub(crate) fn start(path: &Path, frames: WalCounters, readers: Arc<Readers>) -> Result<tokio::task::AbortHandle> {
    let conn = Connection::open(path).map_err(|e| Error::internal(format!("sqlite checkpointer: {e}")))?;
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(|e| Error::internal(format!("sqlite checkpointer: {e}")))?;
    let conn = Arc::new(Mutex::new(conn));
    let mut flusher = Flusher::new(path, frames.commits());
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut flush = tokio::time::interval(FLUSH_EVERY);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // A checkpoint at start folds in whatever an earlier process left in the WAL.
        let mut policy = Policy::new(u64::MAX, Instant::now());
        loop {
            tokio::select! {
                _ = flush.tick() => {
                    if flusher.due(frames.commits()) {
                        let wal = flusher.wal.clone();
                        let synced = tokio::task::spawn_blocking(move || sync_wal(&wal)).await;
                        flusher.report(synced.unwrap_or_else(|e| Err(std::io::Error::other(e))));
                    }
                    continue;
                }
                _ = tick.tick() => {}
            }
            if !policy.due(frames.commits(), Instant::now()) {
                continue;
            }
            let (conn, frames, readers) = (conn.clone(), frames.clone(), readers.clone());
            let done = tokio::task::spawn_blocking(move || {
                // Idle readers' snapshots would keep the checkpoint from copying every page.
                let _hold = readers.hold_snapshots();
                checkpoint(&conn, &frames)
            })
            .await;
            match done {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "WAL checkpoint failed"),
                Err(e) => tracing::warn!(error = %e, "WAL checkpoint task failed"),
            }
        }
    });
    Ok(task.abort_handle())
}

/// Decides when the WAL needs a sync (commits arrived since the last one) and reports
/// failing syncs once, not every `FLUSH_EVERY`.
struct Flusher {
    wal: PathBuf,
    /// Commits covered by the last sync.
    flushed: u64,
    failing: bool,
}

impl Flusher {
    fn new(db: &Path, commits: u64) -> Flusher {
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        Flusher {
            wal: PathBuf::from(wal),
            flushed: commits,
            failing: false,
        }
    }

    /// Whether to sync now, given the commit count now (a sync that fails is retried).
    fn due(&mut self, commits: u64) -> bool {
        if commits == self.flushed && !self.failing {
            return false;
        }
        self.flushed = commits;
        true
    }

    fn report(&mut self, synced: std::io::Result<()>) {
        match synced {
            Ok(()) => {
                if self.failing {
                    tracing::info!(wal = %self.wal.display(), "WAL sync works again");
                }
                self.failing = false;
            }
            Err(e) => {
                if !self.failing {
                    tracing::warn!(wal = %self.wal.display(), error = %e, "WAL sync failed; retrying");
                }
                self.failing = true;
            }
        }
    }
}

/// Syncs the WAL's data. SQLite holds no lock on the WAL file itself (WAL mode locks the
/// `-shm` file), so opening and closing another descriptor of it releases none of its locks.
fn sync_wal(wal: &Path) -> std::io::Result<()> {
    match std::fs::File::open(wal) {
        Ok(f) => f.sync_data(),
        // No WAL yet (or it was removed with the last connection): nothing to sync.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn checkpoint(conn: &Mutex<Connection>, frames: &WalCounters) -> rusqlite::Result<()> {
    let conn = match conn.lock() {
        Ok(c) => c,
        Err(poisoned) => poisoned.into_inner(),
    };
    // (busy, pages in the WAL, pages copied to the database)
    let wal_pages: i64 = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))?;
    frames.set(wal_pages);
    if wal_pages > RESTART_AFTER_PAGES {
        let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| r.get(0))?;
        if busy == 0 {
            frames.set(0);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wal_is_synced_only_after_commits_and_until_a_sync_works() {
        let mut f = Flusher::new(Path::new("/data/keel.db"), 5);
        assert_eq!(f.wal, Path::new("/data/keel.db-wal"));
        assert!(!f.due(5), "no commit since start: nothing to sync");
        assert!(f.due(7), "two commits: sync");
        f.report(Ok(()));
        assert!(!f.due(7), "synced, nothing new");
        assert!(f.due(8));
        f.report(Err(std::io::Error::other("disk gone")));
        assert!(f.due(8), "a failed sync is tried again");
        f.report(Ok(()));
        assert!(!f.due(8));
    }

    #[test]
    fn a_missing_wal_needs_no_sync_and_an_unreadable_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let wal = dir.path().join("keel.db-wal");
        sync_wal(&wal).unwrap();
        std::fs::write(&wal, b"frames").unwrap();
        sync_wal(&wal).unwrap();
        // A path through a regular file cannot be opened: reported, not taken for "no WAL".
        assert!(sync_wal(&wal.join("keel.db-wal")).is_err());
    }

    #[test]
    fn checkpoints_wait_for_a_pause_in_writes_but_not_past_max_defer() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut p = Policy::new(0, t0);
        assert!(!p.due(0, at(1)), "nothing written, nothing to do");
        assert!(!p.due(10, at(2)), "writes arriving: wait");
        assert!(p.due(10, at(3)), "writes paused for a tick: checkpoint");
        assert!(!p.due(10, at(4)), "nothing new since");
        // A stream that never pauses is checkpointed once MAX_DEFER has passed.
        let mut n = 10;
        let mut done = Vec::new();
        for s in 5..20 {
            n += 100;
            if p.due(n, at(s)) {
                done.push(s);
            }
        }
        let gap = MAX_DEFER.as_secs();
        assert_eq!(done, vec![3 + gap, 3 + 2 * gap, 3 + 3 * gap]);
    }
}
