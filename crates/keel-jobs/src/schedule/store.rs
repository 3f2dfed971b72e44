//! Schedules in the job store, beside the jobs they enqueue. A tick fires **exactly once
//! across every Keel process sharing the store**: firing inserts the row
//! `(schedule_id, tick)` into `keel_schedule_runs`, whose primary key admits one, in the
//! same transaction that enqueues the job and moves the schedule on. A second process
//! firing the same tick hits the key and rolls back, and a crash mid-way commits nothing.

use std::time::Duration;

use chrono::{DateTime, Utc};
use keel_core::queue::validate_queue_name;
use keel_core::{Error, Result};
use keel_sql::{Row, Tx};
use serde_json::{json, Value};

use super::model::{Overlap, Schedule, ScheduleInput, ScheduleRun};
use super::spec::{decide, Catchup, Decision, Spec};
use crate::model::{Job, NewJob};
use crate::store::{db, int, is_unique_violation, now_ms, opt, opt_int, opt_text, text, to_time, JobStore};

/// A schedule tick recorded as missed (Keel was not running within the grace and the
/// schedule does not catch up): reported so the app can emit `schedule.missed`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MissedTick {
    /// The schedule's id.
    pub schedule: String,
    pub name: String,
    pub queue: String,
    /// The tick that did not fire.
    pub tick: DateTime<Utc>,
}

/// What firing one schedule did.
enum Fired {
    Job(Box<Job>),
    Missed(MissedTick),
}

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
        let params = [
            json!(id),
            json!(name),
            json!(spec.to_json().to_string()),
            json!(queue),
            json!(job.to_string()),
            json!(input.overlap.unwrap_or_default().as_str()),
            json!(input.catchup.unwrap_or_default().as_str()),
            json!(i64::from(input.paused.unwrap_or(false))),
            millis(next),
            json!(now),
        ];
        let sql = format!(
            "INSERT INTO keel_schedules (id, name, spec, queue, job, overlap, catchup, paused, next_at, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, {}, $10, $10)",
            self.dialect().integer_cast("$9")
        );
        let res = self.write(&sql, &params).await;
        match res {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(Error::field(
                    "name",
                    "validation_not_unique",
                    "A schedule with this name exists already.",
                ));
            }
            Err(e) => return Err(e),
        }
        self.schedule(&id).await
    }

    /// The schedule with this id or name (404 if none).
    pub async fn schedule(&self, id_or_name: &str) -> Result<Schedule> {
        Ok(self.schedule_row(id_or_name).await?.schedule)
    }

    async fn schedule_row(&self, id_or_name: &str) -> Result<Row_> {
        let sql = format!("SELECT {COLUMNS} FROM keel_schedules WHERE id = $1 OR name = $1");
        let rows = self.read(&sql, &[json!(id_or_name)]).await?;
        parse_row(rows.first().ok_or_else(Error::not_found)?)
    }

    /// Every schedule, by name.
    pub async fn schedules(&self) -> Result<Vec<Schedule>> {
        let sql = format!("SELECT {COLUMNS} FROM keel_schedules ORDER BY name");
        let rows = self.read(&sql, &[]).await?;
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
        let last_tick = if spec_changed {
            Some(now)
        } else {
            current.last_tick.map(|t| t.timestamp_millis())
        };
        let params = [
            json!(name),
            json!(spec.to_json().to_string()),
            json!(queue),
            json!(job.to_string()),
            json!(input.overlap.unwrap_or(current.overlap).as_str()),
            json!(input.catchup.unwrap_or(current.catchup).as_str()),
            json!(i64::from(input.paused.unwrap_or(current.paused))),
            next.map_or(Value::Null, |n| json!(n)),
            last_tick.map_or(Value::Null, |n| json!(n)),
            json!(now),
            json!(current.id),
        ];
        let d = self.dialect();
        let sql = format!(
            "UPDATE keel_schedules SET name = $1, spec = $2, queue = $3, job = $4, overlap = $5, catchup = $6, \
             paused = $7, next_at = {}, last_tick = {}, updated_at = $10 WHERE id = $11",
            d.integer_cast("$8"),
            d.integer_cast("$9")
        );
        let res = self.write(&sql, &params).await;
        match res {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(Error::field(
                    "name",
                    "validation_not_unique",
                    "A schedule with this name exists already.",
                ));
            }
            Err(e) => return Err(e),
        }
        self.schedule(&current.id).await
    }

    /// Deletes a schedule and its run history (jobs it enqueued stay).
    pub async fn delete_schedule(&self, id_or_name: &str) -> Result<()> {
        let id = self.schedule(id_or_name).await?.id;
        let mut tx = self.begin().await?;
        self.exec(
            tx.as_mut(),
            "DELETE FROM keel_schedule_runs WHERE schedule_id = $1",
            &[json!(id)],
        )
        .await?;
        self.exec(tx.as_mut(), "DELETE FROM keel_schedules WHERE id = $1", &[json!(id)])
            .await?;
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
        let rows = self
            .read(
                "SELECT r.tick, r.fired_at, r.outcome, r.job_id, j.state, j.run_at FROM keel_schedule_runs r \
                 LEFT JOIN keel_jobs j ON j.id = r.job_id WHERE r.schedule_id = $1 ORDER BY r.tick DESC LIMIT $2",
                &[json!(id), json!(i64::from(limit.clamp(1, 1000)))],
            )
            .await?;
        let now = now_ms();
        rows.iter()
            .map(|r| {
                let state = opt_text(r, "state")?;
                let run_at = opt_int(r, "run_at")?;
                Ok(ScheduleRun {
                    tick: to_time(int(r, "tick")?),
                    fired_at: to_time(int(r, "fired_at")?),
                    outcome: text(r, "outcome")?,
                    job_id: opt_text(r, "job_id")?,
                    job_state: state.map(|s| crate::store::visible_state(&s, run_at.unwrap_or(0), now)),
                })
            })
            .collect()
    }

    /// Enqueues the schedule's job now, outside its timetable (recorded as `triggered`).
    pub async fn trigger_schedule(&self, id_or_name: &str) -> Result<Job> {
        let s = self.schedule(id_or_name).await?;
        let mut now = now_ms();
        let mut tx = self.begin().await?;
        // The run key is the millisecond; two triggers in one millisecond take the next.
        loop {
            let sql = self.dialect().insert_ignoring_duplicates(
                "keel_schedule_runs (schedule_id, tick, fired_at, outcome) VALUES ($1, $2, $2, 'triggered')",
            );
            let inserted = self.exec(tx.as_mut(), &sql, &[json!(s.id), json!(now)]).await?;
            if inserted == 1 {
                break;
            }
            now += 1;
        }
        let job = self.enqueue_template(tx.as_mut(), &s, now).await?;
        self.exec(
            tx.as_mut(),
            "UPDATE keel_schedule_runs SET job_id = $1 WHERE schedule_id = $2 AND tick = $3",
            &[json!(job.id), json!(s.id), json!(now)],
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(job)
    }

    /// One scheduler pass: fires every due tick of every unpaused schedule. Any number of
    /// processes may run it at once; each tick fires once. Returns the jobs enqueued.
    pub async fn fire_due(&self) -> Result<Vec<Job>> {
        Ok(self.fire_due_reporting().await?.0)
    }

    /// [`fire_due`](Self::fire_due), also returning the ticks this pass recorded as missed
    /// (each reported by the one process that recorded it).
    pub async fn fire_due_reporting(&self) -> Result<(Vec<Job>, Vec<MissedTick>)> {
        let now = now_ms();
        let sql = format!(
            "SELECT {COLUMNS} FROM keel_schedules WHERE paused = 0 AND next_at <= $1 ORDER BY next_at LIMIT 500"
        );
        let rows = self.read(&sql, &[json!(now)]).await?;
        let mut fired = Vec::new();
        let mut missed = Vec::new();
        for row in rows {
            let Ok(row) = parse_row(&row) else { continue };
            match self.fire_one(&row, now).await? {
                Some(Fired::Job(job)) => fired.push(*job),
                Some(Fired::Missed(tick)) => missed.push(tick),
                None => {}
            }
        }
        Ok((fired, missed))
    }

    async fn fire_one(&self, row: &Row_, now: i64) -> Result<Option<Fired>> {
        let s = &row.schedule;
        let decision = decide(&row.spec, s.last_tick, s.created_at, to_time(now), s.catchup, GRACE);
        let (tick, fire) = match decision {
            Decision::Fire(t) => (t, true),
            Decision::SkipTo(t) => (t, false),
            Decision::Wait => {
                // next_at was stale (e.g. after an edit): recompute it.
                let next = row.spec.next_after(s.last_tick.unwrap_or(s.created_at), s.created_at);
                let sql = format!(
                    "UPDATE keel_schedules SET next_at = {} WHERE id = $2",
                    self.dialect().integer_cast("$1")
                );
                self.write(&sql, &[millis(next), json!(s.id)]).await?;
                return Ok(None);
            }
        };
        let tick_ms = tick.timestamp_millis();
        let mut tx = self.begin().await?;
        let outcome = if fire { "enqueued" } else { "missed" };
        let sql = self.dialect().insert_ignoring_duplicates(
            "keel_schedule_runs (schedule_id, tick, fired_at, outcome) VALUES ($1, $2, $3, $4)",
        );
        let claimed = self
            .exec(
                tx.as_mut(),
                &sql,
                &[json!(s.id), json!(tick_ms), json!(now), json!(outcome)],
            )
            .await?;
        if claimed == 0 {
            // Another process fired this tick.
            return Ok(None);
        }
        let mut job = None;
        if fire {
            let busy = match (&s.overlap, &s.last_job_id) {
                (Overlap::Skip, Some(last)) => {
                    let rows = self
                        .rows(tx.as_mut(), "SELECT state FROM keel_jobs WHERE id = $1", &[json!(last)])
                        .await?;
                    let state = rows.first().map(|r| text(r, "state")).transpose()?;
                    state.is_some_and(|st| matches!(st.as_str(), "waiting" | "active" | "failed"))
                }
                _ => false,
            };
            if busy {
                self.exec(
                    tx.as_mut(),
                    "UPDATE keel_schedule_runs SET outcome = 'skipped' WHERE schedule_id = $1 AND tick = $2",
                    &[json!(s.id), json!(tick_ms)],
                )
                .await?;
            } else {
                let j = self.enqueue_template(tx.as_mut(), s, now).await?;
                self.exec(
                    tx.as_mut(),
                    "UPDATE keel_schedule_runs SET job_id = $1 WHERE schedule_id = $2 AND tick = $3",
                    &[json!(j.id), json!(s.id), json!(tick_ms)],
                )
                .await?;
                job = Some(j);
            }
        }
        let next = row.spec.next_after(tick, s.created_at);
        let params = [
            json!(tick_ms),
            opt(job.as_ref().map(|j: &Job| j.id.clone())),
            millis(next),
            json!(now),
            json!(s.id),
        ];
        let sql = format!(
            "UPDATE keel_schedules SET last_tick = $1, last_job_id = COALESCE($2, last_job_id), \
             next_at = {}, updated_at = $4 WHERE id = $5",
            self.dialect().integer_cast("$3")
        );
        self.exec(tx.as_mut(), &sql, &params).await?;
        tx.commit().await.map_err(db)?;
        if !fire {
            return Ok(Some(Fired::Missed(MissedTick {
                schedule: s.id.clone(),
                name: s.name.clone(),
                queue: s.queue.clone(),
                tick,
            })));
        }
        Ok(job.map(|j| Fired::Job(Box::new(j))))
    }

    async fn enqueue_template(&self, tx: &mut dyn Tx, s: &Schedule, now: i64) -> Result<Job> {
        let new: NewJob = serde_json::from_value(s.job.clone()).map_err(|e| {
            Error::field(
                "job",
                "validation_invalid_job",
                format!("The schedule's job is invalid: {e}"),
            )
        })?;
        let mut out = self.enqueue_on(tx, &[(s.queue.as_str(), &[new][..])], now).await?;
        out.pop()
            .and_then(|mut request| request.pop())
            .map(|e| e.job)
            .ok_or_else(|| Error::internal("enqueue returned no job"))
    }
}

/// A time as bound milliseconds (NULL for none).
fn millis(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| json!(t.timestamp_millis()))
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

fn parse_row(row: &Row) -> Result<Row_> {
    let spec_text = text(row, "spec")?;
    let spec_json: Value = serde_json::from_str(&spec_text).map_err(Error::internal)?;
    let spec = Spec::from_json(&spec_json).map_err(|e| Error::internal(format!("stored schedule spec: {e}")))?;
    let job_text = text(row, "job")?;
    let overlap = text(row, "overlap")?;
    let catchup = text(row, "catchup")?;
    let opt_time = |c: &str| opt_int(row, c).map(|v| v.map(to_time));
    Ok(Row_ {
        schedule: Schedule {
            id: text(row, "id")?,
            name: text(row, "name")?,
            schedule: spec_json,
            queue: text(row, "queue")?,
            job: serde_json::from_str(&job_text).unwrap_or_default(),
            overlap: if overlap == "allow" {
                Overlap::Allow
            } else {
                Overlap::Skip
            },
            catchup: catchup.parse().unwrap_or(Catchup::Skip),
            paused: int(row, "paused")? != 0,
            last_tick: opt_time("last_tick")?,
            last_job_id: opt_text(row, "last_job_id")?,
            next_at: opt_time("next_at")?,
            created_at: to_time(int(row, "created_at")?),
            updated_at: to_time(int(row, "updated_at")?),
        },
        spec,
    })
}
