//! What a job is: its input (`NewJob`), its stored shape (`Job`), its states, backoff and
//! the per-queue settings, in the JSON shapes the HTTP API speaks (camelCase).

use std::time::Duration;

use chrono::{DateTime, Utc};
use keel_core::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Ready to run as soon as a worker claims it.
    Waiting,
    /// Waiting for its `runAt` time.
    Delayed,
    /// Held by a worker under a lease.
    Active,
    /// Finished successfully.
    Completed,
    /// Its last attempt failed; a retry is scheduled at `runAt`.
    Failed,
    /// Out of attempts (or failed without retry): it will not run again unless retried.
    Dead,
    /// Cancelled before it completed.
    Cancelled,
}

impl JobState {
    pub const ALL: [JobState; 7] = [
        JobState::Waiting,
        JobState::Delayed,
        JobState::Active,
        JobState::Completed,
        JobState::Failed,
        JobState::Dead,
        JobState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Waiting => "waiting",
            JobState::Delayed => "delayed",
            JobState::Active => "active",
            JobState::Completed => "completed",
            JobState::Failed => "failed",
            JobState::Dead => "dead",
            JobState::Cancelled => "cancelled",
        }
    }

    /// Parses a state name, with a 400 naming `field` and the valid names otherwise.
    pub fn parse(field: &str, s: &str) -> Result<JobState> {
        JobState::ALL.into_iter().find(|st| st.as_str() == s).ok_or_else(|| {
            Error::field(
                field,
                "validation_invalid_state",
                format!(
                    "Unknown job state {s:?}: use one of waiting, delayed, active, completed, failed, dead, cancelled."
                ),
            )
        })
    }

    /// Whether the job may still run (it holds its unique key while so).
    pub fn is_pending(self) -> bool {
        matches!(
            self,
            JobState::Waiting | JobState::Delayed | JobState::Active | JobState::Failed
        )
    }
}

/// How long to wait before retrying a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Backoff {
    /// `fixed` (always `delayMs`) or `exponential` (`delayMs × 2^(attempt-1)`, capped).
    #[serde(rename = "type", default = "Backoff::default_kind")]
    pub kind: BackoffKind,
    /// The first (or every, for fixed) delay in milliseconds.
    #[serde(default = "Backoff::default_delay")]
    pub delay_ms: u64,
    /// The longest delay in milliseconds (exponential).
    #[serde(default = "Backoff::default_max")]
    pub max_delay_ms: u64,
    /// Spread retries randomly over [delay/2, delay] so failures do not retry in lockstep.
    #[serde(default = "Backoff::default_jitter")]
    pub jitter: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackoffKind {
    Fixed,
    Exponential,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            kind: Self::default_kind(),
            delay_ms: Self::default_delay(),
            max_delay_ms: Self::default_max(),
            jitter: Self::default_jitter(),
        }
    }
}

impl Backoff {
    fn default_kind() -> BackoffKind {
        BackoffKind::Exponential
    }
    fn default_delay() -> u64 {
        1_000
    }
    fn default_max() -> u64 {
        3_600_000
    }
    fn default_jitter() -> bool {
        true
    }

    /// The delay before the retry that follows failed attempt number `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let base = match self.kind {
            BackoffKind::Fixed => self.delay_ms,
            BackoffKind::Exponential => {
                let shift = attempt.saturating_sub(1).min(40);
                self.delay_ms
                    .saturating_mul(1u64 << shift)
                    .min(self.max_delay_ms.max(self.delay_ms))
            }
        };
        let ms = if self.jitter && base > 1 {
            base / 2 + rand::random_range(0..=base / 2)
        } else {
            base
        };
        Duration::from_millis(ms)
    }
}

/// How far a running job got, as its worker reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    pub percent: f64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// One failed attempt, kept in the job's error history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptError {
    pub attempt: u32,
    pub message: String,
    pub at: DateTime<Utc>,
}

/// Queues whose names start with this are Keel's own (`_keel-mail`: the auth emails of the
/// outbox). The jobs API shows them like any other queue, but only Keel enqueues into them
/// and works them, and they take no `pushUrl`.
pub const SYSTEM_QUEUE_PREFIX: &str = "_keel-";

/// Whether `queue` is one of Keel's own ([`SYSTEM_QUEUE_PREFIX`]).
pub fn is_system_queue(queue: &str) -> bool {
    queue.starts_with(SYSTEM_QUEUE_PREFIX)
}

/// The error for a change to one of Keel's own queues through the API.
pub fn system_queue_refused(queue: &str) -> Error {
    Error::Forbidden(format!(
        "The queue {queue:?} is Keel's own (names starting with {SYSTEM_QUEUE_PREFIX:?}): its jobs can be read, \
         retried and cancelled, but only Keel enqueues and works them. Use another queue name."
    ))
}

/// A job as stored and as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub id: String,
    pub queue: String,
    pub name: String,
    pub payload: Value,
    pub state: JobState,
    pub priority: i32,
    pub run_at: DateTime<Utc>,
    /// Attempts started so far (the running one included).
    pub attempts: u32,
    pub max_attempts: u32,
    pub backoff: Backoff,
    /// How long one attempt may run without a heartbeat before it counts as failed.
    pub timeout_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unique_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    pub errors: Vec<AttemptError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// A job a worker holds: the job and the lease token its calls must carry.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimedJob {
    #[serde(flatten)]
    pub job: Job,
    /// Carried by heartbeat, progress, complete and fail; valid for this attempt only.
    pub lease: String,
}

/// The most attempts a job may have.
pub const MAX_ATTEMPTS: u32 = 1000;
/// The longest a job attempt may run between heartbeats.
pub const MAX_TIMEOUT_MS: u64 = 24 * 3600 * 1000;
/// The largest payload, as serialized JSON.
pub const MAX_PAYLOAD_BYTES: usize = 1024 * 1024;

/// A job to enqueue, as the API accepts it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewJob {
    /// What the job is (e.g. `send-welcome-email`); free text, defaults to `default`.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub payload: Value,
    /// 0–9, higher runs first (default 5).
    #[serde(default)]
    pub priority: Option<i32>,
    /// Run no earlier than this many milliseconds from now.
    #[serde(default)]
    pub delay_ms: Option<i64>,
    /// Run no earlier than this time (RFC 3339). Exclusive with `delayMs`.
    #[serde(default)]
    pub run_at: Option<DateTime<Utc>>,
    /// Attempts before the job is dead (default 3).
    #[serde(default)]
    pub max_attempts: Option<u32>,
    #[serde(default)]
    pub backoff: Option<Backoff>,
    /// Milliseconds one attempt may run between heartbeats (default 30 000).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// While a job with this key is pending in the queue, enqueueing another returns it.
    #[serde(default)]
    pub unique_key: Option<String>,
}

impl NewJob {
    /// A job named `name` with `payload` and every default.
    pub fn new(name: impl Into<String>, payload: Value) -> Self {
        Self {
            name: Some(name.into()),
            payload,
            priority: None,
            delay_ms: None,
            run_at: None,
            max_attempts: None,
            backoff: None,
            timeout_ms: None,
            unique_key: None,
        }
    }

    /// Checks every field, naming the first bad one.
    pub fn validate(&self) -> Result<()> {
        if let Some(p) = self.priority {
            if !(0..=9).contains(&p) {
                return Err(Error::field(
                    "priority",
                    "validation_out_of_range",
                    "priority must be between 0 and 9 (higher runs first).",
                ));
            }
        }
        if let Some(d) = self.delay_ms {
            if d < 0 {
                return Err(Error::field(
                    "delayMs",
                    "validation_out_of_range",
                    "delayMs must not be negative.",
                ));
            }
            if d as u128 > keel_core::queue::MAX_DELAY.as_millis() {
                return Err(Error::field(
                    "delayMs",
                    "validation_out_of_range",
                    "delayMs must be at most 366 days; use a schedule for later runs.",
                ));
            }
            if self.run_at.is_some() {
                return Err(Error::field(
                    "delayMs",
                    "validation_conflict",
                    "Give either delayMs or runAt, not both.",
                ));
            }
        }
        if let Some(n) = self.max_attempts {
            if n == 0 || n > MAX_ATTEMPTS {
                return Err(Error::field(
                    "maxAttempts",
                    "validation_out_of_range",
                    format!("maxAttempts must be between 1 and {MAX_ATTEMPTS}."),
                ));
            }
        }
        if let Some(t) = self.timeout_ms {
            if !(100..=MAX_TIMEOUT_MS).contains(&t) {
                return Err(Error::field(
                    "timeoutMs",
                    "validation_out_of_range",
                    format!("timeoutMs must be between 100 and {MAX_TIMEOUT_MS}."),
                ));
            }
        }
        if let Some(b) = &self.backoff {
            if b.delay_ms > MAX_TIMEOUT_MS || b.max_delay_ms > 30 * MAX_TIMEOUT_MS {
                return Err(Error::field(
                    "backoff",
                    "validation_out_of_range",
                    "backoff delays must be at most a day (maxDelayMs at most 30 days).",
                ));
            }
        }
        if let Some(name) = &self.name {
            if name.is_empty() || name.len() > 200 {
                return Err(Error::field(
                    "name",
                    "validation_length_out_of_range",
                    "name must be 1 to 200 characters.",
                ));
            }
        }
        if let Some(key) = &self.unique_key {
            if key.is_empty() || key.len() > 500 {
                return Err(Error::field(
                    "uniqueKey",
                    "validation_length_out_of_range",
                    "uniqueKey must be 1 to 500 characters.",
                ));
            }
        }
        let size = serde_json::to_vec(&self.payload).map(|v| v.len()).unwrap_or(usize::MAX);
        if size > MAX_PAYLOAD_BYTES {
            return Err(Error::TooLarge(format!(
                "The payload is {size} bytes; a job payload holds at most {MAX_PAYLOAD_BYTES} bytes."
            )));
        }
        Ok(())
    }
}

/// A queue's settings (`PATCH /api/queues/{queue}`); absent fields keep their value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QueueSettings {
    pub paused: bool,
    /// The most jobs of this queue active at once across every worker and process.
    pub concurrency: Option<u32>,
    /// The most jobs started per interval.
    pub rate_limit: Option<RateLimit>,
    /// Deliver each job as an HTTP POST to this URL; a 2xx answer completes it.
    pub push_url: Option<String>,
    /// Completed jobs kept: the newest `count`, none older than `ageSecs`.
    pub keep_completed: Retention,
    /// Dead jobs kept.
    pub keep_dead: Retention,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            paused: false,
            concurrency: None,
            rate_limit: None,
            push_url: None,
            keep_completed: Retention {
                count: 1000,
                age_secs: 24 * 3600,
            },
            keep_dead: Retention {
                count: 10_000,
                age_secs: 30 * 24 * 3600,
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimit {
    pub max: u32,
    pub interval_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Retention {
    pub count: u64,
    pub age_secs: u64,
}

/// One minute of a queue's throughput (`GET /api/queues/{queue}/throughput`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Throughput {
    /// The minute's start.
    pub minute: DateTime<Utc>,
    /// Jobs completed in that minute.
    pub completed: u64,
    /// Jobs whose last attempt failed in that minute (failed, to be retried, or dead).
    pub failed: u64,
}

/// A queue's jobs by state, and its recent throughput.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueCounts {
    pub waiting: u64,
    pub delayed: u64,
    pub active: u64,
    pub completed: u64,
    pub failed: u64,
    pub dead: u64,
    pub cancelled: u64,
    /// Jobs completed in the last 60 seconds.
    pub completed_last_minute: u64,
    /// Attempts failed in the last 60 seconds.
    pub failed_last_minute: u64,
}

impl QueueCounts {
    pub fn add(&mut self, state: JobState, n: u64) {
        match state {
            JobState::Waiting => self.waiting += n,
            JobState::Delayed => self.delayed += n,
            JobState::Active => self.active += n,
            JobState::Completed => self.completed += n,
            JobState::Failed => self.failed += n,
            JobState::Dead => self.dead += n,
            JobState::Cancelled => self.cancelled += n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn backoff_grows_and_caps() {
        let b = Backoff {
            kind: BackoffKind::Exponential,
            delay_ms: 100,
            max_delay_ms: 1000,
            jitter: false,
        };
        let ms: Vec<u128> = (1..=6).map(|a| b.delay(a).as_millis()).collect();
        assert_eq!(ms, vec![100, 200, 400, 800, 1000, 1000]);
        let f = Backoff {
            kind: BackoffKind::Fixed,
            delay_ms: 250,
            max_delay_ms: 0,
            jitter: false,
        };
        assert_eq!(f.delay(7), Duration::from_millis(250));
        let j = Backoff { jitter: true, ..b };
        for _ in 0..50 {
            let d = j.delay(3).as_millis();
            assert!((200..=400).contains(&d), "{d}");
        }
    }

    #[test]
    fn bad_input_names_the_field() {
        let field_of = |j: NewJob| match j.validate() {
            Err(Error::BadRequest { fields, .. }) => fields.keys().next().cloned(),
            other => panic!("expected a 400, got {other:?}"),
        };
        let base = NewJob::new("x", json!({}));
        assert_eq!(
            field_of(NewJob {
                delay_ms: Some(-1),
                ..base.clone()
            })
            .as_deref(),
            Some("delayMs")
        );
        assert_eq!(
            field_of(NewJob {
                priority: Some(12),
                ..base.clone()
            })
            .as_deref(),
            Some("priority")
        );
        assert_eq!(
            field_of(NewJob {
                max_attempts: Some(0),
                ..base.clone()
            })
            .as_deref(),
            Some("maxAttempts")
        );
        assert!(JobState::parse("state", "sleeping").is_err());
        assert_eq!(JobState::parse("state", "dead").unwrap(), JobState::Dead);
        let big = NewJob::new("x", json!("y".repeat(MAX_PAYLOAD_BYTES)));
        assert!(matches!(big.validate(), Err(Error::TooLarge(_))));
    }
}
