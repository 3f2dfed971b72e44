//! Reading jobs: one by id, a queue's jobs by state, counts, the queues.

use keel_core::queue::validate_queue_name;
use keel_core::{Error, Result};
use keel_sql::Row;
use serde::Serialize;
use serde_json::json;

use super::{int, job_from_row, now_ms, text, JobStore, JOB_COLUMNS};
use crate::model::{Job, JobState, QueueCounts, QueueSettings, Throughput};

/// Which of a queue's jobs a list shows.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Only jobs in this state.
    pub state: Option<JobState>,
    /// Only jobs whose name starts with this (ignoring ASCII case).
    pub name: Option<String>,
}

impl JobFilter {
    /// The jobs in `state`.
    pub fn state(state: JobState) -> Self {
        JobFilter {
            state: Some(state),
            name: None,
        }
    }
}

/// A page of jobs, in the records API's list shape.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobPage {
    pub page: u32,
    pub per_page: u32,
    pub total_items: i64,
    pub total_pages: i64,
    pub items: Vec<Job>,
}

impl JobStore {
    /// The job `id`, if it exists.
    pub async fn get(&self, id: &str) -> Result<Option<Job>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM keel_jobs WHERE id = $1");
        let rows = self.read(&sql, &[json!(id)]).await?;
        rows.first().map(job_from_row).transpose()
    }

    /// The newest job of `queue` enqueued with `unique_key`, in any state (finished ones too):
    /// how a producer that may have enqueued before a crash learns whether it did.
    pub async fn find_unique(&self, queue: &str, unique_key: &str) -> Result<Option<Job>> {
        validate_queue_name(queue)?;
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM keel_jobs WHERE queue = $1 AND unique_key = $2 ORDER BY seq DESC LIMIT 1"
        );
        let rows = self.read(&sql, &[json!(queue), json!(unique_key)]).await?;
        rows.first().map(job_from_row).transpose()
    }

    /// The jobs of `queue` (in `state`, if given), newest first.
    pub async fn list(&self, queue: &str, filter: &JobFilter, page: u32, per_page: u32) -> Result<JobPage> {
        validate_queue_name(queue)?;
        if page == 0 {
            return Err(Error::field(
                "page",
                "validation_out_of_range",
                "page must be at least 1.",
            ));
        }
        if per_page == 0 || per_page > 500 {
            return Err(Error::field(
                "perPage",
                "validation_out_of_range",
                "perPage must be 1 to 500.",
            ));
        }
        let now = now_ms();
        // `$1` queue, `$2` now (used by the waiting/delayed split), `$3` the name's pattern.
        let mut sql_filter = match filter.state {
            None => "queue = $1 AND $2 = $2".to_string(),
            Some(JobState::Waiting) => "queue = $1 AND state = 'waiting' AND run_at <= $2".to_string(),
            Some(JobState::Delayed) => "queue = $1 AND state = 'waiting' AND run_at > $2".to_string(),
            Some(s) => format!("queue = $1 AND state = '{}' AND $2 = $2", s.as_str()),
        };
        let mut params = vec![json!(queue), json!(now)];
        if let Some(prefix) = filter.name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
            let escaped: String = prefix
                .chars()
                .flat_map(|c| match c {
                    '\\' | '%' | '_' => vec!['\\', c],
                    c => vec![c],
                })
                .collect();
            params.push(json!(format!("{escaped}%")));
            sql_filter.push_str(&format!(" AND {}", self.dialect().like("name", "$3", false)));
        }
        let counted = self
            .read(
                &format!("SELECT COUNT(*) AS n FROM keel_jobs WHERE {sql_filter}"),
                &params,
            )
            .await?;
        let total = counted.first().map(|r| int(r, "n")).transpose()?.unwrap_or(0);
        let (limit, offset) = (params.len() + 1, params.len() + 2);
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM keel_jobs WHERE {sql_filter} ORDER BY seq DESC LIMIT ${limit} OFFSET ${offset}"
        );
        params.push(json!(i64::from(per_page)));
        params.push(json!(i64::from(page - 1) * i64::from(per_page)));
        let rows = self.read(&sql, &params).await?;
        let items = rows.iter().map(job_from_row).collect::<Result<Vec<_>>>()?;
        Ok(JobPage {
            page,
            per_page,
            total_items: total,
            total_pages: (total + i64::from(per_page) - 1) / i64::from(per_page),
            items,
        })
    }

    /// The queue's jobs by state and its last minute's throughput.
    pub async fn counts(&self, queue: &str) -> Result<QueueCounts> {
        validate_queue_name(queue)?;
        let now = now_ms();
        let later = self.later();
        let rows = self
            .read(
                &format!(
                    "SELECT state, {later} AS later, COUNT(*) AS n FROM keel_jobs WHERE queue = $1 \
                     GROUP BY state, {later}"
                ),
                &[json!(queue), json!(now)],
            )
            .await?;
        let mut counts = counts_of(&rows)?;
        let minute_ago = now - 60_000;
        let recent = self
            .read(
                &format!(
                    "SELECT {} AS done, {} AS failed FROM keel_jobs WHERE queue = $1 AND updated_at >= $2",
                    self.dialect().integer_cast(
                        "COALESCE(SUM(CASE WHEN state = 'completed' AND finished_at >= $2 THEN 1 ELSE 0 END), 0)"
                    ),
                    self.dialect().integer_cast(
                        "COALESCE(SUM(CASE WHEN state IN ('failed', 'dead') AND updated_at >= $2 THEN 1 ELSE 0 END), 0)"
                    ),
                ),
                &[json!(queue), json!(minute_ago)],
            )
            .await?;
        if let Some(recent) = recent.first() {
            counts.completed_last_minute = int(recent, "done")? as u64;
            counts.failed_last_minute = int(recent, "failed")? as u64;
        }
        Ok(counts)
    }

    /// The queue's completions and failures per minute over the last `minutes` minutes, oldest
    /// first, every minute present (zeros included); the current minute is the last. Counted
    /// from the jobs the queue keeps: completed jobs by `finishedAt`, failed and dead ones by
    /// their last failure (retention's `keepCompleted` / `keepDead` bound what is left).
    pub async fn throughput(&self, queue: &str, minutes: u32) -> Result<Vec<Throughput>> {
        validate_queue_name(queue)?;
        let minutes = i64::from(minutes.max(1));
        let now = now_ms();
        let first = (now - now % 60_000) - (minutes - 1) * 60_000;
        let at = "(CASE WHEN state = 'completed' THEN finished_at ELSE updated_at END)";
        let d = self.dialect();
        let rows = self
            .read(
                &format!(
                    "SELECT {} AS minute, {} AS done, {} AS failed FROM keel_jobs \
                     WHERE queue = $1 AND ((state = 'completed' AND finished_at >= $2) \
                     OR (state IN ('failed', 'dead') AND updated_at >= $2)) \
                     GROUP BY {at} - {at} % 60000",
                    d.integer_cast(&format!("{at} - {at} % 60000")),
                    d.integer_cast("SUM(CASE WHEN state = 'completed' THEN 1 ELSE 0 END)"),
                    d.integer_cast("SUM(CASE WHEN state IN ('failed', 'dead') THEN 1 ELSE 0 END)"),
                ),
                &[json!(queue), json!(first)],
            )
            .await?;
        let mut out: Vec<Throughput> = (0..minutes)
            .map(|i| Throughput {
                minute: super::to_time(first + i * 60_000),
                completed: 0,
                failed: 0,
            })
            .collect();
        for row in &rows {
            let index = (int(row, "minute")? - first) / 60_000;
            if let Some(slot) = usize::try_from(index).ok().and_then(|i| out.get_mut(i)) {
                slot.completed += int(row, "done")? as u64;
                slot.failed += int(row, "failed")? as u64;
            }
        }
        Ok(out)
    }

    /// `queue`'s unfinished jobs: waiting, delayed, active and failed (a retry is due); the
    /// other counts stay 0. Cheap enough for every `/metrics` scrape: finished jobs are not
    /// visited (the `(queue, state)` index).
    pub async fn depth(&self, queue: &str) -> Result<QueueCounts> {
        validate_queue_name(queue)?;
        let later = self.later();
        let rows = self
            .read(
                &format!(
                    "SELECT state, {later} AS later, COUNT(*) AS n FROM keel_jobs WHERE queue = $1 \
                     AND state IN ('waiting', 'active', 'failed') GROUP BY state, {later}"
                ),
                &[json!(queue), json!(now_ms())],
            )
            .await?;
        counts_of(&rows)
    }

    /// 1 for a waiting job whose time has not come (`$2` is now), else 0.
    fn later(&self) -> String {
        self.dialect()
            .integer_cast("CASE WHEN state = 'waiting' AND run_at > $2 THEN 1 ELSE 0 END")
    }

    /// Every queue that has been used, with its settings, by name.
    pub async fn queues(&self) -> Result<Vec<(String, QueueSettings)>> {
        let rows = self
            .read("SELECT name, settings FROM keel_job_queues ORDER BY name", &[])
            .await?;
        rows.iter()
            .map(|r| {
                let settings = text(r, "settings")?;
                Ok((text(r, "name")?, serde_json::from_str(&settings).unwrap_or_default()))
            })
            .collect()
    }
}

/// Counts from `(state, later, n)` rows; a waiting job due later is delayed.
fn counts_of(rows: &[Row]) -> Result<QueueCounts> {
    let mut counts = QueueCounts::default();
    for row in rows {
        let state = text(row, "state")?;
        let later = int(row, "later")?;
        let n = int(row, "n")?;
        let state = if later == 1 {
            JobState::Delayed
        } else {
            JobState::parse("state", &state)?
        };
        counts.add(state, n as u64);
    }
    Ok(counts)
}
