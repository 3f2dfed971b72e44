//! The batched writer: requests hand their entry to a bounded channel (never waiting), and
//! one background task stores what arrived every [`FLUSH_EVERY`] or every [`MAX_BATCH`]
//! entries, whichever comes first, in one transaction of the logs store.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::entry::LogEntry;
use crate::store::LogStore;

/// Longest an entry waits in the writer before it is stored.
pub const FLUSH_EVERY: Duration = Duration::from_millis(250);
/// Most entries stored in one transaction.
pub const MAX_BATCH: usize = 512;
/// Entries the channel holds; beyond, new entries are dropped and counted.
const CHANNEL: usize = 32_768;
/// Counter of entries dropped because the writer fell behind.
pub const DROPPED_TOTAL: &str = "keel_request_logs_dropped_total";

enum Msg {
    Entry(LogEntry),
    Flush(oneshot::Sender<()>),
}

/// The request logs of a process: the store and its writer. `Default` is logs without a
/// store (nothing is recorded, the logs API answers 503).
#[derive(Default)]
pub struct RequestLogs {
    inner: Option<Inner>,
}

struct Inner {
    store: LogStore,
    tx: mpsc::Sender<Msg>,
}

impl RequestLogs {
    /// Starts the writer task on `store` (call from inside a Tokio runtime). The task ends
    /// once these logs are dropped, after storing what it holds.
    pub fn start(store: LogStore) -> RequestLogs {
        let (tx, rx) = mpsc::channel(CHANNEL);
        tokio::spawn(run(store.clone(), rx));
        RequestLogs {
            inner: Some(Inner { store, tx }),
        }
    }

    /// The store, when these logs have one.
    pub fn store(&self) -> Option<&LogStore> {
        self.inner.as_ref().map(|i| &i.store)
    }

    /// Hands `entry` to the writer without waiting; dropped (and counted) when the writer
    /// is [`CHANNEL`] entries behind, ignored without a store.
    pub fn record(&self, entry: LogEntry) {
        let Some(inner) = &self.inner else { return };
        if inner.tx.try_send(Msg::Entry(entry)).is_err() {
            metrics::counter!(DROPPED_TOTAL).increment(1);
        }
    }

    /// Waits until every entry recorded before this call is stored (tests, shutdown).
    pub async fn flush(&self) {
        let Some(inner) = &self.inner else { return };
        let (done, stored) = oneshot::channel();
        if inner.tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = stored.await;
        }
    }
}

async fn run(store: LogStore, mut rx: mpsc::Receiver<Msg>) {
    let mut msgs = Vec::with_capacity(MAX_BATCH);
    let mut batch: Vec<LogEntry> = Vec::with_capacity(MAX_BATCH);
    let mut waiting: Vec<oneshot::Sender<()>> = Vec::new();
    loop {
        if rx.recv_many(&mut msgs, MAX_BATCH).await == 0 {
            return;
        }
        let deadline = Instant::now() + FLUSH_EVERY;
        loop {
            for m in msgs.drain(..) {
                match m {
                    Msg::Entry(e) => batch.push(e),
                    Msg::Flush(done) => waiting.push(done),
                }
            }
            if !waiting.is_empty() || batch.len() >= MAX_BATCH {
                break;
            }
            let room = MAX_BATCH - batch.len();
            match tokio::time::timeout_at(deadline, rx.recv_many(&mut msgs, room)).await {
                Ok(n) if n > 0 => {}
                _ => break,
            }
        }
        if !batch.is_empty() {
            if let Err(e) = store.insert(&mut batch).await {
                tracing::warn!(error = %e, entries = batch.len(), "request logs not stored");
            }
            batch.clear();
        }
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
}
