//! `keel schedules …`: schedules in the configured jobs store, opened directly. A running
//! server's scheduler reads them on its next pass (every second).

use keel_core::config::Config;
use keel_core::Error;
use keel_jobs::schedule::{Catchup, Overlap, ScheduleInput};
use serde_json::{json, Map, Value};

use crate::cli::{CreateScheduleArgs, SchedulesCommand};
use crate::jobs_cli::{fmt_time, parse_json_arg, print_json, table};
use crate::wiring::open_jobs_alone;

/// How many fire times `show` lists.
const UPCOMING: usize = 5;

pub async fn run(cfg: &Config, cmd: SchedulesCommand) -> anyhow::Result<()> {
    match cmd {
        SchedulesCommand::List { json } => list(cfg, json).await,
        SchedulesCommand::Show { name, json } => show(cfg, &name, json).await,
        SchedulesCommand::Create(args) => create(cfg, args).await,
        SchedulesCommand::Delete { name } => {
            let jobs = open_jobs_alone(cfg).await?;
            jobs.store()
                .delete_schedule(&name)
                .await
                .map_err(|e| not_found(e, &name))?;
            println!("Deleted schedule {name} and its run history (the jobs it enqueued stay).");
            Ok(())
        }
        SchedulesCommand::Pause { name } => set_paused(cfg, &name, true).await,
        SchedulesCommand::Resume { name } => set_paused(cfg, &name, false).await,
        SchedulesCommand::Trigger { name } => {
            let jobs = open_jobs_alone(cfg).await?;
            let job = jobs.trigger_schedule(&name).await.map_err(|e| not_found(e, &name))?;
            println!(
                "Triggered schedule {name}: enqueued job {} ({}) in queue {}.",
                job.id, job.name, job.queue
            );
            Ok(())
        }
        SchedulesCommand::Runs { name, limit, json } => runs(cfg, &name, limit, json).await,
    }
}

async fn list(cfg: &Config, as_json: bool) -> anyhow::Result<()> {
    let jobs = open_jobs_alone(cfg).await?;
    let schedules = jobs.store().schedules().await?;
    if as_json {
        return print_json(&json!({ "items": schedules }));
    }
    if schedules.is_empty() {
        println!("No schedules yet: create one with `keel schedules create`.");
        return Ok(());
    }
    let rows = schedules
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                s.queue.clone(),
                describe_spec(&s.schedule),
                s.next_at.map_or_else(|| "-".to_string(), fmt_time),
                s.last_tick.map_or_else(|| "-".to_string(), fmt_time),
                if s.paused { "yes" } else { "no" }.to_string(),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &["NAME", "QUEUE", "SCHEDULE", "NEXT (UTC)", "LAST TICK (UTC)", "PAUSED"],
            rows
        )
    );
    Ok(())
}

async fn show(cfg: &Config, name: &str, as_json: bool) -> anyhow::Result<()> {
    let jobs = open_jobs_alone(cfg).await?;
    let s = jobs.store().schedule(name).await.map_err(|e| not_found(e, name))?;
    let upcoming = if s.paused {
        Vec::new()
    } else {
        jobs.store()
            .upcoming(&s.id, UPCOMING)
            .await
            .map_err(|e| not_found(e, name))?
    };
    if as_json {
        let mut doc = serde_json::to_value(&s)?;
        if let Value::Object(doc) = &mut doc {
            doc.insert("upcoming".into(), serde_json::to_value(&upcoming)?);
        }
        return print_json(&doc);
    }
    let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".to_string());
    let lines = [
        ("name", s.name.clone()),
        ("id", s.id.clone()),
        ("queue", s.queue.clone()),
        ("schedule", describe_spec(&s.schedule)),
        ("job", s.job.to_string()),
        ("overlap", s.overlap.as_str().to_string()),
        ("catchup", s.catchup.as_str().to_string()),
        ("paused", if s.paused { "yes" } else { "no" }.to_string()),
        ("last tick", or_dash(s.last_tick.map(fmt_time))),
        ("last job", or_dash(s.last_job_id.clone())),
        ("created", fmt_time(s.created_at)),
    ];
    for (key, value) in lines {
        println!("{:<10} {value}", format!("{key}:"));
    }
    if s.paused {
        println!("Paused: it fires again after `keel schedules resume {}`.", s.name);
    } else if upcoming.is_empty() {
        println!("It will not fire again.");
    } else {
        println!("Next {} fire times (UTC):", upcoming.len());
        for t in upcoming {
            println!("  {}", t.format("%Y-%m-%d %H:%M:%S %a"));
        }
    }
    Ok(())
}

async fn create(cfg: &Config, args: CreateScheduleArgs) -> anyhow::Result<()> {
    let mut spec = Map::new();
    if let Some(cron) = args.cron {
        spec.insert("cron".into(), Value::String(cron));
        if let Some(tz) = args.timezone {
            spec.insert("timezone".into(), Value::String(tz));
        }
    } else if let Some(every) = args.every {
        spec.insert("every".into(), Value::String(every));
    } else if let Some(at) = args.at {
        spec.insert("at".into(), Value::String(at));
    }
    let job = match &args.job {
        Some(text) => parse_json_arg("job", "--job", text)?,
        None => json!({}),
    };
    let input = ScheduleInput {
        name: Some(args.name.clone()),
        schedule: Some(Value::Object(spec)),
        queue: Some(args.queue),
        job: Some(job),
        overlap: Some(match args.overlap.as_deref() {
            Some("allow") => Overlap::Allow,
            _ => Overlap::Skip,
        }),
        catchup: Some(match args.catchup.as_deref() {
            Some("runOnce") => Catchup::RunOnce,
            _ => Catchup::Skip,
        }),
        paused: Some(args.paused),
    };
    let jobs = open_jobs_alone(cfg).await?;
    let s = jobs.store().create_schedule(input).await?;
    println!(
        "Created schedule {} ({}) into queue {}{}.",
        s.name,
        describe_spec(&s.schedule),
        s.queue,
        match (s.paused, s.next_at) {
            (true, _) => ", paused".to_string(),
            (false, Some(t)) => format!(", first firing at {} UTC", fmt_time(t)),
            (false, None) => String::new(),
        }
    );
    Ok(())
}

async fn set_paused(cfg: &Config, name: &str, paused: bool) -> anyhow::Result<()> {
    let jobs = open_jobs_alone(cfg).await?;
    let input = ScheduleInput {
        paused: Some(paused),
        ..ScheduleInput::default()
    };
    let s = jobs
        .store()
        .update_schedule(name, input)
        .await
        .map_err(|e| not_found(e, name))?;
    if paused {
        println!("Paused schedule {}.", s.name);
    } else {
        println!(
            "Resumed schedule {}{}.",
            s.name,
            s.next_at
                .map(|t| format!(": next firing at {} UTC", fmt_time(t)))
                .unwrap_or_default()
        );
    }
    Ok(())
}

async fn runs(cfg: &Config, name: &str, limit: u32, as_json: bool) -> anyhow::Result<()> {
    let jobs = open_jobs_alone(cfg).await?;
    let runs = jobs
        .store()
        .schedule_runs(name, limit)
        .await
        .map_err(|e| not_found(e, name))?;
    if as_json {
        return print_json(&json!({ "items": runs }));
    }
    if runs.is_empty() {
        println!("Schedule {name} has not fired yet.");
        return Ok(());
    }
    let rows = runs
        .iter()
        .map(|r| {
            vec![
                fmt_time(r.tick),
                fmt_time(r.fired_at),
                r.outcome.clone(),
                r.job_id.clone().unwrap_or_else(|| "-".to_string()),
                r.job_state.map_or("-", |s| s.as_str()).to_string(),
            ]
        })
        .collect();
    print!(
        "{}",
        table(&["TICK (UTC)", "FIRED AT (UTC)", "OUTCOME", "JOB", "JOB STATE"], rows)
    );
    Ok(())
}

/// `cron "0 9 * * 1-5" Europe/Paris`, `every 15m`, `at 2026-12-01T09:00:00Z`.
fn describe_spec(spec: &Value) -> String {
    let text = |key: &str| spec.get(key).and_then(Value::as_str);
    if let Some(cron) = text("cron") {
        format!("cron \"{cron}\" {}", text("timezone").unwrap_or("UTC"))
    } else if let Some(every) = text("every") {
        match text("anchor") {
            Some(anchor) => format!("every {every} from {anchor}"),
            None => format!("every {every}"),
        }
    } else if let Some(at) = text("at") {
        format!("at {at}")
    } else {
        spec.to_string()
    }
}

/// Names the schedule in the store's generic 404.
fn not_found(e: Error, name: &str) -> Error {
    match e {
        Error::NotFound(_) => Error::NotFound(format!("no schedule {name}")),
        other => other,
    }
}
