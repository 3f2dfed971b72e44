//! Enqueueing: one job or a batch, in one transaction; unique keys return the pending job.

use keel_core::queue::validate_queue_name;
use keel_core::Result;
use keel_sql::Tx;
use serde_json::json;

use super::{db, job_from_row, now_ms, opt, JobStore, JOB_COLUMNS};
use crate::model::{Job, NewJob, QueueSettings};

/// The defaults of a job enqueued without them.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
pub const DEFAULT_PRIORITY: i32 = 5;

/// An enqueued job, and whether it is new (`false`: a pending job with its unique key).
#[derive(Debug, Clone)]
pub struct Enqueued {
    pub job: Job,
    pub created: bool,
}

impl JobStore {
    /// Enqueues `jobs` into `queue`, all or none. A job whose unique key matches a pending
    /// job of the queue is not added; that job is returned with `created: false`.
    ///
    /// Concurrent calls share a transaction (group commit, `group.rs`); each is answered only
    /// once the transaction holding it committed.
    pub async fn enqueue(&self, queue: &str, jobs: Vec<NewJob>) -> Result<Vec<Enqueued>> {
        validate_queue_name(queue)?;
        for (i, job) in jobs.iter().enumerate() {
            job.validate().map_err(|e| prefix_index(e, i, jobs.len()))?;
        }
        match &self.grouper {
            Some(grouper) => grouper.enqueue(queue, jobs).await,
            None => {
                let (store, queue) = (self.clone(), queue.to_string());
                Self::detached(async move { store.enqueue_alone(&queue, &jobs).await }).await
            }
        }
    }

    /// Enqueues validated jobs in a transaction of their own.
    pub(crate) async fn enqueue_alone(&self, queue: &str, jobs: &[NewJob]) -> Result<Vec<Enqueued>> {
        let mut tx = self.begin().await?;
        let out = self.enqueue_on(tx.as_mut(), queue, jobs, now_ms()).await?;
        tx.commit().await.map_err(db)?;
        Ok(out)
    }

    /// `enqueue` inside the caller's transaction (jobs already validated).
    pub(crate) async fn enqueue_on(
        &self,
        tx: &mut dyn Tx,
        queue: &str,
        jobs: &[NewJob],
        now: i64,
    ) -> Result<Vec<Enqueued>> {
        self.ensure_queue(tx, queue, now).await?;
        let mut out = Vec::with_capacity(jobs.len());
        for job in jobs {
            let run_at = match (job.run_at, job.delay_ms) {
                (Some(t), _) => t.timestamp_millis(),
                (None, Some(d)) => now.saturating_add(d),
                (None, None) => now,
            };
            let backoff =
                serde_json::to_string(&job.backoff.unwrap_or_default()).map_err(keel_core::Error::internal)?;
            let payload = serde_json::to_string(&job.payload).map_err(keel_core::Error::internal)?;
            // Only the unique index on pending jobs' keys can refuse a fresh id.
            let sql = format!(
                "{} RETURNING {JOB_COLUMNS}",
                self.dialect().insert_ignoring_duplicates(
                    "keel_jobs (id, queue, name, payload, state, priority, run_at, attempts, max_attempts, \
                     backoff, timeout_ms, unique_key, errors, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, 'waiting', $5, $6, 0, $7, $8, $9, $10, '[]', $11, $11)"
                )
            );
            let params = [
                json!(keel_core::id::new_id()),
                json!(queue),
                json!(job.name.clone().unwrap_or_else(|| "default".into())),
                json!(payload),
                json!(i64::from(job.priority.unwrap_or(DEFAULT_PRIORITY))),
                json!(run_at),
                json!(i64::from(job.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS))),
                json!(backoff),
                json!(job.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS) as i64),
                opt(job.unique_key.clone()),
                json!(now),
            ];
            let row = self.rows(tx, &sql, &params).await?.into_iter().next();
            match row {
                Some(row) => out.push(Enqueued {
                    job: job_from_row(&row)?,
                    created: true,
                }),
                None => {
                    // Only the unique index can refuse a fresh id: return the pending job.
                    let sql = format!(
                        "SELECT {JOB_COLUMNS} FROM keel_jobs WHERE queue = $1 AND unique_key = $2 \
                         AND state IN ('waiting', 'active', 'failed')"
                    );
                    let rows = self
                        .rows(tx, &sql, &[json!(queue), opt(job.unique_key.clone())])
                        .await?;
                    let row = rows
                        .into_iter()
                        .next()
                        .ok_or_else(|| keel_core::Error::internal("jobs store: a unique job vanished"))?;
                    out.push(Enqueued {
                        job: job_from_row(&row)?,
                        created: false,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Creates the queue's settings row with the defaults, if it has none.
    pub(crate) async fn ensure_queue(&self, tx: &mut dyn Tx, queue: &str, now: i64) -> Result<()> {
        let settings = serde_json::to_string(&QueueSettings::default()).map_err(keel_core::Error::internal)?;
        let sql = self
            .dialect()
            .insert_ignoring_duplicates("keel_job_queues (name, settings, updated_at) VALUES ($1, $2, $3)");
        self.exec(tx, &sql, &[json!(queue), json!(settings), json!(now)])
            .await?;
        Ok(())
    }
}

/// In a batch, names the failing job's index in the field (`jobs.3.priority`).
fn prefix_index(e: keel_core::Error, i: usize, len: usize) -> keel_core::Error {
    match e {
        keel_core::Error::BadRequest { message, fields } if len > 1 => keel_core::Error::BadRequest {
            message,
            fields: fields.into_iter().map(|(k, v)| (format!("{i}.{k}"), v)).collect(),
        },
        other => other,
    }
}
