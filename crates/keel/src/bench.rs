//! `keel bench …`: benchmarks of Keel's own services, run in process against a real engine.
//!
//! `keel bench jobs --engine E --jobs N --concurrency C` measures no-op jobs, with a random
//! queue name, in three phases, and prints one figure per line on stdout:
//! 1. `enqueue_single_per_s`: N jobs enqueued one per call by C concurrent callers;
//! 2. `processed_per_s`: C in-process no-op workers drain those N jobs, timed from the
//!    workers' start until the engine has recorded the last one done;
//! 3. `enqueue_bulk_per_s`: N jobs enqueued by one caller in batches of `--batch`.
//!
//! Two layers can be measured (`--via`): `store`, the jobs store the HTTP API serves
//! (embedded SQLite or PostgreSQL: job state kept after completion, unique keys, limits), and
//! `queue`, jobs on the low-level queue provider (embedded, PostgreSQL, Redis or NATS
//! JetStream; the engine is the only store). The default is `store` where the engine has one.
//! `bench/bullmq/bench.mjs` runs the same phases on BullMQ; `bench/jobs.sh` runs both.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use keel_core::config::{Config, JobsStore};
use keel_core::queue::Queue;
use keel_jobs::{Job, JobContext, JobHandler, Jobs, NewJob, QueuedJobs};
use serde_json::{json, Value};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::cli::{BenchCommand, BenchJobsArgs};
use crate::wiring::{open_jobs, Engines, Needs};

pub async fn run(cfg: &Config, cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Jobs(args) => jobs(cfg, args).await,
        BenchCommand::Bus(args) => crate::bench_bus::run(cfg, args).await,
        BenchCommand::Realtime(args) => crate::bench_realtime::run(cfg, args).await,
        BenchCommand::Webhooks(args) => crate::bench_webhooks::run(cfg, args).await,
        BenchCommand::Ops(args) => crate::bench_ops::run(cfg, args).await,
        BenchCommand::Search(args) => crate::bench_search::run(cfg, args).await,
    }
}

/// Completes every job at once and counts the jobs it ran.
struct Noop {
    ran: AtomicU64,
    target: AtomicU64,
    reached: Notify,
}

impl Noop {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            ran: AtomicU64::new(0),
            target: AtomicU64::new(u64::MAX),
            reached: Notify::new(),
        })
    }

    fn ran_one(&self) {
        let ran = self.ran.fetch_add(1, Ordering::Relaxed) + 1;
        if ran == self.target.load(Ordering::Relaxed) {
            self.reached.notify_one();
        }
    }

    /// Waits until `target` jobs have run in all (or `limit` passes).
    async fn wait_for(&self, target: u64, limit: Duration) -> anyhow::Result<()> {
        self.target.store(target, Ordering::Relaxed);
        if self.ran.load(Ordering::Relaxed) >= target {
            return Ok(());
        }
        tokio::time::timeout(limit, self.reached.notified()).await.map_err(|_| {
            anyhow::anyhow!(
                "only {} of {target} jobs ran within {} s",
                self.ran.load(Ordering::Relaxed),
                limit.as_secs()
            )
        })
    }
}

#[async_trait::async_trait]
impl JobHandler for Noop {
    async fn run(&self, _job: &Job, _ctx: &JobContext) -> Result<Option<Value>, keel_jobs::JobFailure> {
        self.ran_one();
        Ok(None)
    }
}

/// The queue provider `--engine` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QueueEngine {
    /// SQLite (`queues.db` in a temporary data dir).
    Embedded,
    Postgres,
    Redis,
    /// NATS JetStream.
    Nats,
}

impl QueueEngine {
    fn from_name(name: &str) -> Option<QueueEngine> {
        Some(match name {
            "embedded" => QueueEngine::Embedded,
            "postgres" => QueueEngine::Postgres,
            "redis" => QueueEngine::Redis,
            "nats" => QueueEngine::Nats,
            _ => return None,
        })
    }

    fn needs(self) -> Needs {
        Needs {
            postgres: self == QueueEngine::Postgres,
            mysql: false,
            redis: self == QueueEngine::Redis,
            nats: self == QueueEngine::Nats,
        }
    }
}

/// Opens the queue provider `engine` names on the shared engines.
async fn open_queue(cfg: &Config, engine: QueueEngine, engines: &Engines) -> anyhow::Result<Arc<dyn Queue>> {
    let failed = |e: keel_core::Error| anyhow::anyhow!("cannot open the {engine:?} queue provider: {e}");
    Ok(match engine {
        QueueEngine::Embedded => Arc::new(
            keel_queue::EmbeddedQueue::open(&cfg.data_dir.join("queues.db"))
                .await
                .map_err(failed)?,
        ),
        QueueEngine::Postgres => Arc::new(
            keel_queue::PostgresQueue::new(engines.postgres()?)
                .await
                .map_err(failed)?,
        ),
        QueueEngine::Redis => {
            let redis = engines.redis()?;
            Arc::new(
                keel_queue::RedisQueue::new(&redis.client, redis.manager)
                    .await
                    .map_err(failed)?,
            )
        }
        QueueEngine::Nats => Arc::new(
            keel_queue::NatsQueue::new(engines.nats()?, keel_queue::NatsQueueConfig::default())
                .await
                .map_err(failed)?,
        ),
    })
}

/// The layer under test.
enum Target {
    /// The jobs store (`Jobs`), as the HTTP API uses it.
    Store(Arc<Jobs>),
    /// Jobs on a queue provider.
    Queue(QueuedJobs),
}

impl Target {
    async fn enqueue(&self, queue: &str, jobs: Vec<NewJob>) -> anyhow::Result<()> {
        match self {
            Target::Store(j) => drop(j.enqueue(queue, jobs).await?),
            Target::Queue(q) => drop(q.enqueue(queue, jobs).await?),
        }
        Ok(())
    }

    fn work(&self, queue: &str, handler: Arc<Noop>, concurrency: usize, stop: watch::Receiver<bool>) -> JoinHandle<()> {
        match self {
            Target::Store(j) => j.work(queue, handler, concurrency, stop),
            Target::Queue(q) => q.work(queue, handler, concurrency, stop),
        }
    }

    /// Jobs the engine has not recorded as done yet (on the store, its depth: the finished
    /// jobs, which a full count would read too, are not visited).
    async fn unfinished(&self, queue: &str) -> anyhow::Result<u64> {
        Ok(match self {
            Target::Store(j) => {
                let c = j.store().depth(queue).await?;
                c.waiting + c.delayed + c.active + c.failed
            }
            Target::Queue(q) => q.provider().stats(queue).await?.size(),
        })
    }
}

/// What one run measured, in seconds for `jobs` jobs.
struct Figures {
    enqueue_single_secs: f64,
    processed_secs: f64,
    enqueue_bulk_secs: f64,
}

async fn jobs(cfg: &Config, args: BenchJobsArgs) -> anyhow::Result<()> {
    let via = match (args.via.as_deref(), args.engine.as_str()) {
        (Some(v), _) => v.to_string(),
        (None, "embedded" | "postgres") => "store".to_string(),
        (None, _) => "queue".to_string(),
    };
    if via == "store" && !matches!(args.engine.as_str(), "embedded" | "postgres") {
        anyhow::bail!(
            "--via store needs --engine embedded or postgres (the jobs store lives in SQL); \
             use --via queue for {}",
            args.engine
        );
    }
    let mut cfg = cfg.clone();
    let mut temp_dir: Option<PathBuf> = None;
    if args.engine == "embedded" {
        let dir = std::env::temp_dir().join(format!(
            "keel-bench-{}",
            keel_core::id::random_string(12, keel_core::id::ID_ALPHABET)
        ));
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        cfg.data_dir = dir.clone();
        temp_dir = Some(dir);
    }
    let engine = QueueEngine::from_name(&args.engine)
        .ok_or_else(|| anyhow::anyhow!("unknown --engine: expected one of embedded, postgres, redis, nats"))?;
    if let Some(store) = JobsStore::from_name(&args.engine) {
        cfg.jobs.store = store;
    }
    if let Some(url) = &args.url {
        match args.engine.as_str() {
            "postgres" => cfg.engines.postgres_url = url.clone(),
            "redis" => cfg.engines.redis_url = url.clone(),
            "nats" => cfg.engines.nats_url = url.clone(),
            _ => anyhow::bail!(
                "--url is for --engine postgres, redis or nats; embedded keeps its files in a temporary directory"
            ),
        }
    }
    let outcome = async {
        let target = if via == "store" {
            let engines = Engines::open(&cfg.engines, Needs::jobs(&cfg)).await?;
            Target::Store(open_jobs(&cfg, &engines).await?)
        } else {
            let engines = Engines::open(&cfg.engines, engine.needs()).await?;
            Target::Queue(QueuedJobs::new(open_queue(&cfg, engine, &engines).await?))
        };
        bench_jobs(&target, &args, temp_dir.is_none()).await
    }
    .await;
    if let Some(dir) = temp_dir {
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            eprintln!("keel bench: could not remove {}: {e}", dir.display());
        }
    }
    let f = outcome?;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    eprintln!(
        "keel bench jobs: engine {} (jobs {}), {} no-op jobs, concurrency {}, batches of {}, {cores} cores",
        args.engine,
        if via == "store" {
            "store"
        } else {
            "on the queue provider"
        },
        args.jobs,
        args.concurrency,
        args.batch
    );
    let rate = |secs: f64| {
        if secs > 0.0 {
            (args.jobs as f64 / secs).round() as u64
        } else {
            0
        }
    };
    println!("enqueue_single_per_s {}", rate(f.enqueue_single_secs));
    println!("enqueue_bulk_per_s {}", rate(f.enqueue_bulk_secs));
    println!("processed_per_s {}", rate(f.processed_secs));
    Ok(())
}

async fn bench_jobs(target: &Target, args: &BenchJobsArgs, shared: bool) -> anyhow::Result<Figures> {
    let queue = format!("bench-{}", keel_core::id::random_string(12, keel_core::id::ID_ALPHABET));
    if let Target::Store(jobs) = target {
        // Retention would prune completed jobs mid-run; keep them until clean-up.
        let keep = json!({ "count": args.jobs.saturating_mul(4), "ageSecs": 86_400 });
        jobs.update_settings(&queue, &json!({ "keepCompleted": keep })).await?;
    }
    let measured = measure(target, &queue, args).await;
    if shared {
        if let Err(e) = clean_up(target, &queue).await {
            eprintln!("keel bench: cleaning up queue {queue} failed: {e:#}");
        }
    }
    measured
}

async fn measure(target: &Target, queue: &str, args: &BenchJobsArgs) -> anyhow::Result<Figures> {
    let n = args.jobs;
    let noop = Noop::new();

    // 1. Single enqueues from `concurrency` callers.
    let next = AtomicU64::new(0);
    let started = Instant::now();
    let callers = (0..args.concurrency).map(|_| async {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= n {
                return Ok::<(), anyhow::Error>(());
            }
            target.enqueue(queue, vec![bench_job(i)]).await?;
        }
    });
    futures::future::try_join_all(callers).await?;
    let enqueue_single_secs = started.elapsed().as_secs_f64();

    // 2. Processing.
    let processed_secs = drain(target, queue, &noop, n, args.concurrency as usize).await?;

    // 3. Bulk enqueues from one caller.
    let started = Instant::now();
    let mut i = 0;
    while i < n {
        let k = args.batch.min(n - i);
        target.enqueue(queue, (i..i + k).map(bench_job).collect()).await?;
        i += k;
    }
    let enqueue_bulk_secs = started.elapsed().as_secs_f64();

    Ok(Figures {
        enqueue_single_secs,
        processed_secs,
        enqueue_bulk_secs,
    })
}

fn bench_job(i: u64) -> NewJob {
    NewJob::new("bench", json!({ "i": i }))
}

/// Runs workers until `n` more jobs have run and the engine holds no unfinished one; returns
/// the seconds that took.
async fn drain(target: &Target, queue: &str, noop: &Arc<Noop>, n: u64, concurrency: usize) -> anyhow::Result<f64> {
    let (stop, stopped) = watch::channel(false);
    let already = noop.ran.load(Ordering::Relaxed);
    let started = Instant::now();
    let workers = target.work(queue, noop.clone(), concurrency, stopped);
    let outcome = async {
        noop.wait_for(already + n, Duration::from_secs(600)).await?;
        // The last handlers have returned; wait for their outcomes to be recorded.
        let deadline = Instant::now() + Duration::from_secs(60);
        while target.unfinished(queue).await? > 0 {
            anyhow::ensure!(
                Instant::now() < deadline,
                "jobs still unfinished 60 s after the last one ran"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Ok(started.elapsed().as_secs_f64())
    }
    .await;
    let _ = stop.send(true);
    if tokio::time::timeout(Duration::from_secs(10), workers).await.is_err() {
        eprintln!("keel bench: the workers did not stop within 10 s");
    }
    outcome
}

/// Removes the run's jobs from a shared engine.
async fn clean_up(target: &Target, queue: &str) -> anyhow::Result<()> {
    match target {
        Target::Queue(q) => {
            q.provider().purge(queue).await?;
            Ok(())
        }
        Target::Store(jobs) => {
            // The store deletes finished jobs only: run what is left, then retention to zero
            // and upkeep passes (each prunes up to 5000 per state and queue).
            let left = target.unfinished(queue).await?;
            if left > 0 {
                drain(target, queue, &Noop::new(), left, 64).await?;
            }
            let none = json!({ "count": 0, "ageSecs": 0 });
            jobs.update_settings(queue, &json!({ "keepCompleted": none, "keepDead": none }))
                .await?;
            for _ in 0..100 {
                jobs.store().upkeep().await?;
                let c = jobs.store().counts(queue).await?;
                if c.waiting + c.delayed + c.active + c.completed + c.failed + c.dead + c.cancelled == 0 {
                    return Ok(());
                }
            }
            anyhow::bail!("jobs remain in queue {queue} after 100 upkeep passes")
        }
    }
}
