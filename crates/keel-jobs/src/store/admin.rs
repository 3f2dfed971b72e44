//! Operator actions: retry or cancel a job, read and change a queue's settings.

use keel_core::queue::validate_queue_name;
use keel_core::{Error, Result};
use serde_json::{json, Value};

use super::{db, is_unique_violation, job_from_row, now_ms, JobStore};
use crate::model::{Job, QueueSettings};

impl JobStore {
    /// Puts a failed, dead, cancelled or completed job back to waiting, to run now with a
    /// fresh set of attempts (its error history is kept).
    pub async fn retry(&self, id: &str) -> Result<Job> {
        let now = now_ms();
        match self
            .write_update(
                "state = 'waiting', run_at = $2, attempts = 0, finished_at = NULL, lease_token = NULL, \
                 lease_expires_at = NULL, updated_at = $2",
                "id = $1 AND state IN ('failed', 'dead', 'cancelled', 'completed')",
                &[json!(id), json!(now)],
            )
            .await
            .map(|rows| rows.into_iter().next())
        {
            Ok(Some(row)) => job_from_row(&row),
            Ok(None) => match self.get(id).await? {
                Some(job) => Err(Error::Conflict(format!(
                    "The job is {}: only failed, dead, cancelled or completed jobs can be retried.",
                    job.state.as_str()
                ))),
                None => Err(Error::not_found()),
            },
            Err(e) if is_unique_violation(&e) => Err(Error::Conflict(
                "Another job with the same uniqueKey is pending in this queue; retry it once that one finishes.".into(),
            )),
            Err(e) => Err(e),
        }
    }

    /// Cancels a job that has not finished. A running attempt loses its lease: the worker's
    /// next heartbeat, progress, complete or fail gets a 409.
    pub async fn cancel(&self, id: &str) -> Result<Job> {
        let now = now_ms();
        let rows = self
            .write_update(
                "state = 'cancelled', finished_at = $2, lease_token = NULL, lease_expires_at = NULL, updated_at = $2",
                "id = $1 AND state IN ('waiting', 'active', 'failed')",
                &[json!(id), json!(now)],
            )
            .await?;
        match rows.into_iter().next() {
            Some(row) => job_from_row(&row),
            None => match self.get(id).await? {
                Some(job) => Err(Error::Conflict(format!(
                    "The job is {} already: only waiting, delayed, active or failed jobs can be cancelled.",
                    job.state.as_str()
                ))),
                None => Err(Error::not_found()),
            },
        }
    }

    /// The queue's settings (the defaults for a queue never used).
    pub async fn settings(&self, queue: &str) -> Result<QueueSettings> {
        validate_queue_name(queue)?;
        Ok(self.queue_row_now(queue).await?.map(|(s, _, _)| s).unwrap_or_default())
    }

    /// Applies a partial settings document (`{"concurrency": 5, "paused": true, …}`; `null`
    /// clears an optional setting) and returns the result.
    /// Runs detached (see `JobStore::detached`).
    pub async fn update_settings(&self, queue: &str, patch: &Value) -> Result<QueueSettings> {
        let (store, queue, patch) = (self.clone(), queue.to_string(), patch.clone());
        Self::detached(async move { store.update_settings_now(&queue, &patch).await }).await
    }

    async fn update_settings_now(&self, queue: &str, patch: &Value) -> Result<QueueSettings> {
        validate_queue_name(queue)?;
        let Value::Object(patch) = patch else {
            return Err(Error::bad_request("The body must be a JSON object of queue settings."));
        };
        let now = now_ms();
        let mut tx = self.begin().await?;
        self.ensure_queue(tx.as_mut(), queue, now).await?;
        let current = self
            .queue_row(tx.as_mut(), queue, false)
            .await?
            .map(|(s, _, _)| s)
            .unwrap_or_default();
        let mut doc = serde_json::to_value(&current).map_err(Error::internal)?;
        if let Value::Object(doc) = &mut doc {
            for (k, v) in patch {
                if !doc.contains_key(k) {
                    return Err(Error::field(
                        k,
                        "validation_unknown_setting",
                        "Unknown queue setting: use paused, concurrency, rateLimit, pushUrl, keepCompleted or keepDead.",
                    ));
                }
                doc.insert(k.clone(), v.clone());
            }
        }
        let settings: QueueSettings =
            serde_json::from_value(doc).map_err(|e| Error::bad_request(format!("Invalid queue settings: {e}")))?;
        validate_settings(&settings)?;
        let doc = serde_json::to_string(&settings).map_err(Error::internal)?;
        self.exec(
            tx.as_mut(),
            "UPDATE keel_job_queues SET settings = $1, updated_at = $2 WHERE name = $3",
            &[json!(doc), json!(now), json!(queue)],
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(settings)
    }
}

fn validate_settings(s: &QueueSettings) -> Result<()> {
    if s.concurrency == Some(0) {
        return Err(Error::field(
            "concurrency",
            "validation_out_of_range",
            "concurrency must be at least 1 (or null for no limit); pause the queue to stop it.",
        ));
    }
    if let Some(r) = s.rate_limit {
        if r.max == 0 || r.interval_ms < 10 {
            return Err(Error::field(
                "rateLimit",
                "validation_out_of_range",
                "rateLimit needs max ≥ 1 and intervalMs ≥ 10.",
            ));
        }
    }
    if let Some(url) = &s.push_url {
        let ok = (url.starts_with("http://") || url.starts_with("https://")) && url.len() <= 2000;
        if !ok {
            return Err(Error::field(
                "pushUrl",
                "validation_invalid_url",
                "pushUrl must be an http:// or https:// URL.",
            ));
        }
    }
    Ok(())
}
