//! Background WAL checkpoints. SQLite's automatic checkpoint runs inside the commit that
//! crosses the threshold, so one unlucky write waits for pages to be copied and the database
//! file synced. Instead the writer has `wal_autocheckpoint=0` and this task runs a PASSIVE
//! checkpoint (which never blocks readers or the writer) from its own connection every
//! second; when nothing new was committed it returns at once. A PASSIVE checkpoint cannot
//! rewind the WAL while writes keep arriving, so once the WAL passes `RESTART_AFTER_PAGES`
//! a RESTART checkpoint copies the few pages PASSIVE has not and makes the next write start
//! the WAL over, so the WAL stays bounded and its file is reused instead of growing (a
//! growing WAL stalls appends while a checkpoint syncs). A writer that never pauses would
//! starve this task's RESTART, so busy writers also call `Engine::after_writes` between
//! transactions, which runs the RESTART on the writer connection itself when
//! the last checkpoint saw a large WAL: one short pause every few seconds under sustained writes, instead of a
//! checkpoint inside every thousandth commit.
//!
//! Checkpoints move already-committed data from the WAL into the database file; skipping or
//! interrupting one never loses a committed write.

use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keel_core::{Error, Result};
use rusqlite::Connection;

/// WAL size (in pages) past which the WAL is rewound (about 16 MB with 4 KiB pages).
const RESTART_AFTER_PAGES: i64 = 4_000;

/// WAL frames the last checkpoint saw, shared between the background task and the writer.
#[derive(Clone, Default)]
pub(crate) struct WalFrames(Arc<AtomicI64>);

impl WalFrames {
    /// Whether the WAL has grown past the rewind threshold (as of the last checkpoint).
    pub fn is_large(&self) -> bool {
        self.0.load(Ordering::Relaxed) > RESTART_AFTER_PAGES
    }

    pub fn set(&self, frames: i64) {
        self.0.store(frames, Ordering::Relaxed);
    }
}

/// Starts the checkpoint task for the database at `path`.
pub(crate) fn start(path: &Path, frames: WalFrames) -> Result<tokio::task::AbortHandle> {
    let conn = Connection::open(path).map_err(|e| Error::internal(format!("sqlite checkpointer: {e}")))?;
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(|e| Error::internal(format!("sqlite checkpointer: {e}")))?;
    let conn = Arc::new(Mutex::new(conn));
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let (conn, frames) = (conn.clone(), frames.clone());
            let done = tokio::task::spawn_blocking(move || checkpoint(&conn, &frames)).await;
            match done {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "WAL checkpoint failed"),
                Err(e) => tracing::warn!(error = %e, "WAL checkpoint task failed"),
            }
        }
    });
    Ok(task.abort_handle())
}

fn checkpoint(conn: &Mutex<Connection>, frames: &WalFrames) -> rusqlite::Result<()> {
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
