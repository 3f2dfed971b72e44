//! The `Jobs` service: the store plus what a single process adds on top — lifecycle events
//! for realtime subscribers, waking waiting claims as soon as a job is enqueued, and the
//! periodic upkeep (expired leases, retention).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keel_core::outbound::{OutboundGuard, Refusal};
use keel_core::Result;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{broadcast, Notify};

use crate::model::{ClaimedJob, Job, NewJob, Progress};
use crate::store::{ClaimOptions, Enqueued, JobStore};
use crate::FailMode;

/// The longest a claim may wait for a job.
pub const MAX_CLAIM_WAIT: Duration = Duration::from_secs(60);
/// How often a waiting claim looks again when nothing woke it (jobs enqueued by another
/// process, delays coming due).
const POLL: Duration = Duration::from_millis(250);

/// Something that happened to a job, for realtime subscribers (`jobs/{queue}`).
#[derive(Debug, Clone, Serialize)]
pub struct JobEvent {
    /// `enqueued`, `active`, `progress`, `completed`, `failed`, `dead`, `cancelled`, `retried`.
    pub action: &'static str,
    #[serde(rename = "record")]
    pub job: Job,
}

/// The jobs service. Cheap to share as `Arc<Jobs>`.
pub struct Jobs {
    store: JobStore,
    /// Each event is shared (an `Arc`): the channel keeps a slot for each of its 4096 places
    /// from the start, and a whole `JobEvent` in each came to 2 MB.
    events: broadcast::Sender<Arc<JobEvent>>,
    /// Schedule ticks this process recorded as missed (`schedule.missed`).
    missed: broadcast::Sender<crate::schedule::MissedTick>,
    wakers: Mutex<HashMap<String, Arc<Notify>>>,
    /// HTTP push requests go through it; `pushUrl`s are checked by it when set.
    outbound: OutboundGuard,
}

impl Jobs {
    /// The service over `store`, whose push queues reach no internal address.
    pub fn new(store: JobStore) -> Arc<Self> {
        Self::with_outbound(store, OutboundGuard::default())
    }

    /// The service over `store`, whose push queues go through `outbound` (`[outbound]`).
    pub fn with_outbound(store: JobStore, outbound: OutboundGuard) -> Arc<Self> {
        let (events, _) = broadcast::channel(4096);
        let (missed, _) = broadcast::channel(256);
        Arc::new(Self {
            store,
            events,
            missed,
            wakers: Mutex::new(HashMap::new()),
            outbound,
        })
    }

    /// The outbound request guard push delivery uses.
    pub fn outbound(&self) -> &OutboundGuard {
        &self.outbound
    }

    pub fn store(&self) -> &JobStore {
        &self.store
    }

    /// Lifecycle events of every job changed through this process (the realtime wiring
    /// publishes them on the event bus as `jobs.<queue>` for every process).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<JobEvent>> {
        self.events.subscribe()
    }

    /// Schedule ticks this process's scheduler recorded as missed (each tick is reported by
    /// one process).
    pub fn subscribe_missed(&self) -> broadcast::Receiver<crate::schedule::MissedTick> {
        self.missed.subscribe()
    }

    /// Tells the [`subscribe_missed`](Self::subscribe_missed) receivers about `missed`.
    pub fn announce_missed(&self, missed: Vec<crate::schedule::MissedTick>) {
        for tick in missed {
            tracing::info!(schedule = %tick.schedule, name = %tick.name, tick = %tick.tick, "a schedule tick was missed");
            let _ = self.missed.send(tick);
        }
    }

    fn emit(&self, action: &'static str, job: &Job) {
        metrics::counter!("keel_jobs_total", "queue" => job.queue.clone(), "event" => action).increment(1);
        let _ = self.events.send(Arc::new(JobEvent {
            action,
            job: job.clone(),
        }));
    }

    /// Wakes this process's claims waiting on `queue`, e.g. when another process announced
    /// (over the event bus) that it enqueued or released a job there.
    pub fn wake(&self, queue: &str) {
        self.waker(queue).notify_waiters();
    }

    fn waker(&self, queue: &str) -> Arc<Notify> {
        let mut map = self.wakers.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(queue.to_string()).or_default().clone()
    }

    /// Enqueues jobs (all or none) and wakes this process's waiting claims.
    pub async fn enqueue(&self, queue: &str, jobs: Vec<NewJob>) -> Result<Vec<Enqueued>> {
        let out = self.store.enqueue(queue, jobs).await?;
        for e in out.iter().filter(|e| e.created) {
            self.emit("enqueued", &e.job);
        }
        self.waker(queue).notify_waiters();
        Ok(out)
    }

    /// Emits `enqueued` for jobs created outside `enqueue` (schedules) and wakes claims.
    pub fn announce_enqueued(&self, jobs: &[Job]) {
        for job in jobs {
            self.emit("enqueued", job);
            self.waker(&job.queue).notify_waiters();
        }
    }

    /// Enqueues a schedule's job now, outside its timetable.
    pub async fn trigger_schedule(&self, id_or_name: &str) -> Result<Job> {
        let job = self.store.trigger_schedule(id_or_name).await?;
        self.announce_enqueued(std::slice::from_ref(&job));
        Ok(job)
    }

    /// Claims up to `opts.max` jobs, waiting up to `wait` for the first.
    pub async fn claim(&self, queue: &str, opts: &ClaimOptions, wait: Duration) -> Result<Vec<ClaimedJob>> {
        if wait > MAX_CLAIM_WAIT {
            return Err(keel_core::Error::field(
                "waitMs",
                "validation_out_of_range",
                format!("waitMs must be at most {}.", MAX_CLAIM_WAIT.as_millis()),
            ));
        }
        let deadline = Instant::now() + wait;
        let waker = self.waker(queue);
        loop {
            let notified = waker.notified();
            let got = self.store.claim(queue, opts).await?;
            if !got.is_empty() {
                for c in &got {
                    self.emit("active", &c.job);
                }
                return Ok(got);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(got);
            }
            let _ = tokio::time::timeout(left.min(POLL), notified).await;
        }
    }

    pub async fn heartbeat(&self, id: &str, lease: &str) -> Result<Job> {
        self.store.heartbeat(id, lease).await
    }

    pub async fn progress(&self, id: &str, lease: &str, progress: &Progress) -> Result<Job> {
        let job = self.store.progress(id, lease, progress).await?;
        self.emit("progress", &job);
        Ok(job)
    }

    pub async fn complete(&self, id: &str, lease: &str, result: Option<&Value>) -> Result<Job> {
        let job = self.store.complete(id, lease, result).await?;
        self.emit_completed(&job);
        Ok(job)
    }

    /// Announces a completion (and wakes claims held back by a concurrency limit).
    pub(crate) fn emit_completed(&self, job: &Job) {
        self.emit("completed", job);
        self.waker(&job.queue).notify_waiters();
    }

    pub async fn fail(&self, id: &str, lease: &str, message: &str, mode: FailMode) -> Result<Job> {
        let job = self.store.fail(id, lease, message, mode).await?;
        self.emit(
            if job.state == crate::JobState::Dead {
                "dead"
            } else {
                "failed"
            },
            &job,
        );
        self.waker(&job.queue).notify_waiters();
        Ok(job)
    }

    pub async fn retry(&self, id: &str) -> Result<Job> {
        let job = self.store.retry(id).await?;
        self.emit("retried", &job);
        self.waker(&job.queue).notify_waiters();
        Ok(job)
    }

    pub async fn cancel(&self, id: &str) -> Result<Job> {
        let job = self.store.cancel(id).await?;
        self.emit("cancelled", &job);
        self.waker(&job.queue).notify_waiters();
        Ok(job)
    }

    /// Changes a queue's settings and wakes its waiting claims (a resume or a raised limit
    /// may let them through). A `pushUrl` the outbound guard refuses as it stands (not
    /// http(s), or an internal IP literal not allow-listed) is a 400 naming `pushUrl`; a host
    /// name is checked on every delivery, when it resolves.
    pub async fn update_settings(&self, queue: &str, patch: &Value) -> Result<crate::QueueSettings> {
        if crate::model::is_system_queue(queue) && patch.get("pushUrl").is_some_and(|u| !u.is_null()) {
            return Err(keel_core::Error::field(
                "pushUrl",
                "validation_system_queue",
                format!("{queue} is Keel's own queue: its jobs are worked inside Keel, never pushed to a URL."),
            ));
        }
        if let Some(Value::String(url)) = patch.get("pushUrl") {
            if let Err(refusal) = self.outbound.check_url(url) {
                let message = match refusal {
                    Refusal::Internal { .. } => format!("{refusal}."),
                    _ => "pushUrl must be an http:// or https:// URL.".to_string(),
                };
                return Err(keel_core::Error::field("pushUrl", "validation_invalid_url", message));
            }
        }
        let s = self.store.update_settings(queue, patch).await?;
        self.waker(queue).notify_waiters();
        Ok(s)
    }

    /// Runs upkeep every `every` until `shutdown` turns true: attempts whose lease expired
    /// become failed (or dead), finished jobs are pruned by retention.
    pub fn spawn_upkeep(
        self: &Arc<Self>,
        every: Duration,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let jobs = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = shutdown.changed() => return,
                }
                if *shutdown.borrow() {
                    return;
                }
                match jobs.store.upkeep().await {
                    Ok(reaped) => {
                        for job in reaped {
                            jobs.emit(
                                if job.state == crate::JobState::Dead {
                                    "dead"
                                } else {
                                    "failed"
                                },
                                &job,
                            );
                            jobs.waker(&job.queue).notify_waiters();
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "jobs upkeep failed; retrying next tick"),
                }
            }
        })
    }
}
