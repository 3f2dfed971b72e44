//! The batched writer: requests hand their entry to a bounded channel (never waiting), and
//! one background task stores what arrived every [`FLUSH_EVERY`] or every [`MAX_BATCH`]
//! entries, whichever comes first, in one transaction of the logs store.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::entry::PendingEntry;
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
    Entry(PendingEntry),
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

    /// Hands a row to the writer without waiting: `data` (a struct or map serializing to a
    /// JSON object) is serialized here, once. Dropped (and counted) when the writer is
    /// [`CHANNEL`] entries behind, ignored without a store.
    pub fn record<D: Serialize + ?Sized>(&self, created: DateTime<Utc>, level: i64, message: String, data: &D) {
        let Some(inner) = &self.inner else { return };
        let Ok(data) = serde_json::to_string(data) else {
            metrics::counter!(DROPPED_TOTAL).increment(1);
            return;
        };
        let entry = PendingEntry {
            created,
            level,
            message,
            data,
        };
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
    let mut batch: Vec<PendingEntry> = Vec::with_capacity(MAX_BATCH);
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
            let entries = batch.len();
            if let Err(e) = store.write(batch.drain(..)).await {
                tracing::warn!(error = %e, entries, "request logs not stored");
            }
        }
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
}
