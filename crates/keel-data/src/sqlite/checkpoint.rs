//! Background WAL checkpoints. SQLite's automatic checkpoint runs inside the commit that
//! crosses the threshold, so one unlucky write waits for pages to be copied and the database
//! file synced. Instead the writer has `wal_autocheckpoint=0` and this task runs a PASSIVE
//! checkpoint (which never blocks readers or the writer) from its own connection every
//! second; when nothing new was committed it returns at once. A PASSIVE checkpoint cannot
//! rewind the WAL while writes keep arriving, so once the WAL passes `RESTART_AFTER_PAGES`
//! a RESTART checkpoint waits for the writer between two transactions, copies the few
//! pages PASSIVE has not, and makes the next write start the WAL over: the WAL stays
//! bounded (about 64 MB) at the price of one short pause every few seconds under sustained
//! writes, instead of a checkpoint inside every thousandth commit.
//!
//! Checkpoints move already-committed data from the WAL into the database file; skipping or
//! interrupting one never loses a committed write.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keel_core::{Error, Result};
use rusqlite::Connection;

/// WAL size (in pages) past which the WAL is rewound (about 64 MB with 4 KiB pages).
const RESTART_AFTER_PAGES: i64 = 16_000;

/// Starts the checkpoint task for the database at `path`.
pub(crate) fn start(path: &Path) -> Result<tokio::task::AbortHandle> {
    let conn = Connection::open(path).map_err(|e| Error::internal(format!("sqlite checkpointer: {e}")))?;
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(|e| Error::internal(format!("sqlite checkpointer: {e}")))?;
    let conn = Arc::new(Mutex::new(conn));
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let conn = conn.clone();
            let done = tokio::task::spawn_blocking(move || checkpoint(&conn)).await;
            match done {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "WAL checkpoint failed"),
                Err(e) => tracing::warn!(error = %e, "WAL checkpoint task failed"),
            }
        }
    });
    Ok(task.abort_handle())
}

fn checkpoint(conn: &Mutex<Connection>) -> rusqlite::Result<()> {
    let conn = match conn.lock() {
        Ok(c) => c,
        Err(poisoned) => poisoned.into_inner(),
    };
    // (busy, pages in the WAL, pages copied to the database)
    let wal_pages: i64 = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))?;
    if wal_pages > RESTART_AFTER_PAGES {
        conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))?;
    }
    Ok(())
}
