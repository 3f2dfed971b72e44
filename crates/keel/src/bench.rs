//! `keel bench …`: benchmarks of Keel's own services, run in process against a real store.
//!
//! `keel bench jobs` measures, on a fresh temporary embedded store or on PostgreSQL, with a
//! random queue name:
//! 1. enqueue throughput: `--jobs` jobs enqueued by one caller in batches of `--batch`;
//! 2. processing throughput: `--concurrency` in-process workers with a no-op handler drain
//!    those jobs, timed from the workers' start until the last one is completed;
//! 3. end-to-end latency: `--latency-jobs` single enqueues at `--rate` per second while the
//!    workers run, each job's `finishedAt − createdAt` (the store's millisecond clock).
//!
//! `bench/bullmq/bench.mjs` runs the same workload on BullMQ; `bench/jobs.sh` runs both.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use keel_core::config::Config;
use keel_jobs::{Job, JobContext, JobEvent, JobHandler, Jobs, NewJob};
use serde_json::{json, Value};
use tokio::sync::{broadcast, watch};

use crate::cli::{BenchCommand, BenchJobsArgs};
use crate::wiring::open_jobs;

pub async fn run(cfg: &Config, cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Jobs(args) => jobs(cfg, args).await,
    }
}

/// Completes every job at once.
struct Noop;

// `JobHandler` is an `async_trait`; this is the signature the macro generates.
impl JobHandler for Noop {
    fn run<'life0, 'life1, 'life2, 'async_trait>(
        &'life0 self,
        _job: &'life1 Job,
        _ctx: &'life2 JobContext,
    ) -> Pin<Box<dyn Future<Output = Result<Option<Value>, String>> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(std::future::ready(Ok(None)))
    }
}

/// What one run measured.
struct Figures {
    enqueue_secs: f64,
    process_secs: f64,
    latency_secs: f64,
    /// Milliseconds from enqueue to completed, sorted.
    latencies: Vec<i64>,
}

async fn jobs(cfg: &Config, args: BenchJobsArgs) -> anyhow::Result<()> {
    let mut cfg = cfg.clone();
    let mut temp_dir: Option<PathBuf> = None;
    if args.store == "postgres" {
        cfg.jobs.store = "postgres".into();
        if let Some(url) = &args.postgres_url {
            cfg.jobs.postgres_url = url.clone();
        }
    } else {
        let dir = std::env::temp_dir().join(format!(
            "keel-bench-{}",
            keel_core::id::random_string(12, keel_core::id::ID_ALPHABET)
        ));
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        cfg.data_dir = dir.clone();
        cfg.jobs.store = "embedded".into();
        temp_dir = Some(dir);
    }
    let outcome = bench_jobs(&cfg, &args).await;
    if let Some(dir) = temp_dir {
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            eprintln!("keel bench: could not remove {}: {e}", dir.display());
        }
    }
    let f = outcome?;
    print_jobs_figures(&args, &f);
    Ok(())
}

async fn bench_jobs(cfg: &Config, args: &BenchJobsArgs) -> anyhow::Result<Figures> {
    let jobs = open_jobs(cfg).await?;
    let queue = format!("bench-{}", keel_core::id::random_string(12, keel_core::id::ID_ALPHABET));
    let total = args.jobs + args.latency_jobs;
    // Retention would prune completed jobs past 1000 while the latency run reads them back.
    jobs.update_settings(
        &queue,
        &json!({ "keepCompleted": { "count": total.saturating_mul(2), "ageSecs": 7 * 86_400 } }),
    )
    .await?;
    let measured = measure(&jobs, &queue, args).await;
    if args.store == "postgres" {
        if let Err(e) = clean_up(&jobs, &queue).await {
            eprintln!("keel bench: cleaning up queue {queue} failed: {e:#}");
        }
    }
    measured
}

async fn measure(jobs: &Arc<Jobs>, queue: &str, args: &BenchJobsArgs) -> anyhow::Result<Figures> {
    let n = args.jobs;

    // 1. Enqueue throughput.
    let started = Instant::now();
    let mut next = 0u64;
    while next < n {
        let k = args.batch.min(n - next);
        let batch = (next..next + k)
            .map(|i| NewJob::new("bench", json!({ "i": i })))
            .collect();
        jobs.enqueue(queue, batch).await?;
        next += k;
    }
    let enqueue_secs = started.elapsed().as_secs_f64();

    // 2. Processing throughput.
    let mut done = Completions::new(jobs.clone(), queue, jobs.subscribe());
    let (stop, stopped) = watch::channel(false);
    let started = Instant::now();
    let workers = jobs.work(queue, Arc::new(Noop), args.concurrency as usize, stopped);
    let drained = done.wait_for(n).await;
    let process_secs = started.elapsed().as_secs_f64();

    // 3. End-to-end latency, single enqueues at a steady rate while the workers run.
    let latency = match drained {
        Ok(()) => latency_run(jobs, queue, args, &mut done).await,
        Err(e) => Err(e),
    };
    let _ = stop.send(true);
    if tokio::time::timeout(Duration::from_secs(10), workers).await.is_err() {
        eprintln!("keel bench: the workers did not stop within 10 s");
    }
    let (latency_secs, latencies) = latency?;
    Ok(Figures {
        enqueue_secs,
        process_secs,
        latency_secs,
        latencies,
    })
}

async fn latency_run(
    jobs: &Arc<Jobs>,
    queue: &str,
    args: &BenchJobsArgs,
    done: &mut Completions,
) -> anyhow::Result<(f64, Vec<i64>)> {
    let m = args.latency_jobs;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate as f64));
    let mut ids = Vec::with_capacity(m as usize);
    let started = Instant::now();
    for j in 0..m {
        tick.tick().await;
        let enqueued = jobs
            .enqueue(queue, vec![NewJob::new("bench-latency", json!({ "j": j }))])
            .await?;
        ids.extend(enqueued.into_iter().map(|e| e.job.id));
    }
    let latency_secs = started.elapsed().as_secs_f64();
    done.wait_for(args.jobs + m).await?;
    let mut latencies = Vec::with_capacity(ids.len());
    for id in &ids {
        let job = jobs
            .store()
            .get(id)
            .await?
            .with_context(|| format!("job {id} vanished before it was read back"))?;
        let finished = job
            .finished_at
            .with_context(|| format!("job {id} is {} after the run", job.state.as_str()))?;
        latencies.push((finished - job.created_at).num_milliseconds());
    }
    latencies.sort_unstable();
    Ok((latency_secs, latencies))
}

/// Counts the queue's completed jobs from the service's events; falls back to polling the
/// store's counts every 50 ms when the event channel overflowed (events were dropped).
struct Completions {
    jobs: Arc<Jobs>,
    queue: String,
    events: broadcast::Receiver<JobEvent>,
    seen: u64,
    lagged: bool,
}

impl Completions {
    fn new(jobs: Arc<Jobs>, queue: &str, events: broadcast::Receiver<JobEvent>) -> Self {
        Self {
            jobs,
            queue: queue.to_string(),
            events,
            seen: 0,
            lagged: false,
        }
    }

    async fn wait_for(&mut self, target: u64) -> anyhow::Result<()> {
        let mut last_progress = Instant::now();
        let mut last_seen = self.seen;
        while self.seen < target {
            if self.lagged {
                tokio::time::sleep(Duration::from_millis(50)).await;
                self.seen = self.jobs.store().counts(&self.queue).await?.completed;
            } else {
                match tokio::time::timeout(Duration::from_millis(50), self.events.recv()).await {
                    Ok(Ok(ev)) => {
                        if ev.action == "completed" && ev.job.queue == self.queue {
                            self.seen += 1;
                        }
                    }
                    Ok(Err(broadcast::error::RecvError::Lagged(_))) => {
                        self.lagged = true;
                        self.seen = self.jobs.store().counts(&self.queue).await?.completed;
                    }
                    Ok(Err(broadcast::error::RecvError::Closed)) => anyhow::bail!("the jobs service stopped"),
                    Err(_) => {}
                }
            }
            if self.seen != last_seen {
                last_seen = self.seen;
                last_progress = Instant::now();
            } else if last_progress.elapsed() > Duration::from_secs(60) {
                anyhow::bail!(
                    "no job of {} completed for 60 s ({} of {target} done)",
                    self.queue,
                    self.seen
                );
            }
        }
        Ok(())
    }
}

/// Deletes the run's jobs from a shared store: retention to zero, then upkeep passes (each
/// prunes up to 5000 per state and queue). The queue's settings row stays: the store has no
/// way to delete a queue.
async fn clean_up(jobs: &Arc<Jobs>, queue: &str) -> anyhow::Result<()> {
    let none = json!({ "count": 0, "ageSecs": 0 });
    jobs.update_settings(queue, &json!({ "keepCompleted": none, "keepDead": none }))
        .await?;
    for _ in 0..100 {
        jobs.store().upkeep().await?;
        let c = jobs.store().counts(queue).await?;
        let left = c.waiting + c.delayed + c.active + c.completed + c.failed + c.dead + c.cancelled;
        if left == 0 {
            return Ok(());
        }
        if c.completed + c.dead == 0 {
            anyhow::bail!("{left} unfinished jobs remain in queue {queue}");
        }
    }
    anyhow::bail!("jobs remain in queue {queue} after 100 upkeep passes")
}

/// The nearest-rank percentile `q` (0–1) of sorted values.
fn percentile(sorted: &[i64], q: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn print_jobs_figures(args: &BenchJobsArgs, f: &Figures) {
    let per_sec = |n: u64, secs: f64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
    let enqueue_rate = per_sec(args.jobs, f.enqueue_secs);
    let process_rate = per_sec(args.jobs, f.process_secs);
    let achieved_rate = per_sec(args.latency_jobs, f.latency_secs);
    let (p50, p99) = (percentile(&f.latencies, 0.50), percentile(&f.latencies, 0.99));
    let max = f.latencies.last().copied().unwrap_or(0);
    let mean = if f.latencies.is_empty() {
        0.0
    } else {
        f.latencies.iter().sum::<i64>() as f64 / f.latencies.len() as f64
    };
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "keel bench jobs: store {}, {} jobs, batches of {}, {} workers, {cores} cores",
        args.store, args.jobs, args.batch, args.concurrency
    );
    println!(
        "  enqueue   {:>9.0} jobs/s   {} jobs in batches of {} in {:.2} s",
        enqueue_rate, args.jobs, args.batch, f.enqueue_secs
    );
    println!(
        "  process   {:>9.0} jobs/s   {} jobs by {} no-op workers in {:.2} s",
        process_rate, args.jobs, args.concurrency, f.process_secs
    );
    println!(
        "  latency   p50 {p50} ms, p99 {p99} ms, max {max} ms, mean {mean:.1} ms   {} single enqueues at {:.0}/s",
        f.latencies.len(),
        achieved_rate
    );
    let line = json!({
        "bench": "jobs",
        "system": "keel",
        "store": args.store,
        "jobs": args.jobs,
        "batch": args.batch,
        "concurrency": args.concurrency,
        "cores": cores,
        "enqueuePerSec": enqueue_rate.round() as u64,
        "enqueueSecs": f.enqueue_secs,
        "processPerSec": process_rate.round() as u64,
        "processSecs": f.process_secs,
        "latencyJobs": f.latencies.len(),
        "latencyRate": achieved_rate.round() as u64,
        "latencyP50Ms": p50,
        "latencyP99Ms": p99,
        "latencyMaxMs": max,
        "latencyMeanMs": (mean * 10.0).round() / 10.0,
    });
    println!("{line}");
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.5), 50);
        assert_eq!(percentile(&v, 0.99), 99);
        assert_eq!(percentile(&[7], 0.99), 7);
        assert_eq!(percentile(&[], 0.5), 0);
    }
}
