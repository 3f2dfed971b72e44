//! What a schedule is, in the JSON shapes `/api/schedules` speaks (camelCase).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::spec::Catchup;
use crate::model::JobState;

/// Whether a tick may start a job while the previous tick's job is still pending.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Overlap {
    /// Skip the tick (recorded in the run history as `skipped`).
    #[default]
    Skip,
    /// Enqueue anyway.
    Allow,
}

impl Overlap {
    pub fn as_str(self) -> &'static str {
        match self {
            Overlap::Skip => "skip",
            Overlap::Allow => "allow",
        }
    }
}

/// A schedule as stored and returned.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Schedule {
    pub id: String,
    pub name: String,
    /// When it fires: `{"cron","timezone"}`, `{"every","anchor"?}` or `{"at"}`.
    pub schedule: Value,
    /// The queue its jobs go to.
    pub queue: String,
    /// The job each tick enqueues (a NewJob: name, payload, priority, maxAttempts, …).
    pub job: Value,
    pub overlap: Overlap,
    pub catchup: Catchup,
    pub paused: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_tick: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_job_id: Option<String>,
    /// The next tick (none for a one-shot that has fired).
    pub next_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A schedule to create (`POST /api/schedules`) or the fields to change (`PATCH`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScheduleInput {
    pub name: Option<String>,
    pub schedule: Option<Value>,
    pub queue: Option<String>,
    pub job: Option<Value>,
    pub overlap: Option<Overlap>,
    pub catchup: Option<Catchup>,
    pub paused: Option<bool>,
}

/// One tick of a schedule and what came of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleRun {
    pub tick: DateTime<Utc>,
    pub fired_at: DateTime<Utc>,
    /// `enqueued`, `triggered` (by hand), `skipped` (previous job still pending) or `missed`
    /// (passed while no Keel process ran, with catch-up `skip`).
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// The job's state now (none once retention removed it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_state: Option<JobState>,
}
