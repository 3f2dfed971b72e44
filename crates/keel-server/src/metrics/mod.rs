//! What `/metrics` exposes: every metric's `# HELP` text ([`describe`]), and the gauges that
//! describe the present, computed at scrape time ([`refresh`]): the process (CPU, memory,
//! file descriptors, start time), the SQLite pools, realtime clients and job queue depth.
//! Counters are recorded where things happen: requests (`middleware.rs`), cache hits and
//! misses (`keel_cache::metered`), job events (`keel_jobs::Jobs`).

use metrics::{describe_counter, describe_gauge, describe_histogram, gauge, Unit};

use crate::state::AppState;

mod process;
pub(crate) mod requests;

/// Gauge: the unfinished jobs of a queue, labelled `queue` and `state` (`waiting`, `delayed`,
/// `active`, `failed` = a retry is due).
pub const JOBS_QUEUE_DEPTH: &str = "keel_jobs_queue_depth";
/// Gauge: realtime (SSE) clients connected to this process.
pub const REALTIME_CLIENTS: &str = "keel_realtime_clients";

/// Gives every metric Keel records its `# HELP` line (and unit). Call once, after the
/// recorder is installed.
pub fn describe() {
    describe_counter!(
        crate::middleware::REQUESTS_TOTAL,
        "HTTP requests answered, by method, route template and status."
    );
    describe_histogram!(
        crate::middleware::REQUEST_DURATION,
        Unit::Seconds,
        "Time to the response head of HTTP requests, by method, route template and status."
    );
    describe_counter!(
        "keel_cache_hits_total",
        "Cache reads (get, get_many keys) that found a value, by provider."
    );
    describe_counter!(
        "keel_cache_misses_total",
        "Cache reads (get, get_many keys) that found nothing, by provider."
    );
    describe_counter!(
        "keel_jobs_total",
        "Job lifecycle events (enqueued, claimed, completed, failed, …), by queue and event."
    );
    describe_gauge!(
        JOBS_QUEUE_DEPTH,
        "Unfinished jobs by queue and state (waiting, delayed, active, failed awaiting retry)."
    );
    describe_counter!(
        "keel_request_logs_dropped_total",
        "Request log entries dropped because the logs writer fell behind."
    );
    describe_gauge!(REALTIME_CLIENTS, "Realtime (SSE) clients connected to this process.");
    describe_gauge!(
        DB_READERS_MAX,
        "SQLite reads (other than point lookups) allowed at once."
    );
    describe_gauge!(DB_READERS_BUSY, "SQLite pooled reads running now.");
    describe_gauge!(DB_READERS_IDLE, "Open SQLite read connections waiting for a read.");
    describe_gauge!(
        DB_WRITERS,
        "Open SQLite write connections (one), by state (busy, idle)."
    );
    process::describe();
}

/// Gauge: pooled reads allowed at once.
pub const DB_READERS_MAX: &str = "keel_db_readers_max";
/// Gauge: pooled reads running now.
pub const DB_READERS_BUSY: &str = "keel_db_readers_busy";
/// Gauge: open read connections waiting.
pub const DB_READERS_IDLE: &str = "keel_db_reader_connections_idle";
/// Gauge: write connections, labelled `state` (`busy`, `idle`).
pub const DB_WRITERS: &str = "keel_db_writer_connections";

/// Sets the scrape-time gauges. Cheap: a few `/proc` reads, counters held in memory and one
/// indexed count per job queue (of unfinished jobs only). A failing part is logged and
/// skipped; the rest is still exposed.
pub async fn refresh(state: &AppState) {
    process::refresh();
    let pool = state.store.engine().pool_stats();
    gauge!(DB_READERS_MAX).set(pool.readers_max as f64);
    gauge!(DB_READERS_BUSY).set(pool.readers_busy as f64);
    gauge!(DB_READERS_IDLE).set(pool.readers_idle as f64);
    gauge!(DB_WRITERS, "state" => "busy").set(pool.writers_busy as f64);
    gauge!(DB_WRITERS, "state" => "idle").set(pool.writers.saturating_sub(pool.writers_busy) as f64);
    gauge!(REALTIME_CLIENTS).set(state.realtime.client_count() as f64);
    refresh_job_queues(state).await;
}

async fn refresh_job_queues(state: &AppState) {
    let store = state.jobs.store();
    let queues = match store.queues().await {
        Ok(q) => q,
        Err(e) => {
            tracing::warn!(error = %e, "metrics: cannot list job queues");
            return;
        }
    };
    for (queue, _) in queues {
        match store.depth(&queue).await {
            Ok(c) => {
                for (s, n) in [
                    ("waiting", c.waiting),
                    ("delayed", c.delayed),
                    ("active", c.active),
                    ("failed", c.failed),
                ] {
                    gauge!(JOBS_QUEUE_DEPTH, "queue" => queue.clone(), "state" => s).set(n as f64);
                }
            }
            Err(e) => tracing::warn!(error = %e, queue = %queue, "metrics: cannot count a job queue"),
        }
    }
}
