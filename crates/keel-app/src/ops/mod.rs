//! The ops service: runbooks and their runs (issue: ops automation).
//!
//! - [`runbooks`]: runbooks in `_opsRunbooks`, every version kept in `_opsRunbookVersions`
//!   (a change makes a new version; a run records the version it ran), import and export in
//!   JSON or YAML (`ops:read` to read, `ops:manage` to change).
//! - [`runs`]: launching a runbook with parameters (`ops:run`): a `_opsRuns` row, then a job
//!   of the system queue `_keel-ops` ([`worker`]) that executes it ([`engine`]); listing and
//!   viewing runs with their steps, paging the log by cursor, cancel, approve, rerun.
//! - [`engine`]: the DAG of steps (`needs`; independent branches in parallel), `when`,
//!   `forEach`, retries with backoff, `continueOnError`, named outputs, approvals that suspend
//!   the run, cancel and the run's timeout; each step's output streamed into the run's log
//!   ([`log`]) and live over realtime (`ops/runs/{id}`).
//!
//! - [`retention`]: only the newest `[ops] keep_runs` ended runs of each runbook are kept.
//!
//! A run's states: `queued` → `running` → `succeeded` | `failed` | `cancelled`, with
//! `awaiting_approval` while an approval step waits, and `interrupted` when the process
//! running it died (see [`worker`]).

pub mod engine;
pub mod log;
pub mod retention;
pub mod runbooks;
pub mod runs;
pub mod secrets;
pub mod steps;
pub mod targets;
pub mod worker;

use keel_core::Error;

use crate::authz::{authorize, Permission};
use crate::caller::Caller;

/// The outbox kind, and so the system queue `_keel-ops`, of runs.
pub const KIND: &str = "ops";

/// A run's states.
pub mod state {
    pub const QUEUED: &str = "queued";
    pub const RUNNING: &str = "running";
    pub const AWAITING_APPROVAL: &str = "awaiting_approval";
    pub const SUCCEEDED: &str = "succeeded";
    pub const FAILED: &str = "failed";
    pub const CANCELLED: &str = "cancelled";
    pub const INTERRUPTED: &str = "interrupted";
    /// A step's state when its `when` was false, or a step it needs failed.
    pub const SKIPPED: &str = "skipped";
    /// A run asked to stop (by `POST …/cancel`): the process running it stops it.
    pub const CANCELLING: &str = "cancelling";

    /// Whether a run in `state` has ended.
    pub fn ended(state: &str) -> bool {
        matches!(state, SUCCEEDED | FAILED | CANCELLED | INTERRUPTED)
    }
}

/// 403 unless `caller` holds `permission`.
pub fn may(caller: &Caller, permission: Permission) -> Result<(), Error> {
    authorize(caller, permission)
}
