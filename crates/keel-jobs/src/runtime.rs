//! In-process workers: Rust handlers registered by Keel's own services, and HTTP push, which
//! delivers each job of a queue with a `pushUrl` as a POST (a 2xx completes it).
//!
//! A worker loop claims one job at a time (long-polling), heartbeats while the handler runs,
//! stops the handler at the job's timeout, and completes or fails the job with its lease. A
//! crash anywhere loses nothing: an unacknowledged attempt's lease expires and the job is
//! retried.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use keel_core::outbound::{self, OutboundGuard};
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use crate::model::{Job, Progress};
use crate::service::Jobs;
use crate::store::claim::MAX_CLAIM;
use crate::store::ClaimOptions;
use crate::FailMode;

/// Runs jobs of a queue inside Keel.
#[async_trait]
pub trait JobHandler: Send + Sync + 'static {
    /// Runs one attempt. `Ok(result)` completes the job; `Err(failure)` fails the attempt,
    /// retried as the failure says (a `String` converts into a failure retried per the job's
    /// backoff).
    async fn run(&self, job: &Job, ctx: &JobContext) -> Result<Option<Value>, JobFailure>;

    /// Whether an attempt is stopped at the job's `timeout_ms` (the default). A handler that
    /// bounds its own work (an ops run has its own timeout and cancel, and may take hours)
    /// answers `false`: its `timeout_ms` is then only the lease its heartbeat keeps extending,
    /// so a dead process's job is still taken again one lease after its last beat.
    fn bounded_by_timeout(&self) -> bool {
        true
    }
}

/// Runs one attempt of `job` with `handler`, stopped at `timeout` unless the handler bounds
/// its own work.
pub(crate) async fn attempt(
    handler: &dyn JobHandler,
    job: &Job,
    ctx: &JobContext,
    timeout: Duration,
) -> Result<Result<Option<Value>, JobFailure>, tokio::time::error::Elapsed> {
    let work = handler.run(job, ctx);
    if handler.bounded_by_timeout() {
        tokio::time::timeout(timeout, work).await
    } else {
        Ok(work.await)
    }
}

/// A failed attempt: what went wrong and when to try again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFailure {
    pub message: String,
    pub retry: Retry,
}

/// When a failed attempt is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// After the job's backoff, unless it is out of attempts (then dead).
    Backoff,
    /// After this long (a `Retry-After` answer, a rate limit, a schedule of the handler's
    /// own), unless the job is out of attempts.
    After(Duration),
    /// Never: the job is dead now, whatever attempts are left.
    Never,
}

impl JobFailure {
    /// A failure retried after `delay` (unless out of attempts).
    pub fn retry_after(message: impl Into<String>, delay: Duration) -> JobFailure {
        JobFailure {
            message: message.into(),
            retry: Retry::After(delay),
        }
    }

    /// A failure that is not retried: the job is dead now.
    pub fn permanent(message: impl Into<String>) -> JobFailure {
        JobFailure {
            message: message.into(),
            retry: Retry::Never,
        }
    }

    /// How the jobs store ends the attempt.
    pub fn mode(&self) -> FailMode {
        match self.retry {
            Retry::Backoff => FailMode::Retry,
            Retry::After(d) => FailMode::RetryAfter(d),
            Retry::Never => FailMode::NoRetry,
        }
    }
}

impl From<String> for JobFailure {
    fn from(message: String) -> JobFailure {
        JobFailure {
            message,
            retry: Retry::Backoff,
        }
    }
}

impl From<&str> for JobFailure {
    fn from(message: &str) -> JobFailure {
        JobFailure::from(message.to_string())
    }
}

impl std::fmt::Display for JobFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// What a running handler may report.
pub struct JobContext {
    reporter: Reporter,
}

enum Reporter {
    /// A job of the jobs store: progress is stored and sent to realtime subscribers.
    Store { jobs: Arc<Jobs>, id: String, lease: String },
    /// A job on a queue provider (`QueuedJobs`): progress only extends the lease.
    Queue {
        queue: Arc<dyn keel_core::queue::Queue>,
        name: String,
        lease: String,
        lease_for: Duration,
    },
}

impl JobContext {
    pub(crate) fn for_queue(
        queue: Arc<dyn keel_core::queue::Queue>,
        name: &str,
        lease: &str,
        lease_for: Duration,
    ) -> Self {
        Self {
            reporter: Reporter::Queue {
                queue,
                name: name.to_string(),
                lease: lease.to_string(),
                lease_for,
            },
        }
    }

    /// Reports progress (0–100) and a message; also extends the lease.
    pub async fn progress(&self, percent: f64, message: &str) -> keel_core::Result<()> {
        match &self.reporter {
            Reporter::Store { jobs, id, lease } => {
                let p = Progress {
                    percent,
                    message: message.to_string(),
                };
                jobs.progress(id, lease, &p).await.map(|_| ())
            }
            Reporter::Queue {
                queue,
                name,
                lease,
                lease_for,
            } => queue.extend(name, lease, *lease_for).await.map(|_| ()),
        }
    }
}

impl Jobs {
    /// Runs `handler` on `queue` with at most `concurrency` jobs at once, until `shutdown`
    /// turns true (a running attempt is then left to its lease: it is retried).
    ///
    /// One fetcher claims as many jobs as there are free slots in one claim; each job runs
    /// in its own task; successes are completed in groups by one completer (one commit for
    /// every job that finished meanwhile), failures one by one.
    pub fn work(
        self: &Arc<Self>,
        queue: &str,
        handler: Arc<dyn JobHandler>,
        concurrency: usize,
        mut shutdown: watch::Receiver<bool>,
    ) -> JoinHandle<()> {
        let jobs = self.clone();
        let queue = queue.to_string();
        let slots = Slots::new(concurrency.max(1));
        let (done_tx, done_rx) = mpsc::unbounded_channel::<Completion>();
        tokio::spawn(jobs.clone().complete_in_groups(done_rx));
        tokio::spawn(async move {
            let worker = format!("keel:{}:{queue}", std::process::id());
            let slots_held = slots.clone();
            let fetch = async move {
                loop {
                    if *shutdown.borrow() {
                        return;
                    }
                    // Let the jobs just handed out run first: those that finish at once free
                    // their slots before this claim counts them, so claims stay large.
                    tokio::task::yield_now().await;
                    let (mut running, mut unrecorded) = tokio::select! {
                        p = slots.take(MAX_CLAIM) => match p {
                            Some(p) => p,
                            None => return,
                        },
                        _ = shutdown.changed() => return,
                    };
                    let want = running.num_permits();
                    let opts = ClaimOptions {
                        max: want,
                        worker: Some(worker.clone()),
                    };
                    let claimed = tokio::select! {
                        r = jobs.claim(&queue, &opts, Duration::from_secs(5)) => r,
                        _ = shutdown.changed() => return,
                    };
                    match claimed {
                        Ok(batch) => {
                            for c in batch {
                                let (Some(run), Some(record)) = (running.split(1), unrecorded.split(1)) else {
                                    break;
                                };
                                let (jobs, handler, done) = (jobs.clone(), handler.clone(), done_tx.clone());
                                tokio::spawn(async move {
                                    jobs.run_one(c.job, c.lease, handler.as_ref(), done, (run, record))
                                        .await;
                                });
                            }
                        }
                        Err(e) => {
                            tracing::warn!(queue = %queue, error = %e, "claiming jobs failed; retrying in 1 s");
                            drop((running, unrecorded));
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                }
            };
            fetch.await;
            // Shutting down: wait for the jobs still running to finish and be recorded.
            slots_held.all_recorded().await;
        })
    }

    /// Completes finished jobs in groups: waits for one, takes every other that finished
    /// meanwhile, commits them together.
    async fn complete_in_groups(self: Arc<Self>, mut done: mpsc::UnboundedReceiver<Completion>) {
        let mut group = Vec::new();
        while done.recv_many(&mut group, 512).await > 0 {
            let items: Vec<_> = group
                .iter()
                .map(|c| (c.id.clone(), c.lease.clone(), c.result.clone()))
                .collect();
            match self.store().complete_many(&items).await {
                Ok(results) => {
                    for r in results {
                        match r {
                            Ok(job) => self.emit_completed(&job),
                            Err(e) => {
                                tracing::info!(error = %e, "job outcome not recorded (lease lost); it will be retried or was cancelled")
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, jobs = items.len(), "completing jobs failed; their leases will expire and they will be retried")
                }
            }
            // Slots free only once the outcome is recorded, so a claim never outruns it.
            group.clear();
        }
    }

    async fn run_one(
        self: &Arc<Self>,
        job: Job,
        lease: String,
        handler: &dyn JobHandler,
        done: mpsc::UnboundedSender<Completion>,
        (run, record): (OwnedSemaphorePermit, OwnedSemaphorePermit),
    ) {
        let ctx = JobContext {
            reporter: Reporter::Store {
                jobs: self.clone(),
                id: job.id.clone(),
                lease: lease.clone(),
            },
        };
        let timeout = Duration::from_millis(job.timeout_ms.max(100));
        // Heartbeat at a third of the timeout so a slow handler keeps its lease; the
        // timeout below still bounds the attempt.
        let beat = {
            let jobs = self.clone();
            let (id, lease) = (job.id.clone(), lease.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(timeout / 3);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    if jobs.heartbeat(&id, &lease).await.is_err() {
                        return;
                    }
                }
            })
        };
        let outcome = attempt(handler, &job, &ctx, timeout).await;
        beat.abort();
        let failed = match outcome {
            Ok(Ok(result)) => {
                let _ = done.send(Completion {
                    id: job.id.clone(),
                    lease,
                    result,
                    _permit: {
                        // The handler is done: its running slot frees now, while the
                        // completion waits for its group's commit.
                        drop(run);
                        record
                    },
                });
                return;
            }
            Ok(Err(failure)) => self.fail(&job.id, &lease, &failure.message, failure.mode()).await,
            Err(_) => {
                let message = format!("timed out after {} ms", job.timeout_ms);
                self.fail(&job.id, &lease, &message, FailMode::Retry).await
            }
        };
        drop((run, record));
        if let Err(e) = failed {
            tracing::info!(job = %job.id, error = %e, "job outcome not recorded (lease lost); it will be retried or was cancelled");
        }
    }

    /// Keeps one set of HTTP push workers per queue with a `pushUrl`, following settings
    /// changes (checked every `every`), until `shutdown` turns true.
    pub fn spawn_push_supervisor(self: &Arc<Self>, every: Duration, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        let jobs = self.clone();
        tokio::spawn(async move {
            // queue → (url, concurrency, its workers' stop switch)
            let mut running: HashMap<String, (String, usize, watch::Sender<bool>)> = HashMap::new();
            let mut shutdown = shutdown;
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = shutdown.changed() => {}
                }
                if *shutdown.borrow() {
                    for (_, (_, _, stop)) in running.drain() {
                        let _ = stop.send(true);
                    }
                    return;
                }
                let queues = match jobs.store().queues().await {
                    Ok(q) => q,
                    Err(e) => {
                        tracing::warn!(error = %e, "reading queue settings for push delivery failed");
                        continue;
                    }
                };
                let mut wanted: HashMap<String, (String, usize)> = HashMap::new();
                for (name, s) in queues {
                    if let (Some(url), false) = (s.push_url, s.paused) {
                        wanted.insert(name, (url, s.concurrency.unwrap_or(4).min(64) as usize));
                    }
                }
                running.retain(|name, (url, n, stop)| {
                    let keep = wanted.get(name) == Some(&(url.clone(), *n));
                    if !keep {
                        let _ = stop.send(true);
                    }
                    keep
                });
                for (name, (url, n)) in wanted {
                    if running.contains_key(&name) {
                        continue;
                    }
                    let (stop, stopped) = watch::channel(false);
                    let handler = Arc::new(HttpPush {
                        outbound: jobs.outbound().clone(),
                        url: url.clone(),
                    });
                    jobs.work(&name, handler, n, stopped);
                    running.insert(name, (url, n, stop));
                }
            }
        })
    }
}

/// A job whose handler succeeded, waiting for its completion to be committed. It holds an
/// `unrecorded` permit until then, which bounds the jobs claimed but not yet recorded.
struct Completion {
    id: String,
    lease: String,
    result: Option<Value>,
    _permit: OwnedSemaphorePermit,
}

/// Delivers a job as `POST url` with `{"id","queue","name","payload","attempt"}`; a 2xx
/// completes it, anything else fails the attempt.
///
/// The request goes through the outbound guard: an internal address that `[outbound] allow`
/// does not list is refused before connecting (the refusal is the attempt's error), and a
/// redirect is an answer like any other non-2xx (never followed). At most
/// [`MAX_PUSH_ANSWER`] bytes of the answer are read: a 2xx's JSON body within them becomes the
/// job's result (a longer one is not kept), and an error quotes at most 500 characters.
pub struct HttpPush {
    pub outbound: OutboundGuard,
    pub url: String,
}

/// The most bytes of a push answer read (and so ever stored in a job's result or errors).
pub const MAX_PUSH_ANSWER: usize = 4096;
/// The most characters of a failed answer quoted in the job's error.
const MAX_QUOTE: usize = 500;

#[async_trait]
impl JobHandler for HttpPush {
    async fn run(&self, job: &Job, _ctx: &JobContext) -> Result<Option<Value>, JobFailure> {
        let body = json!({
            "id": job.id,
            "queue": job.queue,
            "name": job.name,
            "payload": job.payload,
            "attempt": job.attempts,
        });
        let shown = outbound::shown_url(&self.url);
        let failed = |why: String| format!("POST {shown} failed: {why}");
        let request = self.outbound.post(&self.url).map_err(|r| failed(r.to_string()))?;
        let mut res = request
            .header("x-keel-job-id", &job.id)
            .timeout(Duration::from_millis(job.timeout_ms))
            .json(&body)
            .send()
            .await
            .map_err(|e| failed(outbound::explain(&e)))?;
        let status = res.status();
        let (text, truncated) = outbound::read_capped(&mut res, MAX_PUSH_ANSWER)
            .await
            .map_err(|e| failed(outbound::explain(&e)))?;
        if status.is_success() {
            Ok(if truncated {
                None
            } else {
                serde_json::from_slice(&text).ok()
            })
        } else {
            let excerpt: String = String::from_utf8_lossy(&text).chars().take(MAX_QUOTE).collect();
            Err(format!("POST {shown} answered {status}: {excerpt}").into())
        }
    }
}

/// Waits for a free handler slot, then takes every other one free at that moment (up to
/// `max` in all), so a claim asks for as many jobs as can run instead of one at a time.
/// `None` once the semaphore is closed.
pub(crate) async fn free_slots(slots: &Arc<Semaphore>, max: usize) -> Option<OwnedSemaphorePermit> {
    let mut permits = slots.clone().acquire_owned().await.ok()?;
    let more = slots.available_permits().min(max.saturating_sub(1));
    if more > 0 {
        if let Ok(extra) = slots.clone().try_acquire_many_owned(more as u32) {
            permits.merge(extra);
        }
    }
    Some(permits)
}

/// A worker's slots: `running` bounds the handlers running at once (the concurrency);
/// `unrecorded` (four times that) bounds the jobs claimed whose outcome is not committed yet,
/// so the next claim overlaps the commit of the last groups' completions while the backlog of
/// uncommitted completions stays bounded (measured on PostgreSQL: 4× let claims and groups
/// grow from ~30 to ~44 jobs, +8 % jobs/s over 2×; docs/BENCHMARKS.md).
#[derive(Clone)]
struct Slots {
    running: Arc<Semaphore>,
    unrecorded: Arc<Semaphore>,
    total_unrecorded: u32,
}

impl Slots {
    fn new(concurrency: usize) -> Self {
        Self {
            running: Arc::new(Semaphore::new(concurrency)),
            unrecorded: Arc::new(Semaphore::new(concurrency * 4)),
            total_unrecorded: (concurrency * 4) as u32,
        }
    }

    /// Waits for one slot of each kind, then takes as many more pairs as are free (up to
    /// `max` in all). `None` once closed.
    async fn take(&self, max: usize) -> Option<(OwnedSemaphorePermit, OwnedSemaphorePermit)> {
        let mut running = free_slots(&self.running, max).await?;
        let mut unrecorded = self.unrecorded.clone().acquire_owned().await.ok()?;
        let more = (running.num_permits() - 1).min(self.unrecorded.available_permits());
        if more > 0 {
            if let Ok(extra) = self.unrecorded.clone().try_acquire_many_owned(more as u32) {
                unrecorded.merge(extra);
            }
        }
        // Give back running slots that found no matching unrecorded one.
        let extra_running = running.num_permits() - unrecorded.num_permits();
        if extra_running > 0 {
            drop(running.split(extra_running));
        }
        Some((running, unrecorded))
    }

    /// Waits until every claimed job has its outcome recorded.
    async fn all_recorded(&self) {
        let _ = self.unrecorded.acquire_many(self.total_unrecorded).await;
    }
}
