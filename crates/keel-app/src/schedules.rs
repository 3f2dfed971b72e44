//! Schedules offered to callers: read them and their runs (`jobs:read`), create, change,
//! pause, resume, trigger and delete them (`jobs:admin`).

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

/// Creates a schedule.
pub async fn create(app: &App, caller: &Caller, input: ScheduleInput) -> Result<Schedule, Error> {
    guard(caller, Op::Admin, None)?;
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
