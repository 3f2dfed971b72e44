//! The batched writer: a request appends its entry to a shared buffer (a short lock, never
//! a wait on I/O, no task woken), and one background task takes the whole buffer every
//! [`FLUSH_EVERY`], or as soon as it holds [`MAX_BATCH`] entries, and stores it in
//! transactions of at most [`MAX_BATCH`] rows.
//!
//! The writer is woken once per batch, not once per entry: the first entry into an empty
//! buffer starts the [`FLUSH_EVERY`] wait, the entry that fills a batch ends it early. A
//! channel would wake the writer (and re-arm its timer) for every request, which cost more
//! than the rows' inserts at tens of thousands of requests a second.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{oneshot, Notify};

use crate::entry::PendingEntry;
use crate::store::LogStore;

/// Longest an entry waits in the buffer before it is stored.
pub const FLUSH_EVERY: Duration = Duration::from_millis(250);
/// Most entries stored in one transaction; a buffer this full is stored without waiting.
pub const MAX_BATCH: usize = 1024;
/// Entries the buffer holds; beyond, new entries are dropped and counted.
const CAPACITY: usize = 32_768;
/// Counter of entries dropped because the writer fell behind.
pub const DROPPED_TOTAL: &str = "keel_request_logs_dropped_total";

/// What the requests and the writer share.
#[derive(Default)]
struct Shared {
    state: Mutex<Pending>,
    /// Wakes the writer: an entry into an empty buffer, a full batch, a flush, the end.
    wake: Notify,
}

#[derive(Default)]
struct Pending {
    entries: Vec<PendingEntry>,
    /// Callers of [`RequestLogs::flush`] waiting for what was recorded before them.
    flushes: Vec<oneshot::Sender<()>>,
    /// Set when the logs are dropped: the writer stores what is left, then ends.
    closed: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // A panic while holding the lock leaves a plain buffer, still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The request logs of a process: the store and its writer. `Default` is logs without a
/// store (nothing is recorded, the logs API answers 503).
#[derive(Default)]
pub struct RequestLogs {
    inner: Option<Inner>,
}

struct Inner {
    store: LogStore,
    shared: Arc<Shared>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
    }
}

impl RequestLogs {
    /// Starts the writer task on `store` (call from inside a Tokio runtime). The task ends
    /// once these logs are dropped, after storing what it holds.
    pub fn start(store: LogStore) -> RequestLogs {
        let shared = Arc::new(Shared::default());
        tokio::spawn(run(store.clone(), shared.clone()));
        RequestLogs {
            inner: Some(Inner { store, shared }),
        }
    }

    /// The store, when these logs have one.
    pub fn store(&self) -> Option<&LogStore> {
        self.inner.as_ref().map(|i| &i.store)
    }

    /// Hands a row to the writer without waiting: `data` is the text of a JSON object, stored
    /// as it is. Dropped (and counted) when the writer is [`CAPACITY`] entries behind,
    /// ignored without a store.
    pub fn record(&self, created: DateTime<Utc>, level: i64, message: String, data: String) {
        let Some(inner) = &self.inner else { return };
        let entry = PendingEntry {
            created,
            level,
            message,
            data,
        };
        let held = {
            let mut pending = inner.shared.lock();
            if pending.entries.len() >= CAPACITY {
                drop(pending);
                metrics::counter!(DROPPED_TOTAL).increment(1);
                return;
            }
            pending.entries.push(entry);
            pending.entries.len()
        };
        if held == 1 || held == MAX_BATCH {
            inner.shared.wake.notify_one();
        }
    }

    /// Waits until every entry recorded before this call is stored (tests, shutdown).
    pub async fn flush(&self) {
        let Some(inner) = &self.inner else { return };
        let (done, stored) = oneshot::channel();
        inner.shared.lock().flushes.push(done);
        inner.shared.wake.notify_one();
        let _ = stored.await;
    }
}

/// The writer task: waits for a first entry, lets a batch gather for [`FLUSH_EVERY`] (unless
/// it fills, a flush is asked or the logs end), then stores everything the buffer holds.
async fn run(store: LogStore, shared: Arc<Shared>) {
    let mut entries: Vec<PendingEntry> = Vec::with_capacity(MAX_BATCH);
    loop {
        shared.wake.notified().await;
        if !urgent(&shared.lock()) {
            let gather = tokio::time::sleep(FLUSH_EVERY);
            tokio::pin!(gather);
            loop {
                tokio::select! {
                    _ = &mut gather => break,
                    _ = shared.wake.notified() => {
                        if urgent(&shared.lock()) {
                            break;
                        }
                    }
                }
            }
        }
        let (flushes, closed) = {
            let mut pending = shared.lock();
            std::mem::swap(&mut entries, &mut pending.entries);
            (std::mem::take(&mut pending.flushes), pending.closed)
        };
        while !entries.is_empty() {
            let take = entries.len().min(MAX_BATCH);
            if let Err(e) = store.write(entries.drain(..take)).await {
                tracing::warn!(error = %e, entries = take, "request logs not stored");
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
        if closed {
            return;
        }
    }
}

/// Whether the writer should store at once: a full batch, a flush asked, or the end.
fn urgent(pending: &Pending) -> bool {
    pending.entries.len() >= MAX_BATCH || !pending.flushes.is_empty() || pending.closed
}
