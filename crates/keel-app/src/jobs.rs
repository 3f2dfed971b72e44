//! Jobs and queues offered to callers: enqueue (`jobs:enqueue`), claim and work a job with its
//! lease (`jobs:work`), read jobs and queues (`jobs:read`), retry, cancel and tune queues
//! (`jobs:admin`). Queue names match `[A-Za-z0-9_-]{1,64}`; a batch holds 1 to 1000 jobs; a
//! claim takes 1 to 100 jobs and waits at most 60 s; a worker's call without its `lease` is a
//! 400 naming it (a lease no longer held is the jobs service's 409).

use std::time::Duration;

use keel_core::Error;
use keel_jobs::store::Enqueued;
use keel_jobs::{ClaimOptions, ClaimedJob, FailMode, Job, JobPage, NewJob, Progress, QueueCounts, QueueSettings};
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::authz::{authorize, Permission};
use crate::caller::Caller;
use crate::App;

/// What a call does, and so the permission it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Enqueue,
    Work,
    Read,
    Admin,
}

/// A queue as callers see it.
#[derive(Debug, Clone, Serialize)]
pub struct Queue {
    pub name: String,
    pub settings: QueueSettings,
    pub counts: QueueCounts,
}

/// The most jobs one call may enqueue.
pub const MAX_BATCH: usize = 1000;
/// The most jobs one claim returns.
const MAX_CLAIM: i64 = 100;
/// The longest a claim may wait, in milliseconds.
const MAX_WAIT_MS: i64 = 60_000;

/// The queue's name when one is given, then the caller's permission for `op` (Keel's own
/// queues refuse enqueue and work to everyone). Entry points
/// call it before reading a body; every operation checks it again.
pub fn guard(caller: &Caller, op: Op, queue: Option<&str>) -> Result<(), Error> {
    if let Some(q) = queue {
        keel_core::queue::validate_queue_name(q)?;
    }
    let permission = match op {
        Op::Enqueue => Permission::JobsEnqueue,
        Op::Work => Permission::JobsWork,
        Op::Read => Permission::JobsRead,
        Op::Admin => Permission::JobsAdmin,
    };
    match (op, queue) {
        // Keel's own queues (`_keel-…`) are filled and worked by Keel alone.
        (Op::Enqueue | Op::Work, Some(q)) => crate::authz::authorize_queue_work(caller, permission, q),
        _ => authorize(caller, permission),
    }
}

/// A 400 unless a batch of `len` jobs holds 1 to [`MAX_BATCH`].
pub fn check_batch(len: usize) -> Result<(), Error> {
    if len == 0 || len > MAX_BATCH {
        return Err(Error::bad_request(format!(
            "A batch holds 1 to {MAX_BATCH} jobs; this one holds {len}."
        )));
    }
    Ok(())
}

/// Enqueues `jobs` on `queue`, all or none; each answer says whether it created the job or
/// found a pending one holding its `uniqueKey`.
pub async fn enqueue(app: &App, caller: &Caller, queue: &str, jobs: Vec<NewJob>) -> Result<Vec<Enqueued>, Error> {
    guard(caller, Op::Enqueue, Some(queue))?;
    check_batch(jobs.len())?;
    app.jobs.enqueue(queue, jobs).await
}

/// Leases up to `max` (1–100, default 1) due jobs of `queue`, waiting up to `wait_ms`
/// (0–60000, default 0) for the first one.
pub async fn claim(
    app: &App,
    caller: &Caller,
    queue: &str,
    max: Option<i64>,
    wait_ms: Option<i64>,
    worker: Option<String>,
) -> Result<Vec<ClaimedJob>, Error> {
    guard(caller, Op::Work, Some(queue))?;
    let max = max.unwrap_or(1);
    if !(1..=MAX_CLAIM).contains(&max) {
        return Err(Error::field(
            "max",
            "validation_out_of_range",
            format!("max must be between 1 and {MAX_CLAIM}."),
        ));
    }
    let wait_ms = wait_ms.unwrap_or(0);
    if !(0..=MAX_WAIT_MS).contains(&wait_ms) {
        return Err(Error::field(
            "waitMs",
            "validation_out_of_range",
            format!("waitMs must be between 0 and {MAX_WAIT_MS}."),
        ));
    }
    let opts = ClaimOptions {
        max: max as usize,
        worker: worker.filter(|w| !w.is_empty()),
    };
    app.jobs
        .claim(queue, &opts, Duration::from_millis(wait_ms as u64))
        .await
}

/// Extends the lease of job `id` by its timeout.
pub async fn heartbeat(app: &App, caller: &Caller, id: &str, lease: Option<String>) -> Result<Job, Error> {
    guard(caller, Op::Work, None)?;
    let lease = required("lease", lease)?;
    app.jobs.heartbeat(id, &lease).await
}

/// Records progress (`percent` required, 0–100) and extends the lease.
pub async fn progress(
    app: &App,
    caller: &Caller,
    id: &str,
    lease: Option<String>,
    percent: Option<f64>,
    message: Option<String>,
) -> Result<Job, Error> {
    guard(caller, Op::Work, None)?;
    let lease = required("lease", lease)?;
    let percent = percent.ok_or_else(|| {
        Error::field(
            "percent",
            "validation_required",
            "percent is required (a number from 0 to 100).",
        )
    })?;
    let progress = Progress {
        percent,
        message: message.unwrap_or_default(),
    };
    app.jobs.progress(id, &lease, &progress).await
}

/// Completes the job with an optional result.
pub async fn complete(
    app: &App,
    caller: &Caller,
    id: &str,
    lease: Option<String>,
    result: Option<&Value>,
) -> Result<Job, Error> {
    guard(caller, Op::Work, None)?;
    let lease = required("lease", lease)?;
    app.jobs.complete(id, &lease, result).await
}

/// Fails the attempt: retried after its backoff unless `retry` is `false` (then dead).
pub async fn fail(
    app: &App,
    caller: &Caller,
    id: &str,
    lease: Option<String>,
    error: Option<String>,
    retry: Option<bool>,
) -> Result<Job, Error> {
    guard(caller, Op::Work, None)?;
    let lease = required("lease", lease)?;
    let message = error
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| "The worker reported a failure without a message.".into());
    let mode = if retry.unwrap_or(true) {
        FailMode::Retry
    } else {
        FailMode::NoRetry
    };
    app.jobs.fail(id, &lease, &message, mode).await
}

/// The job `id` (404 when absent).
pub async fn get(app: &App, caller: &Caller, id: &str) -> Result<Job, Error> {
    guard(caller, Op::Read, None)?;
    app.jobs.store().get(id).await?.ok_or_else(Error::not_found)
}

/// A page of the queue's jobs, newest first, optionally in one state.
pub async fn list(
    app: &App,
    caller: &Caller,
    queue: &str,
    filter: &keel_jobs::JobFilter,
    page: u32,
    per_page: u32,
) -> Result<JobPage, Error> {
    guard(caller, Op::Read, Some(queue))?;
    app.jobs.store().list(queue, filter, page, per_page).await
}

/// A finished or failed job back to waiting with fresh attempts.
pub async fn retry(app: &App, caller: &Caller, id: &str) -> Result<Job, Error> {
    guard(caller, Op::Admin, None)?;
    app.jobs.retry(id).await
}

/// Cancels a job that has not finished.
pub async fn cancel(app: &App, caller: &Caller, id: &str) -> Result<Job, Error> {
    guard(caller, Op::Admin, None)?;
    app.jobs.cancel(id).await
}

/// Every queue used so far, with its settings and counts.
pub async fn queues(app: &App, caller: &Caller) -> Result<Vec<Queue>, Error> {
    guard(caller, Op::Read, None)?;
    let mut out = Vec::new();
    for (name, settings) in app.jobs.store().queues().await? {
        let counts = app.jobs.store().counts(&name).await?;
        out.push(Queue { name, settings, counts });
    }
    Ok(out)
}

/// One queue (a queue never used has the default settings and zero counts).
pub async fn queue(app: &App, caller: &Caller, name: &str) -> Result<Queue, Error> {
    guard(caller, Op::Read, Some(name))?;
    let settings = app.jobs.store().settings(name).await?;
    let counts = app.jobs.store().counts(name).await?;
    Ok(Queue {
        name: name.to_string(),
        settings,
        counts,
    })
}

/// The longest window of [`throughput`]: a day.
pub const MAX_THROUGHPUT_MINUTES: u32 = 1440;

/// The queue's completions and failures per minute over the last `minutes` (1–1440).
pub async fn throughput(
    app: &App,
    caller: &Caller,
    queue: &str,
    minutes: u32,
) -> Result<Vec<keel_jobs::Throughput>, Error> {
    guard(caller, Op::Read, Some(queue))?;
    if !(1..=MAX_THROUGHPUT_MINUTES).contains(&minutes) {
        return Err(Error::field(
            "minutes",
            "validation_out_of_range",
            "Give between 1 and 1440 minutes (a day).",
        ));
    }
    app.jobs.store().throughput(queue, minutes).await
}

/// Changes the queue's settings named in `patch` (the jobs service names unknown ones).
pub async fn update_settings(
    app: &App,
    caller: &Caller,
    queue: &str,
    patch: Map<String, Value>,
) -> Result<QueueSettings, Error> {
    guard(caller, Op::Admin, Some(queue))?;
    app.jobs.update_settings(queue, &Value::Object(patch)).await
}

/// Pauses (no job is claimed; running ones finish) or resumes the queue.
pub async fn set_paused(app: &App, caller: &Caller, queue: &str, paused: bool) -> Result<QueueSettings, Error> {
    guard(caller, Op::Admin, Some(queue))?;
    app.jobs.update_settings(queue, &json!({ "paused": paused })).await
}

/// `s` when it is a non-blank string, else a 400 naming `field` as required.
fn required(field: &str, value: Option<String>) -> Result<String, Error> {
    match value {
        Some(s) if !s.trim().is_empty() => Ok(s),
        _ => Err(Error::field(
            field,
            "validation_required",
            format!("{field} is required."),
        )),
    }
}
