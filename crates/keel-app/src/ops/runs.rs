//! Runs for callers: launch (`ops:run`), read (`ops:read`: list with a filter, view with every
//! step, the log by cursor), cancel and rerun (`ops:run`), approve or reject (`ops:approve`,
//! never one's own run). Each is audited.

use chrono::Utc;
use keel_core::{Error, Result};
use keel_data::system::{OPS_APPROVALS, OPS_RUNS, OPS_RUN_LOGS, OPS_RUN_STEPS};
use keel_data::{Access, ListParams, Record, RequestInfo};
use keel_jobs::NewJob;
use keel_ops::runbook::params;
use serde_json::{json, Map, Value};

use super::{engine, may, runbooks, state, KIND};
use crate::audit;
use crate::authz::Permission;
use crate::caller::Caller;
use crate::rows::{find, get, insert, lit, not_found, str_of};
use crate::{App, Origin};

/// A run as the API shows it.
pub fn run_json(r: &Record) -> Value {
    let d = &r.data;
    json!({
        "id": r.id(),
        "runbook": str_of(d, "runbook"),
        "runbookName": str_of(d, "runbookName"),
        "version": d.get("version").cloned().unwrap_or(json!(0)),
        "params": d.get("params").cloned().unwrap_or(json!({})),
        "state": str_of(d, "state"),
        "startedBy": str_of(d, "startedBy"),
        "startedAt": str_of(d, "startedAt"),
        "endedAt": str_of(d, "endedAt"),
        "error": str_of(d, "error"),
        "parent": str_of(d, "parent"),
        "rerunOf": str_of(d, "rerunOf"),
        "created": str_of(d, "created"),
    })
}

fn step_json(r: &Record) -> Value {
    let d = &r.data;
    json!({
        "id": str_of(d, "step"),
        "target": str_of(d, "target"),
        "item": d.get("item").cloned().unwrap_or(Value::Null),
        "state": str_of(d, "state"),
        "exitCode": d.get("exitCode").cloned().unwrap_or(Value::Null),
        "attempts": d.get("attempts").cloned().unwrap_or(json!(0)),
        "startedAt": str_of(d, "startedAt"),
        "endedAt": str_of(d, "endedAt"),
        "stdout": str_of(d, "stdout"),
        "stderr": str_of(d, "stderr"),
        "outputs": d.get("outputs").cloned().unwrap_or(json!({})),
        "error": str_of(d, "error"),
    })
}

/// Writes a `queued` run of version `version` of `runbook` with `params` (already resolved).
pub(crate) async fn create_run(
    app: &App,
    runbook: &Record,
    version: i64,
    params: Map<String, Value>,
    started_by: &str,
    parent: &str,
    rerun_of: &str,
) -> Result<Record> {
    insert(
        app,
        OPS_RUNS,
        json!({
            "runbook": runbook.id(),
            "runbookName": str_of(&runbook.data, "name"),
            "version": version,
            "params": params,
            "state": state::QUEUED,
            "startedBy": started_by,
            "parent": parent,
            "rerunOf": rerun_of,
        }),
    )
    .await
}

/// Enqueues the job that runs (or resumes) `run`; `key` makes it once per reason.
pub(crate) async fn enqueue(app: &App, run: &str, key: &str, delay_ms: Option<i64>) -> Result<()> {
    let mut job = NewJob::new("run", json!({"run": run}));
    job.unique_key = Some(key.to_string());
    // How long the job may go without a heartbeat (the worker beats every few seconds)
    // before another process takes it and finds the run interrupted.
    job.timeout_ms = Some(app.config.ops.lease_secs.clamp(4, 3600) * 1000);
    job.max_attempts = Some(5);
    job.delay_ms = delay_ms;
    app.jobs
        .enqueue(&crate::outbox::queue_of(KIND), vec![job])
        .await
        .map(|_| ())
}

/// The runbook `id_or_name` at its current version and `given` parameters resolved against
/// it (a 400 names each bad one), before a launch.
pub(crate) async fn check_launch(
    app: &App,
    id_or_name: &str,
    given: Value,
) -> Result<(Record, i64, Map<String, Value>)> {
    let runbook = runbooks::load(app, id_or_name).await?;
    let version = runbook.data.get("version").and_then(Value::as_i64).unwrap_or(1);
    let checked = runbooks::load_version(app, runbook.id(), version).await?;
    let given = match given {
        Value::Null => Map::new(),
        Value::Object(m) => m,
        _ => {
            return Err(Error::field(
                "params",
                "validation_invalid_params",
                "params is an object.",
            ))
        }
    };
    let resolved = params::resolve(&checked.runbook.parameters, &given)?;
    Ok((runbook, version, resolved))
}

/// Launches the runbook `id_or_name` with `given` parameters (a 400 names each bad one).
pub async fn launch(app: &App, caller: &Caller, origin: &Origin, id_or_name: &str, given: Value) -> Result<Value> {
    may(caller, Permission::OpsRun)?;
    let runbook = runbooks::load(app, id_or_name).await?;
    let version = runbook.data.get("version").and_then(Value::as_i64).unwrap_or(1);
    let checked = runbooks::load_version(app, runbook.id(), version).await?;
    let given = match given {
        Value::Null => Map::new(),
        Value::Object(m) => m,
        _ => {
            return Err(Error::field(
                "params",
                "validation_invalid_params",
                "params is an object.",
            ))
        }
    };
    let resolved = params::resolve(&checked.runbook.parameters, &given)?;
    if let Some(limit) = checked.runbook.concurrency {
        let active = find(
            app,
            OPS_RUNS,
            &format!(
                "runbook = {} && state != 'succeeded' && state != 'failed' && state != 'cancelled' && state != 'interrupted'",
                lit(runbook.id())
            ),
        )
        .await?;
        if active.len() >= limit as usize {
            return Err(Error::Conflict(format!(
                "The runbook runs at most {limit} at once and {} are running or waiting; try again when one ends.",
                active.len()
            )));
        }
    }
    let row = create_run(app, &runbook, version, resolved, &caller.actor(), "", "").await?;
    enqueue(app, row.id(), &format!("run:{}", row.id()), None).await?;
    app.identity
        .audit(
            audit::entry(caller, origin, "ops.run.launch")
                .detail("run", row.id().to_string())
                .detail("runbook", runbook.id().to_string())
                .detail("version", version),
        )
        .await;
    Ok(run_json(&row))
}

async fn load(app: &App, id: &str) -> Result<Record> {
    get(app, OPS_RUNS, id).await?.ok_or_else(|| not_found("run", id))
}

/// A page of runs, newest first; `filter` in the rule language over the run's fields
/// (`runbookName = 'deploy' && state = 'failed'`).
pub async fn list(app: &App, caller: &Caller, filter: Option<String>, page: u64, per_page: u64) -> Result<Value> {
    may(caller, Permission::OpsRead)?;
    let c = app.store.collection(OPS_RUNS)?;
    let params = ListParams {
        page: page.max(1),
        per_page: per_page.clamp(1, 500),
        sort: Some("-created".into()),
        filter: filter.filter(|f| !f.trim().is_empty()),
        skip_total: false,
    };
    let out = app
        .store
        .list_records(&c, &params, &RequestInfo::default(), Access::Superuser)
        .await?;
    let items: Vec<Value> = out.items.iter().map(run_json).collect();
    Ok(json!({"page": out.page, "perPage": out.per_page, "totalItems": out.total_items, "items": items}))
}

/// A run with every step on every target, in the order they started.
pub async fn view(app: &App, caller: &Caller, id: &str) -> Result<Value> {
    may(caller, Permission::OpsRead)?;
    let run = load(app, id).await?;
    let steps = find(app, OPS_RUN_STEPS, &format!("run = {}", lit(id))).await?;
    let mut out = run_json(&run);
    out["steps"] = Value::Array(steps.iter().map(step_json).collect());
    let votes = find(app, OPS_APPROVALS, &format!("run = {}", lit(id))).await?;
    out["approvals"] = Value::Array(
        votes
            .iter()
            .map(|v| {
                json!({"step": str_of(&v.data, "step"), "user": str_of(&v.data, "user"),
                       "decision": str_of(&v.data, "decision"), "comment": str_of(&v.data, "comment"),
                       "at": str_of(&v.data, "created")})
            })
            .collect(),
    );
    Ok(out)
}

/// The run's log after `after` (a `seq`), at most `limit` pieces; `next` is the cursor to ask
/// for more (the same when nothing new came).
pub async fn log(app: &App, caller: &Caller, id: &str, after: i64, limit: u64) -> Result<Value> {
    may(caller, Permission::OpsRead)?;
    let run = load(app, id).await?;
    let c = app.store.collection(OPS_RUN_LOGS)?;
    let params = ListParams {
        page: 1,
        per_page: limit.clamp(1, 1000),
        sort: Some("seq".into()),
        filter: Some(format!("run = {} && seq > {after}", lit(id))),
        skip_total: true,
    };
    let rows = app
        .store
        .list_records(&c, &params, &RequestInfo::default(), Access::Superuser)
        .await?
        .items;
    let next = rows
        .last()
        .and_then(|r| r.data.get("seq"))
        .and_then(Value::as_i64)
        .unwrap_or(after);
    let items: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({"seq": r.data.get("seq"), "step": str_of(&r.data, "step"), "target": str_of(&r.data, "target"),
                   "stream": str_of(&r.data, "stream"), "text": str_of(&r.data, "text"), "at": str_of(&r.data, "created")})
        })
        .collect();
    Ok(json!({"items": items, "next": next, "state": str_of(&run.data, "state")}))
}

/// Stops a run: one that waits (queued, or for an approval) ends `cancelled` at once; one
/// that runs is signalled (its commands stopped) and ends `cancelled` when its steps have.
pub async fn cancel(app: &App, caller: &Caller, origin: &Origin, id: &str) -> Result<Value> {
    may(caller, Permission::OpsRun)?;
    let run = load(app, id).await?;
    let now = keel_core::time::format(Utc::now());
    let waited = engine::transition(
        app,
        id,
        &[state::QUEUED, state::AWAITING_APPROVAL],
        json!({"state": state::CANCELLED, "endedAt": now, "error": format!("cancelled by {}", caller.actor())}),
    )
    .await?;
    if waited {
        super::worker::ended(app, id, state::CANCELLED).await;
    } else if !engine::transition(app, id, &[state::RUNNING], json!({"state": state::CANCELLING})).await? {
        return Err(Error::Conflict(format!(
            "The run is {}: only a queued, waiting or running run can be cancelled.",
            str_of(&run.data, "state")
        )));
    }
    app.identity
        .audit(audit::entry(caller, origin, "ops.run.cancel").detail("run", id.to_string()))
        .await;
    Ok(run_json(&load(app, id).await?))
}

/// Approves (or rejects) the approval step the run waits at, as `caller`.
pub async fn decide(
    app: &App,
    caller: &Caller,
    origin: &Origin,
    id: &str,
    approve: bool,
    comment: &str,
) -> Result<Value> {
    may(caller, Permission::OpsApprove)?;
    let run = load(app, id).await?;
    if str_of(&run.data, "state") != state::AWAITING_APPROVAL {
        return Err(Error::Conflict(format!(
            "The run is {}, not waiting for an approval.",
            str_of(&run.data, "state")
        )));
    }
    let actor = caller.actor();
    if actor == str_of(&run.data, "startedBy") {
        return Err(Error::Forbidden(
            "You launched this run: someone else must approve it.".into(),
        ));
    }
    let waiting = find(
        app,
        OPS_RUN_STEPS,
        &format!("run = {} && state = 'awaiting_approval'", lit(id)),
    )
    .await?;
    let Some(step) = waiting.first().map(|r| str_of(&r.data, "step").to_string()) else {
        return Err(Error::Conflict("The run has no approval step waiting.".into()));
    };
    let decision = if approve { "approve" } else { "reject" };
    insert(
        app,
        OPS_APPROVALS,
        json!({"run": id, "step": step, "user": actor, "decision": decision, "comment": comment}),
    )
    .await
    .map_err(|e| match e {
        Error::BadRequest { .. } => Error::Conflict("You already decided on this step.".into()),
        other => other,
    })?;
    let vote = keel_core::id::new_id();
    enqueue(app, id, &format!("vote:{id}:{vote}"), None).await?;
    app.identity
        .audit(
            audit::entry(
                caller,
                origin,
                if approve { "ops.run.approve" } else { "ops.run.reject" },
            )
            .detail("run", id.to_string())
            .detail("step", step.clone()),
        )
        .await;
    view(app, caller, id).await.or_else(|_| Ok(run_json(&run)))
}

/// A new run of an ended (failed, cancelled, interrupted) run's runbook version and
/// parameters that starts from where it failed: the steps that succeeded are kept, with
/// their outputs, and not run again.
pub async fn rerun(app: &App, caller: &Caller, origin: &Origin, id: &str) -> Result<Value> {
    may(caller, Permission::OpsRun)?;
    let old = load(app, id).await?;
    let st = str_of(&old.data, "state");
    if !matches!(st, "failed" | "cancelled" | "interrupted") {
        return Err(Error::Conflict(format!(
            "The run is {st}: only a failed, cancelled or interrupted run is run again."
        )));
    }
    let runbook = runbooks::load(app, str_of(&old.data, "runbook")).await?;
    let version = old.data.get("version").and_then(Value::as_i64).unwrap_or(1);
    let params = old
        .data
        .get("params")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let row = create_run(app, &runbook, version, params, &caller.actor(), "", id).await?;
    let steps = find(app, OPS_RUN_STEPS, &format!("run = {} && state = 'succeeded'", lit(id))).await?;
    for s in steps {
        let mut data = s.data.clone();
        for k in ["id", "created", "updated", "collectionId", "collectionName"] {
            data.remove(k);
        }
        data.insert("run".into(), json!(row.id()));
        insert(app, OPS_RUN_STEPS, Value::Object(data)).await?;
    }
    enqueue(app, row.id(), &format!("run:{}", row.id()), None).await?;
    app.identity
        .audit(
            audit::entry(caller, origin, "ops.run.rerun")
                .detail("run", row.id().to_string())
                .detail("rerunOf", id.to_string()),
        )
        .await;
    Ok(run_json(&row))
}
