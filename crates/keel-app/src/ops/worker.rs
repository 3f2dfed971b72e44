//! The `_keel-ops` worker: one job runs (or resumes) one run. Several processes share the
//! queue; a run is taken by moving its row from `queued` or `awaiting_approval` to `running`
//! inside the store's write (so two jobs never run one run), naming the job on the row.
//!
//! While a run goes, its job beats every [`BEAT`] (extending its lease of
//! `[ops] lease_secs` (30 s)) and checks the row for a cancel. **A process killed mid-run**
//! stops beating; its job's lease expires and another process takes the job again, finds
//! the run `running` under this very job, and marks it `interrupted`, with its running steps:
//! runs are not resumed, since a half-run command may not be safe to run twice. Rerun it from
//! the failed step (`POST /api/ops/runs/{id}/rerun`) once you know what the target is like.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use keel_data::system::{OPS_RUNS, OPS_RUN_STEPS};
use keel_jobs::{Job, JobContext, JobFailure, JobHandler};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::engine::{self, Outcome};
use super::log;
use super::state;
use crate::rows::{find, get, lit, patch, str_of};
use crate::App;

/// How often a running run's job beats and looks for a cancel.
pub const BEAT: Duration = Duration::from_secs(1);

/// Runs the job's run.
pub struct RunWorker {
    app: App,
}

impl RunWorker {
    pub fn new(app: App) -> RunWorker {
        RunWorker { app }
    }
}

/// Tells the world a run ended (or waits): realtime followers, and the `run.*` event for
/// webhooks and notification rules.
pub(crate) async fn ended(app: &App, run: &str, st: &str) {
    log::publish(app, run, json!({"type": "state", "state": st})).await;
    let Ok(Some(row)) = get(app, OPS_RUNS, run).await else {
        return;
    };
    let kind = match st {
        state::RUNNING => "run.started",
        state::AWAITING_APPROVAL => "run.awaiting_approval",
        other => match other {
            state::SUCCEEDED => "run.succeeded",
            state::CANCELLED => "run.cancelled",
            state::INTERRUPTED => "run.interrupted",
            _ => "run.failed",
        },
    };
    let data = json!({
        "run": run,
        "runbook": str_of(&row.data, "runbook"),
        "runbookName": str_of(&row.data, "runbookName"),
        "version": row.data.get("version"),
        "state": st,
        "startedBy": str_of(&row.data, "startedBy"),
        "error": str_of(&row.data, "error"),
    });
    if let Err(e) = crate::events::emit(app, kind, data).await {
        tracing::warn!(run, error = %e, "cannot write the {kind} event");
    }
}

async fn interrupt(app: &App, run: &str) -> keel_core::Result<()> {
    let now = keel_core::time::format(Utc::now());
    let going = get(app, OPS_RUNS, run)
        .await?
        .is_some_and(|r| matches!(str_of(&r.data, "state"), state::RUNNING | state::CANCELLING));
    if !going {
        return Ok(());
    }
    // Its steps first: whoever sees the run `interrupted` sees its steps so too.
    for s in find(app, OPS_RUN_STEPS, &format!("run = {} && state = 'running'", lit(run))).await? {
        patch(
            app,
            OPS_RUN_STEPS,
            s.id(),
            json!({"state": state::INTERRUPTED, "endedAt": now}),
        )
        .await?;
    }
    let moved = engine::transition(
        app,
        run,
        &[state::RUNNING, state::CANCELLING],
        json!({"state": state::INTERRUPTED, "endedAt": now,
               "error": "the process running it stopped; rerun it from the failed step once the target is checked"}),
    )
    .await?;
    if moved {
        tracing::warn!(run, "a run was interrupted: the process running it stopped");
        ended(app, run, state::INTERRUPTED).await;
    }
    Ok(())
}

/// Runs `run` to its end or its next wait, beating and watching for a cancel meanwhile.
/// Boxed: a `runbook.call` step drives its child run from inside the engine.
pub(crate) fn drive<'a>(
    app: &'a App,
    run: &'a keel_data::Record,
    ctx: Option<&'a JobContext>,
    depth: u32,
) -> Pin<Box<dyn Future<Output = keel_core::Result<Outcome>> + Send + 'a>> {
    Box::pin(async move {
        let cancel = CancellationToken::new();
        let watch = async {
            let mut beats = 0u32;
            loop {
                tokio::time::sleep(BEAT).await;
                beats += 1;
                if let (Some(ctx), true) = (ctx, beats.is_multiple_of(2)) {
                    if let Err(e) = ctx.progress(0.0, "running").await {
                        tracing::warn!(run = run.id(), error = %e, "cannot extend a run's lease");
                    }
                }
                if let Ok(Some(row)) = get(app, OPS_RUNS, run.id()).await {
                    if str_of(&row.data, "state") == state::CANCELLING {
                        cancel.cancel();
                    }
                }
            }
        };
        tokio::select! {
            out = engine::execute(app, run, cancel.clone(), depth) => out,
            _ = watch => unreachable_watch(),
        }
    })
}

fn unreachable_watch() -> keel_core::Result<Outcome> {
    Err(keel_core::Error::internal("a run's watch loop ended"))
}

/// Records how `drive` left the run.
pub(crate) async fn settle(
    app: &App,
    run: &str,
    outcome: keel_core::Result<Outcome>,
) -> keel_core::Result<&'static str> {
    let now = keel_core::time::format(Utc::now());
    let (st, set) = match &outcome {
        Ok(Outcome::Ended(st)) => (*st, json!({"state": st, "endedAt": now})),
        Ok(Outcome::AwaitingApproval { .. }) => (state::AWAITING_APPROVAL, json!({"state": state::AWAITING_APPROVAL})),
        Err(e) => (
            state::FAILED,
            json!({"state": state::FAILED, "endedAt": now, "error": e.to_string()}),
        ),
    };
    let mut set = set;
    if st == state::FAILED && outcome.is_ok() {
        set["error"] = json!("a step failed");
    }
    engine::transition(app, run, &[state::RUNNING, state::CANCELLING], set).await?;
    tracing::info!(run, state = st, "a run stopped");
    if let Ok(Outcome::AwaitingApproval {
        step,
        timeout_at: Some(at),
    }) = &outcome
    {
        let wait = (*at - Utc::now()).num_milliseconds().max(0);
        super::runs::enqueue(app, run, &format!("timeout:{run}:{step}"), Some(wait)).await?;
    }
    ended(app, run, st).await;
    Ok(st)
}

#[async_trait]
impl JobHandler for RunWorker {
    /// A run is bounded by its own timeout and cancel, not the job's: `timeout_ms` is the
    /// lease (`[ops] lease_secs`) the heartbeat extends.
    fn bounded_by_timeout(&self) -> bool {
        false
    }

    async fn run(&self, job: &Job, ctx: &JobContext) -> Result<Option<Value>, JobFailure> {
        let app = &self.app;
        if let Some(runbook) = job.payload.get("runbook").and_then(Value::as_str) {
            return launch_scheduled(app, job, ctx, runbook).await;
        }
        let id = job
            .payload
            .get("run")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let Some(row) = get(app, OPS_RUNS, &id).await.map_err(|e| e.to_string())? else {
            return Ok(Some(json!({"skipped": "the run was deleted"})));
        };
        let st = str_of(&row.data, "state").to_string();
        if state::ended(&st) {
            return Ok(Some(json!({"skipped": format!("the run is {st}")})));
        }
        if st == state::RUNNING || st == state::CANCELLING {
            if str_of(&row.data, "job") == job.id {
                interrupt(app, &id).await.map_err(|e| e.to_string())?;
                return Ok(Some(json!({"interrupted": true})));
            }
            return Ok(Some(json!({"skipped": "another job runs it"})));
        }
        let first = st == state::QUEUED;
        let mut set = json!({"state": state::RUNNING, "job": job.id});
        if first {
            set["startedAt"] = json!(keel_core::time::format(Utc::now()));
        }
        if !engine::transition(app, &id, &[state::QUEUED, state::AWAITING_APPROVAL], set)
            .await
            .map_err(|e| e.to_string())?
        {
            return Ok(Some(json!({"skipped": "another job took it"})));
        }
        if first {
            ended(app, &id, state::RUNNING).await;
        } else {
            log::publish(app, &id, json!({"type": "state", "state": state::RUNNING})).await;
        }
        let row = get(app, OPS_RUNS, &id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "the run was deleted".to_string())?;
        let outcome = drive(app, &row, Some(ctx), 0).await;
        let st = settle(app, &id, outcome).await.map_err(|e| e.to_string())?;
        Ok(Some(json!({"state": st})))
    }
}

/// A schedule's tick on `_keel-ops`: launches `runbook` with the job's `params` (started by
/// `schedule`) and runs it in this job. A runbook or parameters that no longer fit fail the
/// job for good, naming why.
async fn launch_scheduled(app: &App, job: &Job, ctx: &JobContext, runbook: &str) -> Result<Option<Value>, JobFailure> {
    let params = job.payload.get("params").cloned().unwrap_or(Value::Null);
    let (record, version, params) = super::runs::check_launch(app, runbook, params)
        .await
        .map_err(|e| JobFailure::permanent(format!("cannot launch {runbook:?}: {e}")))?;
    let run = super::runs::create_run(app, &record, version, params, "schedule", "", "")
        .await
        .map_err(|e| e.to_string())?;
    let id = run.id().to_string();
    let set = json!({"state": state::RUNNING, "job": job.id, "startedAt": keel_core::time::format(Utc::now())});
    engine::transition(app, &id, &[state::QUEUED], set)
        .await
        .map_err(|e| e.to_string())?;
    ended(app, &id, state::RUNNING).await;
    let row = get(app, OPS_RUNS, &id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "the run was deleted".to_string())?;
    let outcome = drive(app, &row, Some(ctx), 0).await;
    let st = settle(app, &id, outcome).await.map_err(|e| e.to_string())?;
    Ok(Some(json!({"run": id, "state": st})))
}
