//! Background jobs: the job store (SQLite or PostgreSQL), the `Jobs` service with lifecycle
//! events and long-poll claims, and in-process workers (Rust handlers, HTTP push).
#![forbid(unsafe_code)]

pub mod model;
pub mod queued;
pub mod runtime;
pub mod schedule;
pub mod service;
pub mod store;

pub use model::{
    is_system_queue, system_queue_refused, Backoff, BackoffKind, ClaimedJob, Job, JobState, NewJob, Progress,
    QueueCounts, QueueSettings, Throughput, SYSTEM_QUEUE_PREFIX,
};
pub use queued::QueuedJobs;
pub use runtime::{HttpPush, JobContext, JobFailure, JobHandler, Retry};
pub use service::{JobEvent, Jobs};
pub use store::attempt::FailMode;
pub use store::{ClaimOptions, JobFilter, JobPage, JobStore};
