//! Claiming: waiting jobs become active under a fresh lease, within the queue's pause,
//! concurrency and rate limits.

use keel_core::queue::validate_queue_name;
use keel_core::{Error, Result};
use keel_sql::Tx;
use serde_json::json;

use super::{db, int, job_from_row, now_ms, opt, text, JobStore, JOB_COLUMNS};
use crate::model::{ClaimedJob, QueueSettings};

/// The most jobs one claim may return.
pub const MAX_CLAIM: usize = 100;

/// How to claim.
#[derive(Debug, Clone, Default)]
pub struct ClaimOptions {
    /// The most jobs to return (1–100).
    pub max: usize,
    /// Who claims (shown on the job while it runs).
    pub worker: Option<String>,
}

impl JobStore {
    /// Leases up to `opts.max` due jobs of `queue`, highest priority first, then oldest.
    /// Returns none while the queue is paused or at its concurrency or rate limit.
    ///
    /// The transaction runs in a task of its own, so a caller that stops waiting (a worker
    /// shutting down, an HTTP client hanging up) never leaves it half done on a pooled
    /// connection; the jobs it claimed then come back when their leases expire.
    pub async fn claim(&self, queue: &str, opts: &ClaimOptions) -> Result<Vec<ClaimedJob>> {
        let (store, queue, opts) = (self.clone(), queue.to_string(), opts.clone());
        Self::detached(async move { store.claim_now(&queue, &opts).await }).await
    }

    async fn claim_now(&self, queue: &str, opts: &ClaimOptions) -> Result<Vec<ClaimedJob>> {
        validate_queue_name(queue)?;
        if opts.max == 0 || opts.max > MAX_CLAIM {
            return Err(Error::field(
                "max",
                "validation_out_of_range",
                format!("max must be between 1 and {MAX_CLAIM}."),
            ));
        }
        if let Some(w) = &opts.worker {
            if w.len() > 200 {
                return Err(Error::field(
                    "worker",
                    "validation_length_out_of_range",
                    "worker must be at most 200 characters.",
                ));
            }
        }
        let now = now_ms();
        if let Some(claimed) = self.claim_unlimited(queue, opts, now).await? {
            return Ok(claimed);
        }
        // A claim need not wait for its log flush: a claim lost in a crash only puts the
        // job back to waiting, and it is delivered again (at-least-once either way).
        // Completions and enqueues stay synchronous.
        let mut boxed = self.engine.begin_relaxed().await.map_err(db)?;
        let tx = boxed.as_mut();
        let Some((settings, mut rate_window, mut rate_count, expired)) = self.claim_view(tx, queue, now).await? else {
            return Ok(Vec::new());
        };
        self.remember_limits(queue, &settings);
        let settings = settings.0;
        if settings.paused {
            return Ok(Vec::new());
        }
        let limited = settings.concurrency.is_some() || settings.rate_limit.is_some();
        let settings = if limited && !self.dialect().for_update().is_empty() {
            // Serialize this queue's claims across processes while limits are counted.
            let Some((s, w, c)) = self.queue_row(tx, queue, true).await? else {
                return Ok(Vec::new());
            };
            (rate_window, rate_count) = (w, c);
            s
        } else {
            settings
        };
        if expired {
            self.reap_expired(tx, Some(queue), now, 100).await?;
        }

        let mut n = opts.max as i64;
        if let Some(limit) = settings.concurrency {
            let rows = self
                .rows(
                    tx,
                    "SELECT COUNT(*) AS n FROM keel_jobs WHERE queue = $1 AND state = 'active'",
                    &[json!(queue)],
                )
                .await?;
            let active = rows.first().map(|r| int(r, "n")).transpose()?.unwrap_or(0);
            n = n.min(i64::from(limit) - active);
        }
        let mut window = 0;
        if let Some(rate) = settings.rate_limit {
            let interval = rate.interval_ms.max(1) as i64;
            window = now - now.rem_euclid(interval);
            if rate_window != window {
                (rate_window, rate_count) = (window, 0);
            }
            debug_assert_eq!(rate_window, window);
            n = n.min(i64::from(rate.max) - rate_count);
        }
        if n <= 0 {
            boxed.commit().await.map_err(db)?;
            return Ok(Vec::new());
        }

        let due = self.due_seqs();
        let params = claim_params(queue, opts, now, n);
        let rows = if self.dialect().update_returning() {
            let sql = format!(
                "UPDATE keel_jobs SET {CLAIM_SET} WHERE {} RETURNING {}",
                self.dialect().in_subquery("seq", &due),
                claimed_columns()
            );
            self.rows(tx, &sql, &params).await?
        } else {
            // No `UPDATE … RETURNING`, no `LIMIT` in an `IN` subquery (MariaDB): lock the due
            // rows (skipping those another claim holds), then update them by `seq`.
            let locked = self.rows(tx, &due, &params).await?;
            self.update_seqs(tx, CLAIM_SET, &locked, &params, &claimed_columns())
                .await?
        };
        if settings.rate_limit.is_some() && !rows.is_empty() {
            self.exec(
                tx,
                "UPDATE keel_job_queues SET rate_window = $1, rate_count = $2 WHERE name = $3",
                &[json!(window), json!(rate_count + rows.len() as i64), json!(queue)],
            )
            .await?;
        }
        boxed.commit().await.map_err(db)?;
        claimed_of(&rows)
    }

    /// A claim of a queue last read with no limits and not paused, in one statement
    /// committed on its own (one round trip on PostgreSQL instead of four; like the full
    /// claim, its commit does not wait for the log flush): it claims only
    /// while the queue's stored settings are still the ones read and none of its leases has
    /// expired. `None` when it does not apply or claimed nothing: the full claim then reads
    /// the settings again, reaps expired leases, and tells an empty queue from a changed one.
    async fn claim_unlimited(&self, queue: &str, opts: &ClaimOptions, now: i64) -> Result<Option<Vec<ClaimedJob>>> {
        if !self.dialect().update_returning() {
            return Ok(None);
        }
        let seen = {
            let unlimited = self.unlimited.lock().unwrap_or_else(|p| p.into_inner());
            match unlimited.get(queue) {
                Some(settings) => settings.clone(),
                None => return Ok(None),
            }
        };
        let mut params = claim_params(queue, opts, now, opts.max as i64);
        params.push(json!(seen));
        let sql = format!(
            "UPDATE keel_jobs SET {CLAIM_SET} WHERE {} \
             AND EXISTS (SELECT 1 FROM keel_job_queues WHERE name = $4 AND settings = $6) \
             AND NOT EXISTS (SELECT 1 FROM keel_jobs WHERE state = 'active' AND lease_expires_at <= $2 AND queue = $4){} \
             RETURNING {}",
            self.dialect().in_subquery("seq", &self.due_seqs()),
            self.dialect().relaxed_commit_condition(),
            claimed_columns()
        );
        let rows = self.write(&sql, &params).await?;
        if rows.is_empty() {
            return Ok(None);
        }
        claimed_of(&rows).map(Some)
    }

    /// Keeps or forgets `queue`'s settings for `claim_unlimited`.
    fn remember_limits(&self, queue: &str, settings: &(QueueSettings, String)) {
        let (parsed, stored) = settings;
        let mut unlimited = self.unlimited.lock().unwrap_or_else(|p| p.into_inner());
        if parsed.paused || parsed.concurrency.is_some() || parsed.rate_limit.is_some() {
            unlimited.remove(queue);
        } else if unlimited.get(queue) != Some(stored) {
            unlimited.insert(queue.to_string(), stored.clone());
        }
    }

    /// The `seq` of up to `$5` due jobs of queue `$4` at `$2`, in claim order, skipping rows
    /// other claims hold.
    fn due_seqs(&self) -> String {
        format!(
            "SELECT seq FROM keel_jobs WHERE queue = $4 AND state IN ('waiting', 'failed') \
             AND run_at <= $2 ORDER BY priority DESC, run_at, seq LIMIT $5{}",
            self.dialect().skip_locked()
        )
    }

    /// The queue's settings and rate counters (`None`: the queue has never been used).
    pub(crate) async fn queue_row(
        &self,
        tx: &mut dyn Tx,
        queue: &str,
        for_update: bool,
    ) -> Result<Option<(QueueSettings, i64, i64)>> {
        let sql = format!(
            "SELECT settings, rate_window, rate_count FROM keel_job_queues WHERE name = $1{}",
            if for_update { self.dialect().for_update() } else { "" }
        );
        let rows = self.rows(tx, &sql, &[json!(queue)]).await?;
        rows.first().map(queue_settings_of).transpose()
    }

    /// What a claim reads first, in one statement: the queue's settings and rate counters,
    /// and whether any of its active jobs' leases expired by `now` (only then is it reaped).
    async fn claim_view(
        &self,
        tx: &mut dyn Tx,
        queue: &str,
        now: i64,
    ) -> Result<Option<((QueueSettings, String), i64, i64, bool)>> {
        let rows = self
            .rows(
                tx,
                "SELECT settings, rate_window, rate_count, CASE WHEN EXISTS (SELECT 1 FROM keel_jobs \
                 WHERE state = 'active' AND lease_expires_at <= $2 AND queue = $1) THEN 1 ELSE 0 END AS expired \
                 FROM keel_job_queues WHERE name = $1",
                &[json!(queue), json!(now)],
            )
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let stored = text(row, "settings")?;
        let settings = settings_of(&stored);
        let (window, count) = (int(row, "rate_window")?, int(row, "rate_count")?);
        Ok(Some(((settings, stored), window, count, int(row, "expired")? != 0)))
    }

    /// The queue's settings and rate counters outside a transaction.
    pub(crate) async fn queue_row_now(&self, queue: &str) -> Result<Option<(QueueSettings, i64, i64)>> {
        let rows = self
            .read(
                "SELECT settings, rate_window, rate_count FROM keel_job_queues WHERE name = $1",
                &[json!(queue)],
            )
            .await?;
        rows.first().map(queue_settings_of).transpose()
    }
}

fn queue_settings_of(row: &keel_sql::Row) -> Result<(QueueSettings, i64, i64)> {
    let settings = settings_of(&text(row, "settings")?);
    Ok((settings, int(row, "rate_window")?, int(row, "rate_count")?))
}

/// A queue's stored settings (the defaults where they do not parse).
fn settings_of(stored: &str) -> QueueSettings {
    serde_json::from_str(stored).unwrap_or_default()
}

/// What a claim sets on each row it claims (`$1` token prefix, `$2` now, `$3` worker).
const CLAIM_SET: &str = "state = 'active', attempts = attempts + 1, lease_token = $1 || id, \
     lease_expires_at = $2 + timeout_ms, started_at = $2, worker = $3, progress = NULL, updated_at = $2";

/// What a claim returns of each row.
fn claimed_columns() -> String {
    format!("{JOB_COLUMNS}, lease_token, seq")
}

/// A claim's parameters `$1`–`$5`: a fresh lease token prefix, now, the worker, the queue,
/// the most jobs to claim.
fn claim_params(queue: &str, opts: &ClaimOptions, now: i64, n: i64) -> Vec<serde_json::Value> {
    let token_prefix = format!("{}.", keel_core::id::random_string(24, keel_core::id::SECRET_ALPHABET));
    vec![
        json!(token_prefix),
        json!(now),
        opt(opts.worker.clone()),
        json!(queue),
        json!(n),
    ]
}

/// Claimed rows as jobs, highest priority first, then oldest.
fn claimed_of(rows: &[keel_sql::Row]) -> Result<Vec<ClaimedJob>> {
    let mut claimed = Vec::with_capacity(rows.len());
    for row in rows {
        claimed.push((
            int(row, "seq")?,
            ClaimedJob {
                job: job_from_row(row)?,
                lease: text(row, "lease_token")?,
            },
        ));
    }
    claimed.sort_by(|(sa, a), (sb, b)| {
        b.job
            .priority
            .cmp(&a.job.priority)
            .then(a.job.run_at.cmp(&b.job.run_at))
            .then(sa.cmp(sb))
    });
    Ok(claimed.into_iter().map(|(_, c)| c).collect())
}
