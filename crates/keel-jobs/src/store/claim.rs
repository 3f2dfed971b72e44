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
        // A claim need not wait for its log flush: a claim lost in a crash only puts the
        // job back to waiting, and it is delivered again (at-least-once either way).
        // Completions and enqueues stay synchronous.
        let mut boxed = self.engine.begin_relaxed().await.map_err(db)?;
        let tx = boxed.as_mut();
        let Some((settings, mut rate_window, mut rate_count, expired)) = self.claim_view(tx, queue, now).await? else {
            return Ok(Vec::new());
        };
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

        let lock = self.dialect().skip_locked();
        let set = "state = 'active', attempts = attempts + 1, lease_token = $1 || id, \
             lease_expires_at = $2 + timeout_ms, started_at = $2, worker = $3, progress = NULL, updated_at = $2";
        let due = format!(
            "SELECT seq FROM keel_jobs WHERE queue = $4 AND state IN ('waiting', 'failed') \
             AND run_at <= $2 ORDER BY priority DESC, run_at, seq LIMIT $5{lock}"
        );
        let token_prefix = format!("{}.", keel_core::id::random_string(24, keel_core::id::SECRET_ALPHABET));
        let params = [
            json!(token_prefix),
            json!(now),
            opt(opts.worker.clone()),
            json!(queue),
            json!(n),
        ];
        let rows = if self.dialect().update_returning() {
            let sql =
                format!("UPDATE keel_jobs SET {set} WHERE seq IN ({due}) RETURNING {JOB_COLUMNS}, lease_token, seq");
            self.rows(tx, &sql, &params).await?
        } else {
            // No `UPDATE … RETURNING`, no `LIMIT` in an `IN` subquery (MariaDB): lock the due
            // rows (skipping those another claim holds), then update them by `seq`.
            let locked = self.rows(tx, &due, &params).await?;
            let columns = format!("{JOB_COLUMNS}, lease_token, seq");
            self.update_seqs(tx, set, &locked, &params, &columns).await?
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

        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
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
    ) -> Result<Option<(QueueSettings, i64, i64, bool)>> {
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
        let (settings, window, count) = queue_settings_of(row)?;
        Ok(Some((settings, window, count, int(row, "expired")? != 0)))
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
    let settings = serde_json::from_str(&text(row, "settings")?).unwrap_or_default();
    Ok((settings, int(row, "rate_window")?, int(row, "rate_count")?))
}
