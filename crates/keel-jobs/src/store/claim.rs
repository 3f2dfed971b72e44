//! Claiming: waiting jobs become active under a fresh lease, within the queue's pause,
//! concurrency and rate limits.

use keel_core::queue::validate_queue_name;
use keel_core::{Error, Result};
use sqlx::Row;

use super::{db, job_from_row, now_ms, Dialect, JobStore, JOB_COLUMNS};
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
        let mut tx = self.begin().await.map_err(db)?;
        if self.dialect == Dialect::Postgres {
            // A claim need not wait for its WAL flush: a claim lost in a crash only puts the
            // job back to waiting, and it is delivered again (at-least-once either way).
            // Completions and enqueues stay synchronous.
            sqlx::query("SET LOCAL synchronous_commit = off")
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        let Some((settings, mut rate_window, mut rate_count)) = self.queue_row(&mut tx, queue, false).await? else {
            tx.commit().await.map_err(db)?;
            return Ok(Vec::new());
        };
        if settings.paused {
            tx.commit().await.map_err(db)?;
            return Ok(Vec::new());
        }
        let limited = settings.concurrency.is_some() || settings.rate_limit.is_some();
        let settings = if limited && self.dialect == Dialect::Postgres {
            // Serialize this queue's claims across processes while limits are counted.
            let Some((s, w, c)) = self.queue_row(&mut tx, queue, true).await? else {
                return Ok(Vec::new());
            };
            (rate_window, rate_count) = (w, c);
            s
        } else {
            settings
        };
        self.reap_expired(&mut tx, Some(queue), now, 100).await?;

        let mut n = opts.max as i64;
        if let Some(limit) = settings.concurrency {
            let active: i64 = sqlx::query("SELECT COUNT(*) AS n FROM keel_jobs WHERE queue = $1 AND state = 'active'")
                .bind(queue)
                .fetch_one(&mut *tx)
                .await
                .map_err(db)?
                .try_get("n")
                .map_err(db)?;
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
            tx.commit().await.map_err(db)?;
            return Ok(Vec::new());
        }

        let lock = match self.dialect {
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        let sql = format!(
            "UPDATE keel_jobs SET state = 'active', attempts = attempts + 1, lease_token = $1 || id, \
             lease_expires_at = $2 + timeout_ms, started_at = $2, worker = $3, progress = NULL, updated_at = $2 \
             WHERE seq IN (SELECT seq FROM keel_jobs WHERE queue = $4 AND state IN ('waiting', 'failed') \
             AND run_at <= $2 ORDER BY priority DESC, run_at, seq LIMIT $5{lock}) \
             RETURNING {JOB_COLUMNS}, lease_token, seq"
        );
        let token_prefix = format!("{}.", keel_core::id::random_string(24, keel_core::id::SECRET_ALPHABET));
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(token_prefix)
            .bind(now)
            .bind(opts.worker.clone())
            .bind(queue)
            .bind(n)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
        if settings.rate_limit.is_some() && !rows.is_empty() {
            sqlx::query("UPDATE keel_job_queues SET rate_window = $1, rate_count = $2 WHERE name = $3")
                .bind(window)
                .bind(rate_count + rows.len() as i64)
                .bind(queue)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;

        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
            let seq: i64 = row.try_get("seq").map_err(db)?;
            claimed.push((
                seq,
                ClaimedJob {
                    job: job_from_row(row)?,
                    lease: row.try_get("lease_token").map_err(db)?,
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
        conn: &mut sqlx::AnyConnection,
        queue: &str,
        for_update: bool,
    ) -> Result<Option<(QueueSettings, i64, i64)>> {
        let sql = format!(
            "SELECT settings, rate_window, rate_count FROM keel_job_queues WHERE name = $1{}",
            if for_update { " FOR UPDATE" } else { "" }
        );
        let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(queue)
            .fetch_optional(conn)
            .await
            .map_err(db)?
        else {
            return Ok(None);
        };
        let settings: String = row.try_get("settings").map_err(db)?;
        let settings = serde_json::from_str(&settings).unwrap_or_default();
        Ok(Some((
            settings,
            row.try_get("rate_window").map_err(db)?,
            row.try_get("rate_count").map_err(db)?,
        )))
    }
}
