//! Upkeep: attempts whose lease expired count as failed (the worker stopped or crashed), and
//! finished jobs are pruned by each queue's retention. Any process may run it at any time:
//! every change is conditional on the row still being what was read.

use keel_core::Result;
use keel_sql::Tx;
use serde_json::json;

use super::attempt::{fail_attempt, FailMode};
use super::{db, int, now_ms, opt_text, text, JobStore};
use crate::model::{Job, QueueSettings};

impl JobStore {
    /// Fails attempts whose lease expired (of `queue`, or of every queue), at most `limit`;
    /// returns the jobs changed.
    pub(crate) async fn reap_expired(
        &self,
        tx: &mut dyn Tx,
        queue: Option<&str>,
        now: i64,
        limit: i64,
    ) -> Result<Vec<Job>> {
        let sql = format!(
            "SELECT id, lease_token, timeout_ms, attempts, max_attempts, backoff, errors FROM keel_jobs \
             WHERE state = 'active' AND lease_expires_at <= $1{} ORDER BY lease_expires_at LIMIT $2",
            if queue.is_some() { " AND queue = $3" } else { "" }
        );
        let mut params = vec![json!(now), json!(limit)];
        if let Some(queue) = queue {
            params.push(json!(queue));
        }
        let rows = self.rows(tx, &sql, &params).await?;
        let mut changed = Vec::new();
        for row in rows {
            let id = text(&row, "id")?;
            let lease = opt_text(&row, "lease_token")?.unwrap_or_default();
            let timeout = int(&row, "timeout_ms")?;
            let message = format!(
                "timed out: no heartbeat, progress or result within {timeout} ms (the worker stopped or crashed)"
            );
            if let Some(job) = fail_attempt(self, tx, &id, &lease, &row, &message, FailMode::Retry, now).await? {
                changed.push(job);
            }
        }
        Ok(changed)
    }

    /// One upkeep pass over every queue: expired leases, then retention. Returns the jobs
    /// whose attempts timed out.
    /// Runs detached (see `JobStore::detached`).
    pub async fn upkeep(&self) -> Result<Vec<Job>> {
        let store = self.clone();
        Self::detached(async move { store.upkeep_now().await }).await
    }

    async fn upkeep_now(&self) -> Result<Vec<Job>> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        let reaped = self.reap_expired(tx.as_mut(), None, now, 500).await?;
        tx.commit().await.map_err(db)?;
        for (queue, settings) in self.queues().await? {
            self.prune(&queue, &settings, now).await?;
        }
        Ok(reaped)
    }

    /// Deletes completed and dead jobs beyond the queue's retention.
    async fn prune(&self, queue: &str, settings: &QueueSettings, now: i64) -> Result<()> {
        for (state, keep) in [("completed", settings.keep_completed), ("dead", settings.keep_dead)] {
            let cutoff = now.saturating_sub((keep.age_secs as i64).saturating_mul(1000));
            let mut tx = self.begin().await?;
            self.exec(
                tx.as_mut(),
                // Subqueries with LIMIT inside derived tables (`AS t`): MariaDB allows neither
                // LIMIT in an IN subquery nor the target table in one otherwise.
                "DELETE FROM keel_jobs WHERE seq IN (SELECT seq FROM (SELECT seq FROM keel_jobs WHERE queue = $1 \
                 AND state = $2 AND (finished_at < $3 OR seq IN (SELECT seq FROM (SELECT seq FROM keel_jobs \
                 WHERE queue = $1 AND state = $2 ORDER BY finished_at DESC, seq DESC \
                 LIMIT 9223372036854775807 OFFSET $4) AS kept_beyond)) LIMIT 5000) AS doomed)",
                &[json!(queue), json!(state), json!(cutoff), json!(keep.count as i64)],
            )
            .await?;
            tx.commit().await.map_err(db)?;
        }
        Ok(())
    }
}
