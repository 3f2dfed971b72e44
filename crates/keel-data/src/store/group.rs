//! Group commit for record creates: creates that arrive while the writer is busy share one
//! transaction, so one `BEGIN`/`COMMIT` pays for many inserts.
//!
//! Each create still succeeds or fails on its own: validation errors leave the shared
//! transaction untouched, a unique-constraint violation aborts only its statement, and a
//! create rule (checked after the insert) runs inside a savepoint that is rolled back when it
//! fails. Anything else (an engine error, a failed commit) rolls the whole group back and
//! every create in it is retried alone, so a create is answered only after its own data is
//! committed.

use std::sync::{Arc, Weak};

use keel_core::{Error, Result};
use tokio::sync::{mpsc, oneshot};

use super::records::Write;
use super::{Record, Store};
use crate::request::{Access, RequestInfo};
use crate::schema::{Collection, RecordData};

/// Largest number of creates committed together.
const MAX_GROUP: usize = 64;

/// One queued create and where to send its result.
pub(crate) struct CreateJob {
    pub collection: Arc<Collection>,
    pub data: RecordData,
    pub req: RequestInfo,
    /// `None`: no rule check (superuser); `Some(rule)`: the create rule.
    pub rule: Option<String>,
    pub reply: oneshot::Sender<Result<Record>>,
}

impl CreateJob {
    fn access(&self) -> Access<'_> {
        self.rule.as_deref().map_or(Access::Superuser, Access::Rule)
    }

    fn guarded(&self) -> bool {
        self.rule.as_deref().is_some_and(|r| !r.trim().is_empty())
    }
}

/// Starts the writer task; it stops when the store is dropped.
pub(crate) fn start(store: &Arc<Store>) -> mpsc::Sender<CreateJob> {
    let (tx, rx) = mpsc::channel(4 * MAX_GROUP);
    tokio::spawn(run(Arc::downgrade(store), rx));
    tx
}

async fn run(store: Weak<Store>, mut rx: mpsc::Receiver<CreateJob>) {
    let mut jobs = Vec::with_capacity(MAX_GROUP);
    while rx.recv_many(&mut jobs, MAX_GROUP).await > 0 {
        let Some(store) = store.upgrade() else { break };
        let batch = std::mem::replace(&mut jobs, Vec::with_capacity(MAX_GROUP));
        execute(&store, batch).await;
        if let Err(e) = store.engine.after_writes().await {
            tracing::warn!(error = %e, "post-write housekeeping failed");
        }
    }
}

async fn execute(store: &Store, jobs: Vec<CreateJob>) {
    if jobs.len() > 1 {
        match together(store, &jobs).await {
            Ok(results) => {
                for (job, result) in jobs.into_iter().zip(results) {
                    let _ = job.reply.send(result);
                }
                return;
            }
            Err(e) => tracing::warn!(error = %e, creates = jobs.len(), "group commit failed; retrying one by one"),
        }
    }
    for job in jobs {
        let result = alone(store, &job).await;
        let _ = job.reply.send(result);
    }
}

/// One create in its own transaction.
async fn alone(store: &Store, job: &CreateJob) -> Result<Record> {
    let mut w = Write::begin(store).await?;
    let record = w
        .create(&job.collection, job.data.clone(), &job.req, job.access())
        .await?;
    w.commit().await?;
    Ok(record)
}

/// Every create in one transaction; `Err` when the transaction as a whole failed.
async fn together(store: &Store, jobs: &[CreateJob]) -> Result<Vec<Result<Record>>> {
    let mut w = Write::begin(store).await?;
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        let guarded = job.guarded();
        if guarded {
            w.execute_raw("SAVEPOINT keel_create").await?;
        }
        let result = w
            .create(&job.collection, job.data.clone(), &job.req, job.access())
            .await;
        if guarded {
            if result.is_err() {
                w.execute_raw("ROLLBACK TO keel_create").await?;
            }
            w.execute_raw("RELEASE keel_create").await?;
        }
        if let Err(Error::Internal(cause)) = &result {
            return Err(Error::Internal(cause.clone()));
        }
        results.push(result);
    }
    w.commit().await?;
    Ok(results)
}
