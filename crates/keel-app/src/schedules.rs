//! Schedules offered to callers: read them and their runs (`jobs:read`), create, change,
//! pause, resume, trigger and delete them (`jobs:admin`).
//!
//! A schedule fills a caller's queue, never one of Keel's own (`_keel-…`), with one
//! exception: a schedule on `_keel-ops` launches a runbook at each tick. Its job's payload is
//! `{"runbook": name or id, "params": {…}}`; saving it needs `ops:run` too, and the runbook and
//! parameters are checked then (a 400 naming `job.payload.params.<name>`), and again at each
//! launch against the runbook's current version.

use chrono::{DateTime, Utc};
use keel_core::Error;
use keel_jobs::schedule::{Schedule, ScheduleInput, ScheduleRun};
use keel_jobs::Job;

use crate::caller::Caller;
use crate::jobs::{guard, Op};
use crate::App;

/// Every schedule.
pub async fn list(app: &App, caller: &Caller) -> Result<Vec<Schedule>, Error> {
    guard(caller, Op::Read, None)?;
    app.jobs.store().schedules().await
}

/// What a schedule may fill (see the module docs).
async fn check_target(
    app: &App,
    caller: &Caller,
    input: &ScheduleInput,
    current: Option<&Schedule>,
) -> Result<(), Error> {
    let Some(queue) = input.queue.as_deref().or(current.map(|c| c.queue.as_str())) else {
        return Ok(());
    };
    if !keel_jobs::is_system_queue(queue) {
        return Ok(());
    }
    if queue != crate::outbox::queue_of(crate::ops::KIND) {
        return Err(keel_jobs::system_queue_refused(queue));
    }
    crate::ops::may(caller, crate::authz::Permission::OpsRun)?;
    let job = input.job.as_ref().or(current.map(|c| &c.job));
    let payload = job.and_then(|j| j.get("payload")).cloned().unwrap_or_default();
    let runbook = payload
        .get("runbook")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    if runbook.is_empty() {
        return Err(Error::field(
            "job.payload.runbook",
            "validation_required",
            "A schedule on _keel-ops launches a runbook: give job.payload.runbook (and params).",
        ));
    }
    crate::ops::runs::check_launch(app, runbook, payload.get("params").cloned().unwrap_or_default())
        .await
        .map(|_| ())
        .map_err(|e| match e {
            Error::BadRequest { message, fields } => Error::BadRequest {
                message,
                fields: fields
                    .into_iter()
                    .map(|(k, v)| (format!("job.payload.{k}"), v))
                    .collect(),
            },
            Error::NotFound(m) => Error::field("job.payload.runbook", "validation_unknown_runbook", m),
            other => other,
        })
}

/// Creates a schedule.
pub async fn create(app: &App, caller: &Caller, input: ScheduleInput) -> Result<Schedule, Error> {
    guard(caller, Op::Admin, None)?;
    check_target(app, caller, &input, None).await?;
    app.jobs.store().create_schedule(input).await
}

/// The schedule `id` (or name) and its next `next` fire times.
pub async fn view(app: &App, caller: &Caller, id: &str, next: usize) -> Result<(Schedule, Vec<DateTime<Utc>>), Error> {
    guard(caller, Op::Read, None)?;
    let store = app.jobs.store();
    let schedule = store.schedule(id).await?;
    let upcoming = store.upcoming(&schedule.id, next).await?;
    Ok((schedule, upcoming))
}

/// Changes the schedule with the fields of `input` that are set.
pub async fn update(app: &App, caller: &Caller, id: &str, input: ScheduleInput) -> Result<Schedule, Error> {
    guard(caller, Op::Admin, None)?;
    if input.queue.is_some() || input.job.is_some() {
        let current = app.jobs.store().schedule(id).await?;
        check_target(app, caller, &input, Some(&current)).await?;
    }
    app.jobs.store().update_schedule(id, input).await
}

/// Pauses or resumes the schedule.
pub async fn set_paused(app: &App, caller: &Caller, id: &str, paused: bool) -> Result<Schedule, Error> {
    let input = ScheduleInput {
        paused: Some(paused),
        ..ScheduleInput::default()
    };
    update(app, caller, id, input).await
}

/// Deletes the schedule.
pub async fn delete(app: &App, caller: &Caller, id: &str) -> Result<(), Error> {
    guard(caller, Op::Admin, None)?;
    app.jobs.store().delete_schedule(id).await
}

/// Enqueues the schedule's job now.
pub async fn trigger(app: &App, caller: &Caller, id: &str) -> Result<Job, Error> {
    guard(caller, Op::Admin, None)?;
    app.jobs.trigger_schedule(id).await
}

/// The schedule's latest `limit` runs.
pub async fn runs(app: &App, caller: &Caller, id: &str, limit: u32) -> Result<Vec<ScheduleRun>, Error> {
    guard(caller, Op::Read, None)?;
    app.jobs.store().schedule_runs(id, limit).await
}
