//! Schedules in the job store, beside the jobs they enqueue. A tick fires **exactly once
//! across every Keel process sharing the store**: firing inserts the row
//! `(schedule_id, tick)` into `keel_schedule_runs`, whose primary key admits one, in the
//! same transaction that enqueues the job and moves the schedule on. A second process
//! firing the same tick hits the key and rolls back, and a crash mid-way commits nothing.

use std::time::Duration;

use chrono::{DateTime, Utc};
use keel_core::queue::validate_queue_name;
use keel_core::{Error, Result};
use serde_json::Value;
use sqlx::Row;

use super::model::{Overlap, Schedule, ScheduleInput, ScheduleRun};
use super::spec::{decide, Catchup, Decision, Spec};
use crate::model::{Job, NewJob};
use crate::store::{db, now_ms, to_time, JobStore};

const COLUMNS: &str =
    "id, name, spec, queue, job, overlap, catchup, paused, last_tick, last_job_id, next_at, created_at, updated_at";

/// How late a tick may fire and still count as on time; older ticks are missed.
pub const GRACE: Duration = Duration::from_secs(60);

/// A schedule's row, parsed.
struct Row_ {
    schedule: Schedule,
    spec: Spec,
}

impl JobStore {
    /// Creates a schedule.
    pub async fn create_schedule(&self, input: ScheduleInput) -> Result<Schedule> {
        let name = input.name.clone().ok_or_else(|| required("name"))?;
        let spec_json = input.schedule.clone().ok_or_else(|| required("schedule"))?;
        let queue = input.queue.clone().ok_or_else(|| required("queue"))?;
        let job = input.job.clone().unwrap_or_else(|| serde_json::json!({}));
        let now = now_ms();
        let (spec, job) = validate(&name, &spec_json, &queue, &job)?;
        let next = spec.next_after(to_time(now), to_time(now));
        if next.is_none() {
            return Err(Error::field(
                "schedule.at",
                "validation_in_the_past",
                "The one-shot time has passed: give a future time.",
            ));
        }
        let id = keel_core::id::new_id();
        let res = sqlx::query(
            "INSERT INTO keel_schedules (id, name, spec, queue, job, overlap, catchup, paused, next_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
        )
        .bind(id.clone())
        .bind(name)
        .bind(spec.to_json().to_string())
        .bind(queue)
        .bind(job.to_string())
        .bind(input.overlap.unwrap_or_default().as_str())
        .bind(input.catchup.unwrap_or_default().as_str())
        .bind(i64::from(input.paused.unwrap_or(false)))
        .bind(next.map(|t| t.timestamp_millis()))
        .bind(now)
        .execute(&self.pool)
        .await;
        match res {
            Ok(_) => {}
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(Error::field(
                    "name",
                    "validation_not_unique",
                    "A schedule with this name exists already.",
                ));
            }
            Err(e) => return Err(db(e)),
        }
        self.schedule(&id).await
    }

    /// The schedule with this id or name (404 if none).
    pub async fn schedule(&self, id_or_name: &str) -> Result<Schedule> {
        Ok(self.schedule_row(id_or_name).await?.schedule)
    }

    async fn schedule_row(&self, id_or_name: &str) -> Result<Row_> {
        let sql = format!("SELECT {COLUMNS} FROM keel_schedules WHERE id = $1 OR name = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id_or_name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .ok_or_else(Error::not_found)?;
        parse_row(&row)
    }

    /// Every schedule, by name.
    pub async fn schedules(&self) -> Result<Vec<Schedule>> {
        let sql = format!("SELECT {COLUMNS} FROM keel_schedules ORDER BY name");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(|r| parse_row(r).map(|r| r.schedule)).collect()
    }

    /// Changes the given fields. A new `schedule` spec restarts the count from now.
    pub async fn update_schedule(&self, id_or_name: &str, input: ScheduleInput) -> Result<Schedule> {
        let current = self.schedule_row(id_or_name).await?.schedule;
        let now = now_ms();
        let name = input.name.clone().unwrap_or(current.name.clone());
        let spec_json = input.schedule.clone().unwrap_or(current.schedule.clone());
        let queue = input.queue.clone().unwrap_or(current.queue.clone());
        let job = input.job.clone().unwrap_or(current.job.clone());
        let (spec, job) = validate(&name, &spec_json, &queue, &job)?;
        let spec_changed = input.schedule.is_some();
        let from = if spec_changed {
            to_time(now)
        } else {
            current.last_tick.unwrap_or(current.created_at)
        };
        let next = spec.next_after(from, current.created_at).map(|t| t.timestamp_millis());
        let res = sqlx::query(
            "UPDATE keel_schedules SET name = $1, spec = $2, queue = $3, job = $4, overlap = $5, catchup = $6, \
             paused = $7, next_at = $8, last_tick = $9, updated_at = $10 WHERE id = $11",
        )
        .bind(name)
        .bind(spec.to_json().to_string())
        .bind(queue)
        .bind(job.to_string())
        .bind(input.overlap.unwrap_or(current.overlap).as_str())
        .bind(input.catchup.unwrap_or(current.catchup).as_str())
        .bind(i64::from(input.paused.unwrap_or(current.paused)))
        .bind(next)
        .bind(if spec_changed {
            Some(now)
        } else {
            current.last_tick.map(|t| t.timestamp_millis())
        })
        .bind(now)
        .bind(current.id.clone())
        .execute(&self.pool)
        .await;
        match res {
            Ok(_) => {}
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(Error::field(
                    "name",
                    "validation_not_unique",
                    "A schedule with this name exists already.",
                ));
            }
            Err(e) => return Err(db(e)),
        }
        self.schedule(&current.id).await
    }

    /// Deletes a schedule and its run history (jobs it enqueued stay).
    pub async fn delete_schedule(&self, id_or_name: &str) -> Result<()> {
        let id = self.schedule(id_or_name).await?.id;
        let mut tx = self.begin().await.map_err(db)?;
        sqlx::query("DELETE FROM keel_schedule_runs WHERE schedule_id = $1")
            .bind(id.clone())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query("DELETE FROM keel_schedules WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    /// The next `n` fire times (≤ 100) after now.
    pub async fn upcoming(&self, id_or_name: &str, n: usize) -> Result<Vec<DateTime<Utc>>> {
        let row = self.schedule_row(id_or_name).await?;
        let from = to_time(now_ms()).max(row.schedule.last_tick.unwrap_or(row.schedule.created_at));
        Ok(row.spec.upcoming(from, row.schedule.created_at, n))
    }

    /// The newest `limit` runs, newest first, with their jobs' current states.
    pub async fn schedule_runs(&self, id_or_name: &str, limit: u32) -> Result<Vec<ScheduleRun>> {
        let id = self.schedule(id_or_name).await?.id;
        let rows = sqlx::query(
            "SELECT r.tick, r.fired_at, r.outcome, r.job_id, j.state, j.run_at FROM keel_schedule_runs r \
             LEFT JOIN keel_jobs j ON j.id = r.job_id WHERE r.schedule_id = $1 ORDER BY r.tick DESC LIMIT $2",
        )
        .bind(id)
        .bind(i64::from(limit.clamp(1, 1000)))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let now = now_ms();
        rows.iter()
            .map(|r| {
                let state: Option<String> = r.try_get("state").map_err(db)?;
                let run_at: Option<i64> = r.try_get("run_at").map_err(db)?;
                Ok(ScheduleRun {
                    tick: to_time(r.try_get("tick").map_err(db)?),
                    fired_at: to_time(r.try_get("fired_at").map_err(db)?),
                    outcome: r.try_get("outcome").map_err(db)?,
                    job_id: r.try_get("job_id").map_err(db)?,
                    job_state: state.map(|s| crate::store::visible_state(&s, run_at.unwrap_or(0), now)),
                })
            })
            .collect()
    }

    /// Enqueues the schedule's job now, outside its timetable (recorded as `triggered`).
    pub async fn trigger_schedule(&self, id_or_name: &str) -> Result<Job> {
        let s = self.schedule(id_or_name).await?;
        let mut now = now_ms();
        let mut tx = self.begin().await.map_err(db)?;
        // The run key is the millisecond; two triggers in one millisecond take the next.
        loop {
            let inserted = sqlx::query(
                "INSERT INTO keel_schedule_runs (schedule_id, tick, fired_at, outcome) VALUES ($1, $2, $2, 'triggered') \
                 ON CONFLICT DO NOTHING",
            )
            .bind(s.id.clone())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
            if inserted == 1 {
                break;
            }
            now += 1;
        }
        let job = self.enqueue_template(&mut tx, &s, now).await?;
        sqlx::query("UPDATE keel_schedule_runs SET job_id = $1 WHERE schedule_id = $2 AND tick = $3")
            .bind(job.id.clone())
            .bind(s.id.clone())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(job)
    }

    /// One scheduler pass: fires every due tick of every unpaused schedule. Any number of
    /// processes may run it at once; each tick fires once. Returns the jobs enqueued.
    pub async fn fire_due(&self) -> Result<Vec<Job>> {
        let now = now_ms();
        let sql = format!(
            "SELECT {COLUMNS} FROM keel_schedules WHERE paused = 0 AND next_at <= $1 ORDER BY next_at LIMIT 500"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        let mut fired = Vec::new();
        for row in rows {
            let Ok(row) = parse_row(&row) else { continue };
            if let Some(job) = self.fire_one(&row, now).await? {
                fired.push(job);
            }
        }
        Ok(fired)
    }

    async fn fire_one(&self, row: &Row_, now: i64) -> Result<Option<Job>> {
        let s = &row.schedule;
        let decision = decide(&row.spec, s.last_tick, s.created_at, to_time(now), s.catchup, GRACE);
        let (tick, fire) = match decision {
            Decision::Fire(t) => (t, true),
            Decision::SkipTo(t) => (t, false),
            Decision::Wait => {
                // next_at was stale (e.g. after an edit): recompute it.
                let next = row.spec.next_after(s.last_tick.unwrap_or(s.created_at), s.created_at);
                sqlx::query("UPDATE keel_schedules SET next_at = $1 WHERE id = $2")
                    .bind(next.map(|t| t.timestamp_millis()))
                    .bind(s.id.clone())
                    .execute(&self.pool)
                    .await
                    .map_err(db)?;
                return Ok(None);
            }
        };
        let tick_ms = tick.timestamp_millis();
        let mut tx = self.begin().await.map_err(db)?;
        let claimed = sqlx::query(
            "INSERT INTO keel_schedule_runs (schedule_id, tick, fired_at, outcome) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING",
        )
        .bind(s.id.clone())
        .bind(tick_ms)
        .bind(now)
        .bind(if fire { "enqueued" } else { "missed" })
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if claimed == 0 {
            // Another process fired this tick.
            return Ok(None);
        }
        let mut job = None;
        if fire {
            let busy = match (&s.overlap, &s.last_job_id) {
                (Overlap::Skip, Some(last)) => {
                    let state: Option<String> = sqlx::query("SELECT state FROM keel_jobs WHERE id = $1")
                        .bind(last.clone())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db)?
                        .map(|r| r.try_get("state"))
                        .transpose()
                        .map_err(db)?;
                    state.is_some_and(|st| matches!(st.as_str(), "waiting" | "active" | "failed"))
                }
                _ => false,
            };
            if busy {
                sqlx::query("UPDATE keel_schedule_runs SET outcome = 'skipped' WHERE schedule_id = $1 AND tick = $2")
                    .bind(s.id.clone())
                    .bind(tick_ms)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
            } else {
                let j = self.enqueue_template(&mut tx, s, now).await?;
                sqlx::query("UPDATE keel_schedule_runs SET job_id = $1 WHERE schedule_id = $2 AND tick = $3")
                    .bind(j.id.clone())
                    .bind(s.id.clone())
                    .bind(tick_ms)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                job = Some(j);
            }
        }
        let next = row.spec.next_after(tick, s.created_at).map(|t| t.timestamp_millis());
        sqlx::query(
            "UPDATE keel_schedules SET last_tick = $1, last_job_id = COALESCE($2, last_job_id), next_at = $3, \
             updated_at = $4 WHERE id = $5",
        )
        .bind(tick_ms)
        .bind(job.as_ref().map(|j: &Job| j.id.clone()))
        .bind(next)
        .bind(now)
        .bind(s.id.clone())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(job)
    }

    async fn enqueue_template(&self, tx: &mut sqlx::AnyConnection, s: &Schedule, now: i64) -> Result<Job> {
        let new: NewJob = serde_json::from_value(s.job.clone()).map_err(|e| {
            Error::field(
                "job",
                "validation_invalid_job",
                format!("The schedule's job is invalid: {e}"),
            )
        })?;
        let mut out = self.enqueue_on(tx, &s.queue, &[new], now).await?;
        out.pop()
            .map(|e| e.job)
            .ok_or_else(|| Error::internal("enqueue returned no job"))
    }
}

fn required(field: &str) -> Error {
    Error::field(field, "validation_required", format!("{field} is required."))
}

/// Checks a schedule's parts; returns the parsed spec and the job template.
fn validate(name: &str, spec: &Value, queue: &str, job: &Value) -> Result<(Spec, Value)> {
    let name_ok = !name.is_empty()
        && name.len() <= 100
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if !name_ok {
        return Err(Error::field(
            "name",
            "validation_invalid_name",
            "name is 1 to 100 characters of letters, digits, '_', '-' and '.'.",
        ));
    }
    let spec = Spec::from_json(spec).map_err(|e| {
        Error::field(
            format!("schedule.{}", e.field),
            "validation_invalid_schedule",
            e.message,
        )
    })?;
    validate_queue_name(queue)?;
    let new: NewJob = serde_json::from_value(job.clone())
        .map_err(|e| Error::field("job", "validation_invalid_job", format!("Invalid job template: {e}")))?;
    new.validate().map_err(|e| match e {
        Error::BadRequest { message, fields } => Error::BadRequest {
            message,
            fields: fields.into_iter().map(|(k, v)| (format!("job.{k}"), v)).collect(),
        },
        other => other,
    })?;
    if new.run_at.is_some() {
        return Err(Error::field(
            "job.runAt",
            "validation_not_allowed",
            "A schedule's job runs at its tick: use delayMs for an offset.",
        ));
    }
    Ok((spec, job.clone()))
}

fn parse_row(row: &sqlx::any::AnyRow) -> Result<Row_> {
    let spec_text: String = row.try_get("spec").map_err(db)?;
    let spec_json: Value = serde_json::from_str(&spec_text).map_err(Error::internal)?;
    let spec = Spec::from_json(&spec_json).map_err(|e| Error::internal(format!("stored schedule spec: {e}")))?;
    let job_text: String = row.try_get("job").map_err(db)?;
    let overlap: String = row.try_get("overlap").map_err(db)?;
    let catchup: String = row.try_get("catchup").map_err(db)?;
    let opt_time = |c: &str| row.try_get::<Option<i64>, _>(c).map(|v| v.map(to_time)).map_err(db);
    Ok(Row_ {
        schedule: Schedule {
            id: row.try_get("id").map_err(db)?,
            name: row.try_get("name").map_err(db)?,
            schedule: spec_json,
            queue: row.try_get("queue").map_err(db)?,
            job: serde_json::from_str(&job_text).unwrap_or_default(),
            overlap: if overlap == "allow" {
                Overlap::Allow
            } else {
                Overlap::Skip
            },
            catchup: catchup.parse().unwrap_or(Catchup::Skip),
            paused: row.try_get::<i64, _>("paused").map_err(db)? != 0,
            last_tick: opt_time("last_tick")?,
            last_job_id: row.try_get("last_job_id").map_err(db)?,
            next_at: opt_time("next_at")?,
            created_at: to_time(row.try_get("created_at").map_err(db)?),
            updated_at: to_time(row.try_get("updated_at").map_err(db)?),
        },
        spec,
    })
}
