//! Request logs as PocketBase keeps them: one `_logs` row per request (`id`, `created`,
//! `level`, `message`, `data`) in an auxiliary database beside the records, written in
//! batches off the request path, read back as PocketBase's `/api/logs` list, view and
//! hourly stats, and purged by age.
//!
//! Where the rows live: on SQLite, the data dir's `auxiliary.db` (an engine of its own, so
//! log writes never queue behind record writes on `data.db`'s single writer), table `_logs`
//! as in PocketBase; on PostgreSQL and MariaDB, the table `keel_request_logs` in the shared
//! database (see `docs/logs.md`).
//!
//! What a crash does: entries still in the writer's channel or batch (at most
//! [`writer::FLUSH_EVERY`] of traffic) are lost; logs are best effort, never a reason to
//! slow or fail a request. A full channel drops entries and counts them
//! (`keel_request_logs_dropped_total`).
#![forbid(unsafe_code)]

mod entry;
mod query;
mod store;
pub mod writer;

pub use entry::{LogEntry, LEVEL_DEBUG, LEVEL_ERROR, LEVEL_INFO, LEVEL_WARN};
pub use query::{CallerCount, HourStat};
pub use store::LogStore;
pub use writer::RequestLogs;
