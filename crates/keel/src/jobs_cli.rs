//! `keel jobs …` and `keel queues …`: operator commands on the configured jobs store, opened
//! directly (embedded `jobs.db` or PostgreSQL) the way `keel superuser` opens the data. A
//! running server sees the changes on its next claim poll (within a second).
//!
//! Also the CLI's error report shared by these commands: bad input exits 2 with each field's
//! message, anything else exits 1.

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use keel_core::config::Config;
use keel_core::Error;
use keel_jobs::{Job, JobState, NewJob};
use serde::Serialize;
use serde_json::{json, Value};

use crate::cli::{EnqueueArgs, JobsCommand, ListJobsArgs, QueuesArgs, QueuesCommand};
use crate::wiring::open_jobs_alone;

pub async fn run_jobs(cfg: &Config, cmd: JobsCommand) -> anyhow::Result<()> {
    match cmd {
        JobsCommand::Enqueue(args) => enqueue(cfg, args).await,
        JobsCommand::List(args) => list(cfg, args).await,
        JobsCommand::Show { id } => {
            let jobs = open_jobs_alone(cfg).await?;
            let job = jobs.store().get(&id).await?.ok_or_else(|| no_job(&id))?;
            print_json(&job)
        }
        JobsCommand::Retry { id } => {
            let jobs = open_jobs_alone(cfg).await?;
            let job = jobs.retry(&id).await.map_err(|e| job_not_found(e, &id))?;
            println!(
                "Retried job {} ({} in queue {}): {} again, with {} fresh attempts.",
                job.id,
                job.name,
                job.queue,
                job.state.as_str(),
                job.max_attempts
            );
            Ok(())
        }
        JobsCommand::Cancel { id } => {
            let jobs = open_jobs_alone(cfg).await?;
            let job = jobs.cancel(&id).await.map_err(|e| job_not_found(e, &id))?;
            println!("Cancelled job {} ({} in queue {}).", job.id, job.name, job.queue);
            Ok(())
        }
    }
}

async fn enqueue(cfg: &Config, args: EnqueueArgs) -> anyhow::Result<()> {
    let payload = match &args.payload {
        Some(text) => parse_json_arg("payload", "--payload", text)?,
        None => Value::Null,
    };
    let max_attempts = match args.max_attempts {
        None => None,
        Some(n) => Some(u32::try_from(n).map_err(|_| {
            Error::field(
                "maxAttempts",
                "validation_out_of_range",
                format!("maxAttempts must be between 1 and {}.", keel_jobs::model::MAX_ATTEMPTS),
            )
        })?),
    };
    let job = NewJob {
        name: args.name,
        payload,
        priority: args.priority,
        delay_ms: args.delay_ms,
        run_at: None,
        max_attempts,
        backoff: None,
        timeout_ms: None,
        unique_key: args.unique_key.clone(),
    };
    job.validate()?;
    let jobs = open_jobs_alone(cfg).await?;
    let enqueued = jobs
        .enqueue(&args.queue, vec![job])
        .await?
        .pop()
        .ok_or_else(|| anyhow::anyhow!("the jobs store returned no job"))?;
    if !enqueued.created {
        eprintln!(
            "A pending job with unique key {:?} exists in queue {}: it was returned and nothing was enqueued.",
            args.unique_key.unwrap_or_default(),
            args.queue
        );
    }
    print_json(&enqueued.job)
}

async fn list(cfg: &Config, args: ListJobsArgs) -> anyhow::Result<()> {
    keel_core::queue::validate_queue_name(&args.queue)?;
    let state = args.state.as_deref().map(|s| JobState::parse("state", s)).transpose()?;
    let jobs = open_jobs_alone(cfg).await?;
    let filter = keel_jobs::JobFilter { state, name: args.name };
    let page = jobs
        .store()
        .list(&args.queue, &filter, args.page, args.per_page)
        .await?;
    if args.json {
        return print_json(&page);
    }
    let what = state.map(|s| format!("{} ", s.as_str())).unwrap_or_default();
    if page.items.is_empty() {
        println!(
            "No {what}jobs in queue {} (page {} of {}).",
            args.queue,
            page.page,
            page.total_pages.max(1)
        );
        return Ok(());
    }
    let rows = page.items.iter().map(job_row).collect();
    print!(
        "{}",
        table(
            &[
                "ID",
                "NAME",
                "STATE",
                "ATTEMPTS",
                "PRIORITY",
                "RUN AT / FINISHED AT (UTC)"
            ],
            rows
        )
    );
    println!(
        "Page {} of {}: {} {what}job{} in queue {}.",
        page.page,
        page.total_pages,
        page.total_items,
        if page.total_items == 1 { "" } else { "s" },
        args.queue
    );
    Ok(())
}

fn job_row(job: &Job) -> Vec<String> {
    let when = match job.finished_at {
        Some(t) => format!("finished {}", fmt_time(t)),
        None => format!("run at {}", fmt_time(job.run_at)),
    };
    vec![
        job.id.clone(),
        job.name.clone(),
        job.state.as_str().to_string(),
        format!("{}/{}", job.attempts, job.max_attempts),
        job.priority.to_string(),
        when,
    ]
}

pub async fn run_queues(cfg: &Config, args: QueuesArgs) -> anyhow::Result<()> {
    match args.command {
        Some(QueuesCommand::Pause { queue, create }) => set_paused(cfg, &queue, true, create).await,
        Some(QueuesCommand::Resume { queue }) => set_paused(cfg, &queue, false, false).await,
        None => list_queues(cfg, args.json).await,
    }
}

/// Pauses or resumes `queue`; a queue that was never used (no job, no settings) is an error
/// (exit 1) unless `create`, so a typo does not silently pause nothing.
async fn set_paused(cfg: &Config, queue: &str, paused: bool, create: bool) -> anyhow::Result<()> {
    keel_core::queue::validate_queue_name(queue)?;
    let jobs = open_jobs_alone(cfg).await?;
    let known = jobs.store().queues().await?.iter().any(|(name, _)| name == queue);
    if !known && !create {
        anyhow::bail!(
            "no queue named {queue:?}: `keel queues` lists them (a queue appears with its first job); \
             to pause it before its first job, add --create"
        );
    }
    jobs.update_settings(queue, &json!({ "paused": paused })).await?;
    if paused {
        println!("Paused queue {queue}: workers take no new jobs from it until `keel queues resume {queue}`.");
    } else {
        println!("Resumed queue {queue}.");
    }
    Ok(())
}

async fn list_queues(cfg: &Config, as_json: bool) -> anyhow::Result<()> {
    let jobs = open_jobs_alone(cfg).await?;
    let queues = jobs.store().queues().await?;
    let mut items = Vec::with_capacity(queues.len());
    for (name, settings) in queues {
        let counts = jobs.store().counts(&name).await?;
        items.push((name, settings, counts));
    }
    if as_json {
        let items: Vec<Value> = items
            .iter()
            .map(|(name, settings, counts)| json!({ "name": name, "settings": settings, "counts": counts }))
            .collect();
        return print_json(&json!({ "items": items }));
    }
    if items.is_empty() {
        println!("No queues yet: a queue appears when its first job is enqueued.");
        return Ok(());
    }
    let rows = items
        .iter()
        .map(|(name, s, c)| {
            vec![
                name.clone(),
                c.waiting.to_string(),
                c.delayed.to_string(),
                c.active.to_string(),
                c.completed.to_string(),
                c.failed.to_string(),
                c.dead.to_string(),
                c.cancelled.to_string(),
                c.completed_last_minute.to_string(),
                c.failed_last_minute.to_string(),
                if s.paused { "yes" } else { "no" }.to_string(),
                s.concurrency.map_or_else(|| "-".to_string(), |n| n.to_string()),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &[
                "QUEUE",
                "WAITING",
                "DELAYED",
                "ACTIVE",
                "COMPLETED",
                "FAILED",
                "DEAD",
                "CANCELLED",
                "DONE/1M",
                "FAILED/1M",
                "PAUSED",
                "CONCURRENCY",
            ],
            rows,
        )
    );
    Ok(())
}

fn no_job(id: &str) -> Error {
    Error::NotFound(format!("no job {id}"))
}

/// Names the job in the store's generic 404.
fn job_not_found(e: Error, id: &str) -> Error {
    match e {
        Error::NotFound(_) => no_job(id),
        other => other,
    }
}

/// Parses a JSON flag, or a 400 naming `field` (and the flag) when it is not JSON.
pub(crate) fn parse_json_arg(field: &str, flag: &str, text: &str) -> Result<Value, Error> {
    serde_json::from_str(text).map_err(|e| {
        Error::field(
            field,
            "validation_invalid_json",
            format!("{flag} must be JSON ({e}); quote it for the shell, e.g. {flag} '{{\"key\": 1}}'."),
        )
    })
}

pub(crate) fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

pub(crate) fn fmt_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Left-aligned columns separated by two spaces, a header line first.
pub(crate) fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut out = String::new();
        for (i, cell) in cells.enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            out.push_str(cell);
            let pad = widths.get(i).copied().unwrap_or(0).saturating_sub(cell.chars().count());
            out.extend(std::iter::repeat_n(' ', pad));
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
        out
    };
    let mut out = line(&mut headers.iter().copied());
    for row in &rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    out
}

/// Prints a failed command's error and picks the exit code: 2 for bad input (each offending
/// field on its own line), 1 for anything else.
pub fn report(e: &anyhow::Error) -> ExitCode {
    match e.downcast_ref::<Error>() {
        Some(Error::BadRequest { message, fields }) => {
            eprintln!("keel: {message}");
            for (field, problem) in fields {
                eprintln!("  {field}: {}", problem.message);
            }
            ExitCode::from(2)
        }
        Some(Error::TooLarge(message)) => {
            eprintln!("keel: {message}");
            ExitCode::from(2)
        }
        Some(Error::NotFound(message) | Error::Conflict(message)) => {
            eprintln!("keel: {message}");
            ExitCode::FAILURE
        }
        _ => {
            eprintln!("keel: {e:#}");
            ExitCode::FAILURE
        }
    }
}
