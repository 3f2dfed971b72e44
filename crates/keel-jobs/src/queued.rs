//! Jobs on a `Queue` provider (embedded, PostgreSQL, Redis or NATS JetStream): enqueue and
//! run jobs with in-process handlers where the queue engine is the only store.
//!
//! A job is a queue message `{"name", "payload", "backoff", "timeoutMs"}` with the job's
//! priority, delay and `maxAttempts` (as max deliveries). A fetcher per queue claims as many
//! messages as it has free handler slots (`concurrency`), runs each handler under the job's
//! timeout (the lease), then acks it (completions in groups, one `ack_many` each), or nacks
//! it with the job's backoff; a job out of attempts lands in the queue's dead-letter set. A
//! crash anywhere only lets a lease expire: the message is delivered again (at-least-once).
//!
//! What the jobs store (`Jobs`) adds and this does not: job state kept after completion
//! (results, progress, error history), unique keys, listing by state, per-queue concurrency
//! and rate limits across processes, pause, and schedules. `enqueue` refuses a `uniqueKey`
//! rather than ignore it.

use std::sync::Arc;
use std::time::Duration;

use keel_core::queue::{ClaimRequest, Delivery, Nack, NewMessage, Queue};
use keel_core::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;

use crate::model::{Backoff, Job, JobState, NewJob};
use crate::runtime::{free_slots, JobContext, JobHandler, Retry};
use crate::store::enqueue::{DEFAULT_MAX_ATTEMPTS, DEFAULT_PRIORITY, DEFAULT_TIMEOUT_MS};

/// The most messages one fetch claims.
const FETCH_MAX: usize = 100;

/// The most completions acknowledged in one `ack_many`.
const ACK_MAX: usize = 200;

/// The message body of a queued job.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    name: String,
    payload: Value,
    backoff: Backoff,
    timeout_ms: u64,
}

/// Jobs whose only store is a queue provider.
#[derive(Clone)]
pub struct QueuedJobs {
    queue: Arc<dyn Queue>,
}

impl QueuedJobs {
    pub fn new(queue: Arc<dyn Queue>) -> Self {
        Self { queue }
    }

    /// The queue provider underneath.
    pub fn provider(&self) -> &Arc<dyn Queue> {
        &self.queue
    }

    /// Enqueues jobs, all or none; returns their message ids.
    pub async fn enqueue(&self, queue: &str, jobs: Vec<NewJob>) -> Result<Vec<String>> {
        let mut msgs = Vec::with_capacity(jobs.len());
        for job in jobs {
            job.validate()?;
            if job.unique_key.is_some() {
                return Err(Error::field(
                    "uniqueKey",
                    "validation_not_supported",
                    "Unique keys need the jobs store; jobs on a queue provider cannot have one.",
                ));
            }
            let delay = match (job.run_at, job.delay_ms) {
                (Some(at), _) => (at - chrono::Utc::now()).to_std().unwrap_or_default(),
                (None, Some(ms)) => Duration::from_millis(ms.max(0) as u64),
                (None, None) => Duration::ZERO,
            };
            let envelope = Envelope {
                name: job.name.unwrap_or_else(|| "default".into()),
                payload: job.payload,
                backoff: job.backoff.unwrap_or_default(),
                timeout_ms: job.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS),
            };
            let body = serde_json::to_value(&envelope).map_err(Error::internal)?;
            msgs.push(
                NewMessage::new(body)
                    .priority(job.priority.unwrap_or(DEFAULT_PRIORITY))
                    .delay(delay)
                    .max_deliveries(job.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS)),
            );
        }
        if msgs.len() == 1 {
            let msg = msgs.pop().ok_or_else(|| Error::internal("no message"))?;
            return Ok(vec![self.queue.push(queue, msg).await?]);
        }
        self.queue.push_many(queue, msgs).await
    }

    /// Runs `handler` on `queue` with at most `concurrency` jobs at once, until `shutdown`
    /// turns true (jobs running then finish; unclaimed ones stay queued).
    pub fn work(
        &self,
        queue: &str,
        handler: Arc<dyn JobHandler>,
        concurrency: usize,
        mut shutdown: watch::Receiver<bool>,
    ) -> JoinHandle<()> {
        let provider = self.queue.clone();
        let name = queue.to_string();
        let total = concurrency.max(1) as u32;
        let slots = Arc::new(Semaphore::new(concurrency.max(1)));
        // Completions are acknowledged in groups by one task: while one group's round trip is
        // out, the next gathers, so a queue engine runs one script per group, not per job.
        // A finished job frees its slot once its ack is queued; at most `2 × concurrency`
        // wait (the channel's bound), and a crash before their ack only redelivers them.
        let (acks, pending) = mpsc::channel::<Ack>(concurrency.max(1) * 2);
        let acker = tokio::spawn(ack_in_groups(self.queue.clone(), queue.to_string(), pending));
        tokio::spawn(async move {
            // Leases start at the longest default timeout; each job's own timeout bounds its run,
            // and a heartbeat keeps the lease while it runs.
            let lease = Duration::from_millis(DEFAULT_TIMEOUT_MS);
            let slots_held = slots.clone();
            let fetch = async move {
                loop {
                    if *shutdown.borrow() {
                        return;
                    }
                    let mut permits = tokio::select! {
                        p = free_slots(&slots, FETCH_MAX) => match p {
                            Some(p) => p,
                            None => return,
                        },
                        _ = shutdown.changed() => return,
                    };
                    let want = permits.num_permits();
                    let req = ClaimRequest::new(want, lease).wait(Duration::from_secs(1));
                    let batch = tokio::select! {
                        b = provider.claim(&name, req) => b,
                        _ = shutdown.changed() => return,
                    };
                    let batch = match batch {
                        Ok(b) => b,
                        Err(e) => {
                            tracing::warn!(queue = %name, error = %e, "claiming queued jobs failed; retrying in 1 s");
                            drop(permits);
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            continue;
                        }
                    };
                    for d in batch {
                        let Some(permit) = permits.split(1) else { break };
                        let (provider, handler, name) = (provider.clone(), handler.clone(), name.clone());
                        let acks = acks.clone();
                        tokio::spawn(async move {
                            run_one(provider, &name, d, handler.as_ref(), lease, &acks).await;
                            drop(permit);
                        });
                    }
                    // Unused slots return to the pool here.
                    drop(permits);
                }
            };
            fetch.await;
            // Shutting down: wait for the jobs still running to finish and be recorded.
            let _ = slots_held.acquire_many(total).await;
            let _ = acker.await;
        })
    }
}

/// A finished job's lease, waiting for its acknowledgement.
struct Ack {
    lease: String,
    job: String,
}

/// Acknowledges queued completions in groups of up to [`ACK_MAX`] until every sender is gone
/// and the channel is empty.
async fn ack_in_groups(queue: Arc<dyn Queue>, name: String, mut pending: mpsc::Receiver<Ack>) {
    let mut group = Vec::with_capacity(ACK_MAX);
    while pending.recv_many(&mut group, ACK_MAX).await > 0 {
        let leases: Vec<String> = group.iter().map(|a| a.lease.clone()).collect();
        match queue.ack_many(&name, &leases).await {
            Ok(held) => {
                for (ack, held) in group.iter().zip(held) {
                    if !held {
                        tracing::info!(queue = %name, job = %ack.job, "job outcome not recorded (lease lost); it will be delivered again");
                    }
                }
            }
            Err(e) => {
                tracing::warn!(queue = %name, jobs = group.len(), error = %e, "job outcomes not recorded; those jobs will be delivered again");
            }
        }
        group.clear();
    }
}

async fn run_one(
    queue: Arc<dyn Queue>,
    name: &str,
    d: Delivery,
    handler: &dyn JobHandler,
    lease: Duration,
    acks: &mpsc::Sender<Ack>,
) {
    let envelope: Envelope = match serde_json::from_value(d.payload.clone()) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(queue = %name, message = %d.id, error = %e, "not a job message; dead-lettered");
            let _ = queue.nack(name, &d.lease, Nack::Dead).await;
            return;
        }
    };
    let job = Job {
        id: d.id.clone(),
        queue: name.to_string(),
        name: envelope.name,
        payload: envelope.payload,
        state: JobState::Active,
        priority: d.priority,
        run_at: d.enqueued_at,
        attempts: d.deliveries,
        max_attempts: d.max_deliveries,
        backoff: envelope.backoff,
        timeout_ms: envelope.timeout_ms,
        unique_key: None,
        progress: None,
        result: None,
        errors: Vec::new(),
        worker: None,
        lease_expires_at: Some(d.lease_expires_at),
        created_at: d.enqueued_at,
        started_at: Some(chrono::Utc::now()),
        finished_at: None,
        updated_at: chrono::Utc::now(),
    };
    let ctx = JobContext::for_queue(queue.clone(), name, &d.lease, lease);
    let timeout = Duration::from_millis(job.timeout_ms.max(100));
    // Keep the lease while the handler runs (its timeout may outlast one lease).
    let beat = {
        let (queue, name, token) = (queue.clone(), name.to_string(), d.lease.clone());
        let every = (d.lease_expires_at - chrono::Utc::now()).to_std().unwrap_or(lease) / 3;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every.max(Duration::from_millis(50)));
            tick.tick().await;
            loop {
                tick.tick().await;
                if queue.extend(&name, &token, lease).await.is_err() {
                    return;
                }
            }
        })
    };
    let run = crate::runtime::attempt(handler, &job, &ctx, timeout).await;
    beat.abort();
    let outcome = match run {
        Ok(Ok(_)) => {
            let ack = Ack {
                lease: d.lease.clone(),
                job: job.id.clone(),
            };
            // The acker ends only after every sender is dropped, so this send is not refused.
            let _ = acks.send(ack).await;
            return;
        }
        Ok(Err(failure)) => {
            tracing::info!(queue = %name, job = %job.id, attempt = job.attempts, error = %failure, "job attempt failed");
            let nack = match failure.retry {
                Retry::Backoff => Nack::Retry(job.backoff.delay(job.attempts)),
                Retry::After(d) => Nack::Retry(d),
                Retry::Never => Nack::Dead,
            };
            queue.nack(name, &d.lease, nack).await
        }
        Err(_) => {
            tracing::info!(queue = %name, job = %job.id, attempt = job.attempts, "job attempt timed out");
            queue
                .nack(name, &d.lease, Nack::Retry(job.backoff.delay(job.attempts)))
                .await
        }
    };
    if let Err(e) = outcome {
        tracing::info!(queue = %name, job = %job.id, error = %e, "job outcome not recorded (lease lost); it will be delivered again");
    }
}
