//! A worker's calls on a job it holds: heartbeat, progress, complete, fail. Each carries the
//! lease token of its claim and changes the job only while that lease is held.

use keel_core::{Error, Result};
use keel_sql::{Dialect, Row, Tx};
use serde_json::{json, Value};

use super::{db, int, job_from_row, now_ms, opt, opt_int, opt_text, text, JobStore, JOB_COLUMNS};
use crate::model::{AttemptError, Backoff, Job, Progress};

/// `JOB_COLUMNS`, each prefixed with `keel_jobs.` (for statements that join another table).
static QUALIFIED_JOB_COLUMNS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    JOB_COLUMNS
        .split(',')
        .map(|c| format!("keel_jobs.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
});

/// The error for a lease that is no longer held.
pub fn stale_job_lease() -> Error {
    Error::Conflict(
        "The job's lease is no longer held: the attempt timed out, the job was cancelled, or it was \
         claimed again. Stop working on it."
            .into(),
    )
}

/// How a failed attempt ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailMode {
    /// Retry after the backoff, unless out of attempts (then dead).
    Retry,
    /// Retry after this long instead of the backoff, unless out of attempts (then dead).
    RetryAfter(std::time::Duration),
    /// Dead now, whatever attempts are left.
    NoRetry,
}

impl JobStore {
    /// Extends the lease of a held job by its timeout; returns the job.
    pub async fn heartbeat(&self, id: &str, lease: &str) -> Result<Job> {
        let now = now_ms();
        self.update_held(
            id,
            lease,
            "lease_expires_at = $3 + timeout_ms, updated_at = $3",
            now,
            Vec::new(),
        )
        .await
    }

    /// Records progress (percent 0–100 and a message) and extends the lease.
    pub async fn progress(&self, id: &str, lease: &str, progress: &Progress) -> Result<Job> {
        if !(0.0..=100.0).contains(&progress.percent) {
            return Err(Error::field(
                "percent",
                "validation_out_of_range",
                "percent must be between 0 and 100.",
            ));
        }
        if progress.message.len() > 2000 {
            return Err(Error::field(
                "message",
                "validation_length_out_of_range",
                "message must be at most 2000 characters.",
            ));
        }
        let json = serde_json::to_string(progress).map_err(Error::internal)?;
        let now = now_ms();
        self.update_held(
            id,
            lease,
            "progress = $4, lease_expires_at = $3 + timeout_ms, updated_at = $3",
            now,
            vec![json!(json)],
        )
        .await
    }

    /// Completes a held job with an optional JSON result.
    pub async fn complete(&self, id: &str, lease: &str, result: Option<&Value>) -> Result<Job> {
        let json = match result {
            Some(v) => Some(serde_json::to_string(v).map_err(Error::internal)?),
            None => None,
        };
        if json.as_ref().is_some_and(|j| j.len() > crate::model::MAX_PAYLOAD_BYTES) {
            return Err(Error::TooLarge("A job result holds at most 1 MiB of JSON.".into()));
        }
        let now = now_ms();
        self.update_held(
            id,
            lease,
            "state = 'completed', result = $4, lease_token = NULL, lease_expires_at = NULL, finished_at = $3, \
             updated_at = $3",
            now,
            vec![opt(json)],
        )
        .await
    }

    /// Completes several held jobs in one transaction (one commit for many jobs: what the
    /// in-process workers use). Each item succeeds or fails on its own: a stale lease is a
    /// `Conflict` for that item only.
    /// Runs detached (see `JobStore::detached`): a cancelled caller cannot interrupt it.
    pub async fn complete_many(&self, items: &[(String, String, Option<Value>)]) -> Result<Vec<Result<Job>>> {
        let (store, items) = (self.clone(), items.to_vec());
        Self::detached(async move { store.complete_many_now(&items).await }).await
    }

    async fn complete_many_now(&self, items: &[(String, String, Option<Value>)]) -> Result<Vec<Result<Job>>> {
        let now = now_ms();
        let rows = if self.dialect().update_returning() {
            // One statement for the whole group, committed on its own (one round trip where
            // the engine allows). Its text is the same for any number of jobs, so it is
            // prepared once per connection.
            let (sql, params) = complete_statement(self.dialect(), items, now)?;
            self.write(&sql, &params).await?
        } else {
            // No `UPDATE … FROM … RETURNING` (MariaDB): one locked update per job, still one
            // transaction and one commit.
            let mut tx = self.begin().await?;
            let mut rows = Vec::with_capacity(items.len());
            for (id, lease, result) in items {
                rows.extend(
                    self.update_returning(
                        tx.as_mut(),
                        "state = 'completed', result = $4, lease_token = NULL, lease_expires_at = NULL, \
                         finished_at = $1, updated_at = $1",
                        "id = $2 AND lease_token = $3 AND state = 'active' AND lease_expires_at > $1",
                        &[json!(now), json!(id), json!(lease), opt(result_text(result)?)],
                    )
                    .await?,
                );
            }
            tx.commit().await.map_err(db)?;
            rows
        };
        let mut done = std::collections::HashMap::with_capacity(rows.len());
        for row in &rows {
            let job = job_from_row(row)?;
            done.insert(job.id.clone(), job);
        }
        Ok(items
            .iter()
            .map(|(id, _, _)| done.remove(id).ok_or_else(stale_job_lease))
            .collect())
    }

    /// Fails the current attempt of a held job: retried after its backoff, or dead when out
    /// of attempts or `mode` is `NoRetry`.
    /// Runs detached (see `JobStore::detached`).
    pub async fn fail(&self, id: &str, lease: &str, message: &str, mode: FailMode) -> Result<Job> {
        let (store, id, lease, message) = (self.clone(), id.to_string(), lease.to_string(), message.to_string());
        Self::detached(async move { store.fail_now(&id, &lease, &message, mode).await }).await
    }

    async fn fail_now(&self, id: &str, lease: &str, message: &str, mode: FailMode) -> Result<Job> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        let row = self
            .rows(
                tx.as_mut(),
                "SELECT lease_token, lease_expires_at, state, attempts, max_attempts, backoff, errors FROM keel_jobs \
                 WHERE id = $1",
                &[json!(id)],
            )
            .await?
            .into_iter()
            .next()
            .ok_or_else(Error::not_found)?;
        let held = opt_text(&row, "lease_token")?.as_deref() == Some(lease)
            && text(&row, "state")? == "active"
            && opt_int(&row, "lease_expires_at")?.unwrap_or(0) > now;
        if !held {
            return Err(stale_job_lease());
        }
        let job = fail_attempt(self, tx.as_mut(), id, lease, &row, message, mode, now)
            .await?
            .ok_or_else(stale_job_lease)?;
        tx.commit().await.map_err(db)?;
        Ok(job)
    }

    /// Runs `UPDATE keel_jobs SET {set}` on a job whose lease `lease` is held and unexpired
    /// (`$1` id, `$2` lease, `$3` now, then `more` from `$4`); 404 / 409 otherwise.
    async fn update_held(&self, id: &str, lease: &str, set: &str, now: i64, more: Vec<Value>) -> Result<Job> {
        let mut params = vec![json!(id), json!(lease), json!(now)];
        params.extend(more);
        let filter = "id = $1 AND lease_token = $2 AND state = 'active' AND lease_expires_at > $3";
        match self.write_update(set, filter, &params).await?.first() {
            Some(row) => job_from_row(row),
            None => match self.get(id).await? {
                Some(_) => Err(stale_job_lease()),
                None => Err(Error::not_found()),
            },
        }
    }
}

/// Ends attempt `attempts` of job `id` as failed with `message`, if `lease` still is its
/// token: back to `failed` with a retry time, or `dead`. `row` holds the job's attempts,
/// max_attempts, backoff and errors. Returns `None` when the lease changed meanwhile.
#[allow(clippy::too_many_arguments)] // one attempt's facts, all needed
pub(crate) async fn fail_attempt(
    store: &JobStore,
    tx: &mut dyn Tx,
    id: &str,
    lease: &str,
    row: &Row,
    message: &str,
    mode: FailMode,
    now: i64,
) -> Result<Option<Job>> {
    let attempts = int(row, "attempts")?;
    let max_attempts = int(row, "max_attempts")?;
    let backoff: Backoff = serde_json::from_str(&text(row, "backoff")?).unwrap_or_default();
    let mut errors: Vec<AttemptError> = serde_json::from_str(&text(row, "errors")?).unwrap_or_default();
    errors.push(AttemptError {
        attempt: attempts as u32,
        message: message.chars().take(4000).collect(),
        at: super::to_time(now),
    });
    // Keep the history bounded: the first error and the latest ones.
    if errors.len() > 50 {
        errors.drain(1..errors.len() - 49);
    }
    let dead = mode == FailMode::NoRetry || attempts >= max_attempts;
    let (state, run_at, finished) = if dead {
        ("dead", now, Some(now))
    } else {
        let delay = match mode {
            FailMode::RetryAfter(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            _ => backoff.delay(attempts as u32).as_millis() as i64,
        };
        ("failed", now.saturating_add(delay), None)
    };
    let errors = serde_json::to_string(&errors).map_err(Error::internal)?;
    let set = format!(
        "state = $1, run_at = $2, finished_at = {}, errors = $4, lease_token = NULL, lease_expires_at = NULL, \
         updated_at = $5",
        store.dialect().integer_cast("$3")
    );
    let finished = finished.map_or(Value::Null, |f| json!(f));
    let params = [
        json!(state),
        json!(run_at),
        finished,
        json!(errors),
        json!(now),
        json!(id),
        json!(lease),
    ];
    let rows = store
        .update_returning(tx, &set, "id = $6 AND lease_token = $7 AND state = 'active'", &params)
        .await?;
    rows.first().map(job_from_row).transpose()
}

/// A job's result as stored (JSON text), if it has one.
fn result_text(result: &Option<Value>) -> Result<Option<String>> {
    result
        .as_ref()
        .map(|v| serde_json::to_string(v).map_err(Error::internal))
        .transpose()
}

/// One statement completing every job of `items`, for engines with `UPDATE … FROM …
/// RETURNING`: the jobs travel as one JSON array of `{id, lease, result}` bound to `$2`
/// (`Dialect::json_rows`), `$1` is now.
///
/// It matches a job by id and lease token only: a token is set by a claim and cleared by
/// every way out of `active`, so it implies the state, and leaving `state = 'active'` out
/// keeps PostgreSQL's planner off the partial index of leases (which an empty table's
/// statistics make look cheapest, and which holds every recent lease until a vacuum).
fn complete_statement(
    d: &dyn Dialect,
    items: &[(String, String, Option<Value>)],
    now: i64,
) -> Result<(String, Vec<Value>)> {
    let by_key = d
        .json_rows_key("keel_jobs.id", "$2", "id")
        .map(|c| format!(" AND {c}"))
        .unwrap_or_default();
    let sql = format!(
        "UPDATE keel_jobs SET state = 'completed', result = c.result, lease_token = NULL, \
         lease_expires_at = NULL, finished_at = $1, updated_at = $1 FROM {} \
         WHERE keel_jobs.id = c.id AND keel_jobs.lease_token = c.lease{by_key} \
         AND keel_jobs.lease_expires_at > $1 RETURNING {}",
        d.json_rows("$2", "c", &["id", "lease", "result"]),
        *QUALIFIED_JOB_COLUMNS
    );
    let mut list = Vec::with_capacity(items.len());
    for (id, lease, result) in items {
        list.push(json!({ "id": id, "lease": lease, "result": result_text(result)? }));
    }
    Ok((sql, vec![json!(now), json!(Value::Array(list).to_string())]))
}
