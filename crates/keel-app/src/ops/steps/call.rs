//! `runbook.call`: runs another runbook (its current version) as a child run, in this run's
//! task, and waits for its end: `runbook` (name or id) and `params` (checked against the
//! child's schema). The child is a run of its own (`parent` names this one) with its own
//! steps and log. Calls nest at most [`MAX_DEPTH`] deep. A child that waits for an approval
//! fails the call: approvals belong to the top-level run.

use serde_json::{json, Map, Value};

use super::{text, Unit, UnitOutput};
use crate::ops::engine::Outcome;
use crate::ops::{runbooks, runs, state, worker};

/// How deep runbooks may call runbooks.
pub const MAX_DEPTH: u32 = 5;

pub(super) async fn run(unit: &Unit<'_>) -> UnitOutput {
    let ctx = unit.ctx;
    if ctx.depth >= MAX_DEPTH {
        return UnitOutput::failed(&format!("runbooks call runbooks at most {MAX_DEPTH} deep"));
    }
    let app = &ctx.app;
    let name = text(&unit.with, "runbook");
    let runbook = match runbooks::load(app, name).await {
        Ok(r) => r,
        Err(e) => return UnitOutput::failed(&e.to_string()),
    };
    let version = runbook.data.get("version").and_then(Value::as_i64).unwrap_or(1);
    let checked = match runbooks::load_version(app, runbook.id(), version).await {
        Ok(c) => c,
        Err(e) => return UnitOutput::failed(&e.to_string()),
    };
    let given = unit
        .with
        .get("params")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let params: Map<String, Value> = match keel_ops::runbook::params::resolve(&checked.runbook.parameters, &given) {
        Ok(p) => p,
        Err(e) => return UnitOutput::failed(&format!("the called runbook's parameters: {e}")),
    };
    let started_by = ctx
        .run_value
        .get("startedBy")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let child = match runs::create_run(app, &runbook, version, params, started_by, &ctx.run, "").await {
        Ok(c) => c,
        Err(e) => return UnitOutput::failed(&e.to_string()),
    };
    let started = json!({"state": state::RUNNING, "startedAt": keel_core::time::format(chrono::Utc::now())});
    if let Err(e) = crate::ops::engine::transition(app, child.id(), &[state::QUEUED], started).await {
        return UnitOutput::failed(&e.to_string());
    }
    let child_row = match crate::rows::get(app, keel_data::system::OPS_RUNS, child.id()).await {
        Ok(Some(r)) => r,
        _ => return UnitOutput::failed("the child run vanished"),
    };
    ctx.log
        .append(
            &unit.step.id,
            "",
            "keel",
            &format!("Running {} as run {}.\n", runbook.id(), child.id()),
        )
        .await;
    let outcome = worker::drive(app, &child_row, None, ctx.depth + 1).await;
    let outcome = match outcome {
        Ok(Outcome::AwaitingApproval { .. }) => Ok(Outcome::Ended(state::FAILED)),
        other => other,
    };
    let st = match worker::settle(app, child.id(), outcome).await {
        Ok(st) => st,
        Err(e) => return UnitOutput::failed(&e.to_string()),
    };
    let result = json!({"run": child.id(), "state": st})
        .as_object()
        .cloned()
        .unwrap_or_default();
    if st == state::SUCCEEDED {
        UnitOutput::succeeded(result)
    } else {
        UnitOutput {
            ok: false,
            exit_code: None,
            result,
            error: Some(format!("the called run {} ended {st}", child.id())),
        }
    }
}
