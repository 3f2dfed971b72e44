//! The threads that run plain HTTP connections ("lanes"): one single-threaded Tokio runtime
//! per core, started with the process's first server and kept for the life of the process
//! (every server of the process shares them).
//!
//! A connection runs on one lane from accept to close, so its requests, and what they
//! allocate and free, stay on one thread. On the multi-threaded runtime a connection's task
//! moved to whichever worker polled its socket's readiness: memory allocated on one core was
//! freed on the other and came back cold to the first, and the allocator's first read of a
//! freed block was the costliest instruction of a request (`perf`, docs/BENCHMARKS.md). The
//! price: a lane cannot hand its queued requests to an idle one, so under a CPU shared with
//! other busy processes the slowest 1 % of requests wait longer (measured in BENCHMARKS).
//!
//! Everything else (background tasks, jobs, the log writer, TLS connections) stays on the
//! process's main runtime; a request's own `tokio::spawn` and `spawn_blocking` run on its
//! lane's runtime, which lives as long as the process.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

/// A connection to run on a lane.
pub(crate) type Job = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Blocking threads per lane (a request's slow SQLite reads, password hashing, thumbnails).
const BLOCKING_THREADS_PER_LANE: usize = 8;

pub(crate) struct Lanes {
    senders: Vec<UnboundedSender<Job>>,
    next: AtomicUsize,
}

static LANES: OnceLock<Option<Lanes>> = OnceLock::new();

/// The process's lanes, started on first use; `None` if a thread or runtime could not be
/// made (connections then run on the caller's runtime).
pub(crate) fn lanes() -> Option<&'static Lanes> {
    LANES.get_or_init(Lanes::start).as_ref()
}

impl Lanes {
    fn start() -> Option<Lanes> {
        let count = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut senders = Vec::with_capacity(count);
        for i in 0..count {
            let (tx, mut rx) = unbounded_channel::<Job>();
            // The runtime is made on its thread: one that failed to start ends that lane
            // (its connections then run on the main runtime, see `run`).
            let started = std::thread::Builder::new()
                .name(format!("keel-http-{i}"))
                .spawn(move || {
                    let runtime = match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .max_blocking_threads(BLOCKING_THREADS_PER_LANE)
                        .build()
                    {
                        Ok(r) => r,
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot start an HTTP connection runtime; its connections run on the main runtime");
                            return;
                        }
                    };
                    runtime.block_on(async move {
                        while let Some(job) = rx.recv().await {
                            tokio::spawn(job);
                        }
                    });
                });
            if let Err(e) = started {
                tracing::warn!(error = %e, "cannot start an HTTP connection thread; connections run on the main runtime");
                return None;
            }
            senders.push(tx);
        }
        Some(Lanes {
            senders,
            next: AtomicUsize::new(0),
        })
    }

    /// Runs `job` on the next lane, round robin; hands it back if that lane is not running.
    pub(crate) fn run(&self, job: Job) -> Result<(), Job> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.senders.len();
        self.senders[i].send(job).map_err(|e| e.0)
    }
}
