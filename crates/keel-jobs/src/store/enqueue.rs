//! Enqueueing: one job or a batch, in one transaction; unique keys return the pending job.

use keel_core::queue::validate_queue_name;
use keel_core::Result;
use keel_sql::Tx;
use serde::Serialize;
use serde_json::json;

use super::{db, job_from_row, now_ms, JobStore, JOB_COLUMNS};
use crate::model::{Job, NewJob, QueueSettings};

/// The defaults of a job enqueued without them.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
pub const DEFAULT_PRIORITY: i32 = 5;

/// The most JSON one insert statement of [`JobStore::enqueue_on`] carries, unless its one job
/// is larger (a payload holds up to 1 MiB; MariaDB's packets hold 16 MiB by default).
const INSERT_CHUNK_BYTES: usize = 4 * 1024 * 1024;

/// The members of a job's row in an insert's JSON array (see [`job_row`]).
const JOB_ROW_MEMBERS: [&str; 10] = [
    "id",
    "queue",
    "name",
    "payload",
    "priority",
    "run_at",
    "max_attempts",
    "backoff",
    "timeout_ms",
    "unique_key",
];

/// One object of an insert's JSON array: borrowed from the job, written straight to text.
#[derive(Serialize)]
struct JobRow<'a> {
    id: &'a str,
    queue: &'a str,
    name: &'a str,
    /// The payload's own JSON text (the column holds text).
    payload: String,
    priority: i64,
    run_at: i64,
    max_attempts: i64,
    backoff: String,
    timeout_ms: i64,
    unique_key: Option<&'a str>,
}

/// A new job with id `id` as one object of an insert's JSON array (JSON text).
fn job_row(id: &str, queue: &str, job: &NewJob, now: i64) -> Result<String> {
    let run_at = match (job.run_at, job.delay_ms) {
        (Some(t), _) => t.timestamp_millis(),
        (None, Some(d)) => now.saturating_add(d),
        (None, None) => now,
    };
    let row = JobRow {
        id,
        queue,
        name: job.name.as_deref().unwrap_or("default"),
        payload: serde_json::to_string(&job.payload).map_err(keel_core::Error::internal)?,
        priority: i64::from(job.priority.unwrap_or(DEFAULT_PRIORITY)),
        run_at,
        max_attempts: i64::from(job.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS)),
        backoff: serde_json::to_string(&job.backoff.unwrap_or_default()).map_err(keel_core::Error::internal)?,
        timeout_ms: job.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS) as i64,
        unique_key: job.unique_key.as_deref(),
    };
    serde_json::to_string(&row).map_err(keel_core::Error::internal)
}

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
        let mut out = self.enqueue_on(tx.as_mut(), &[(queue, jobs)], now_ms()).await?;
        tx.commit().await.map_err(db)?;
        Ok(out.pop().unwrap_or_default())
    }

    /// `enqueue` of every `(queue, jobs)` request inside the caller's transaction (jobs
    /// already validated); one answer per request, in order.
    ///
    /// Each queue's settings row is made once, then every job goes in with one `INSERT …
    /// SELECT` over a bound JSON array (`Dialect::json_rows`) per [`INSERT_CHUNK_BYTES`] of
    /// jobs, so a group of requests costs a few round trips, not one per job. Only the
    /// unique index on pending jobs' keys can skip a row (ids are fresh): such a job's answer
    /// is the pending job holding its key, also when that job came earlier in the same call.
    pub(crate) async fn enqueue_on(
        &self,
        tx: &mut dyn Tx,
        requests: &[(&str, &[NewJob])],
        now: i64,
    ) -> Result<Vec<Vec<Enqueued>>> {
        let mut queues: Vec<&str> = requests.iter().map(|(q, _)| *q).collect();
        // One order for every transaction, so two never wait on each other's queue rows.
        queues.sort_unstable();
        queues.dedup();
        for queue in queues {
            self.ensure_queue(tx, queue, now).await?;
        }
        let mut ids = Vec::with_capacity(requests.len());
        let mut made = std::collections::HashMap::new();
        // The JSON array of the next insert, and how many jobs it holds.
        let mut chunk = String::from("[");
        let mut in_chunk = 0;
        for (queue, jobs) in requests {
            let mut request_ids = Vec::with_capacity(jobs.len());
            for job in jobs.iter() {
                let id = keel_core::id::new_id();
                let row = job_row(&id, queue, job, now)?;
                if in_chunk > 0 && chunk.len() + row.len() > INSERT_CHUNK_BYTES {
                    self.insert_jobs(tx, std::mem::replace(&mut chunk, String::from("[")), now, &mut made)
                        .await?;
                    in_chunk = 0;
                }
                if in_chunk > 0 {
                    chunk.push(',');
                }
                chunk.push_str(&row);
                in_chunk += 1;
                request_ids.push(id);
            }
            ids.push(request_ids);
        }
        if in_chunk > 0 {
            self.insert_jobs(tx, chunk, now, &mut made).await?;
        }
        let mut out = Vec::with_capacity(requests.len());
        for ((queue, jobs), request_ids) in requests.iter().zip(ids) {
            let mut answers = Vec::with_capacity(jobs.len());
            for (job, id) in jobs.iter().zip(request_ids) {
                answers.push(match made.remove(&id) {
                    Some(job) => Enqueued { job, created: true },
                    None => Enqueued {
                        job: self.pending_with_key(tx, queue, job.unique_key.as_deref()).await?,
                        created: false,
                    },
                });
            }
            out.push(answers);
        }
        Ok(out)
    }

    /// Inserts the jobs of `array` (an unclosed JSON array of [`job_row`]s) in one statement,
    /// skipping those whose unique key a pending job holds; the inserted jobs go into `made`
    /// by id.
    async fn insert_jobs(
        &self,
        tx: &mut dyn Tx,
        mut array: String,
        now: i64,
        made: &mut std::collections::HashMap<String, Job>,
    ) -> Result<()> {
        let d = self.dialect();
        let int = |c: &str| d.integer_cast(&format!("c.{c}"));
        // The `WHERE` keeps SQLite from reading the `ON CONFLICT` that follows as a join's `ON`.
        let sql = format!(
            "{} RETURNING {JOB_COLUMNS}",
            d.insert_ignoring_duplicates(&format!(
                "keel_jobs (id, queue, name, payload, state, priority, run_at, attempts, max_attempts, \
                 backoff, timeout_ms, unique_key, errors, created_at, updated_at) \
                 SELECT c.id, c.queue, c.name, c.payload, 'waiting', {}, {}, 0, {}, c.backoff, {}, c.unique_key, \
                 '[]', $2, $2 FROM {} WHERE c.id IS NOT NULL",
                int("priority"),
                int("run_at"),
                int("max_attempts"),
                int("timeout_ms"),
                d.json_rows("$1", "c", &JOB_ROW_MEMBERS),
            ))
        );
        array.push(']');
        let params = [serde_json::Value::String(array), json!(now)];
        for row in self.rows(tx, &sql, &params).await? {
            let job = job_from_row(&row)?;
            made.insert(job.id.clone(), job);
        }
        Ok(())
    }

    /// The pending job of `queue` holding `key` (a job skipped by the unique index).
    async fn pending_with_key(&self, tx: &mut dyn Tx, queue: &str, key: Option<&str>) -> Result<Job> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM keel_jobs WHERE queue = $1 AND unique_key = $2 \
             AND state IN ('waiting', 'active', 'failed')"
        );
        let rows = self.rows(tx, &sql, &[json!(queue), json!(key)]).await?;
        let row = rows
            .into_iter()
            .next()
            .ok_or_else(|| keel_core::Error::internal("jobs store: a unique job vanished"))?;
        job_from_row(&row)
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
