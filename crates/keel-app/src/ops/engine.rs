//! Executes one run: the runbook version it names, its parameters, and the step rows it
//! already has (a run resumed after an approval continues; ended steps are not run again).
//!
//! Scheduling: a step starts when every step it `needs` has ended; independent steps run at
//! once. A step whose needed step failed (without `continueOnError`) is `skipped`; after any
//! failure no new step starts and the run fails once the running ones end. `when` false:
//! `skipped`. A step runs once, or once per `forEach` item (at most `parallelism` at once),
//! each unit with `retries` more attempts after `retryDelaySec` (5 s by default), doubling.
//! An approval step whose decisions are not in yet suspends the run (`awaiting_approval`)
//! once the running steps end; it resumes when enough holders of `ops:approve` approved (its
//! `quorum`, 1 by default), fails on a rejection, and after its `timeoutSec` takes its
//! `onTimeout` (`reject` by default). Cancel and the runbook's `timeoutSec` stop the running
//! steps (commands are signalled, requests dropped) and the run ends `cancelled` / `failed`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use keel_core::{Error, Result};
use keel_data::system::{OPS_APPROVALS, OPS_RUNS, OPS_RUN_STEPS};
use keel_data::Record;
use keel_ops::runbook::template::{self, Context, SecretSource};
use keel_ops::runbook::{Checked, Step, StepKind};
use serde_json::{json, Map, Value};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::log::{RunLog, StepSink};
use super::state;
use super::steps::{self, Unit, UnitOutput};
use crate::rows::{find, insert, lit, patch, str_of};
use crate::App;

/// How a call of [`execute`] left the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Ended in this state (`succeeded`, `failed`, `cancelled`).
    Ended(&'static str),
    /// Suspended until an approval step's decisions are in; the step and when its timeout ends.
    AwaitingApproval {
        step: String,
        timeout_at: Option<chrono::DateTime<Utc>>,
    },
}

/// What the templates of later steps see of an ended step (`steps.<id>`).
#[derive(Debug, Clone)]
struct Ended {
    state: String,
    /// One entry per unit: `target`, `item`, `state`, `exitCode`, `stdout`, `stderr`,
    /// `outputs`.
    results: Vec<Value>,
}

impl Ended {
    fn to_value(&self) -> Value {
        let first = self.results.first().cloned().unwrap_or_else(|| json!({}));
        let pick = |k: &str| first.get(k).cloned().unwrap_or(Value::Null);
        json!({
            "state": self.state,
            "exitCode": pick("exitCode"),
            "stdout": first.get("stdout").cloned().unwrap_or(json!("")),
            "stderr": first.get("stderr").cloned().unwrap_or(json!("")),
            "outputs": first.get("outputs").cloned().unwrap_or(json!({})),
            "results": self.results,
        })
    }
}

/// The run's shared pieces for its steps.
#[derive(Clone)]
pub(crate) struct RunCtx {
    pub app: App,
    pub run: String,
    pub params: Map<String, Value>,
    pub run_value: Value,
    pub log: Arc<RunLog>,
    pub secrets: Arc<dyn SecretSource>,
    pub cancel: CancellationToken,
    pub depth: u32,
    /// Connections to targets, one per target for the whole run; each made once, and
    /// different targets' connections made at the same time.
    pub connections: Arc<std::sync::Mutex<HashMap<String, Arc<Connection>>>>,
}

/// One target's connection of a run, made on first use.
type Connection = tokio::sync::OnceCell<Arc<dyn keel_ops::Transport>>;

impl RunCtx {
    /// The run's connection to `target`, made on first use: its credential read from the
    /// vault (its values hidden from the run's output from then on).
    async fn transport(&self, target: &Record) -> std::result::Result<Arc<dyn keel_ops::Transport>, String> {
        let cell = {
            let Ok(mut conns) = self.connections.lock() else {
                return Err("the run's connections are unusable".into());
            };
            conns.entry(target.id().to_string()).or_default().clone()
        };
        cell.get_or_try_init(|| self.connect(target)).await.cloned()
    }

    async fn connect(&self, target: &Record) -> std::result::Result<Arc<dyn keel_ops::Transport>, String> {
        let credential = str_of(&target.data, "credential");
        let secret = if credential.is_empty() {
            None
        } else {
            let s = crate::vault::resolve(&self.app, credential, &self.run)
                .await
                .map_err(|e| format!("the credential of target {}: {e}", str_of(&target.data, "name")))?;
            self.log.add_secret(s.iter().map(|(_, v)| v.to_string()));
            Some(s)
        };
        super::targets::connect(&self.app, target, secret.as_ref())
            .await
            .map_err(|e| format!("target {}: {e}", str_of(&target.data, "name")))
    }
}

/// Executes `run` until it ends or waits for an approval (see the module docs). The caller
/// has moved the run to `running`.
pub async fn execute(app: &App, run: &Record, cancel: CancellationToken, depth: u32) -> Result<Outcome> {
    let run_id = run.id().to_string();
    let runbook_id = str_of(&run.data, "runbook").to_string();
    let version = run.data.get("version").and_then(Value::as_i64).unwrap_or(1);
    let checked = super::runbooks::load_version(app, &runbook_id, version).await?;
    let params = run
        .data
        .get("params")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let (secrets, values) = super::secrets::read(app, &run_id, &checked, &params).await?;
    let log = Arc::new(RunLog::open(app, &run_id, values).await?);
    let ctx = RunCtx {
        app: app.clone(),
        run: run_id.clone(),
        params,
        run_value: json!({
            "id": run_id,
            "runbook": str_of(&run.data, "runbookName"),
            "version": version,
            "startedBy": str_of(&run.data, "startedBy"),
        }),
        log: log.clone(),
        secrets: Arc::new(secrets),
        cancel: cancel.clone(),
        depth,
        connections: Default::default(),
    };
    let timeout = checked.runbook.timeout_sec.map(Duration::from_secs);
    let started = run
        .data
        .get("startedAt")
        .and_then(Value::as_str)
        .and_then(keel_core::time::parse)
        .unwrap_or_else(Utc::now);
    let outcome = match timeout {
        Some(t) => {
            let left = (started + chrono::Duration::from_std(t).unwrap_or_default() - Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO);
            let timer = {
                let cancel = cancel.clone();
                let timed_out = CancellationToken::new();
                let flag = timed_out.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        _ = tokio::time::sleep(left) => { flag.cancel(); cancel.cancel(); }
                        _ = cancel.cancelled() => {}
                    }
                });
                timed_out
            };
            let out = schedule(&ctx, &checked).await;
            if timer.is_cancelled() {
                log.append(
                    "",
                    "",
                    "keel",
                    &format!("The run exceeded its timeout of {} s.\n", t.as_secs()),
                )
                .await;
                Ok(Outcome::Ended(state::FAILED))
            } else {
                out
            }
        }
        None => schedule(&ctx, &checked).await,
    };
    let open: Vec<Arc<Connection>> = match ctx.connections.lock() {
        Ok(mut conns) => conns.drain().map(|(_, c)| c).collect(),
        Err(_) => Vec::new(),
    };
    for cell in open {
        if let Some(t) = cell.get() {
            t.close().await;
        }
    }
    log.save().await;
    outcome
}

/// The step rows of the run, by step id.
async fn step_rows(app: &App, run: &str) -> Result<BTreeMap<String, Vec<Record>>> {
    let mut out: BTreeMap<String, Vec<Record>> = BTreeMap::new();
    for r in find(app, OPS_RUN_STEPS, &format!("run = {}", lit(run))).await? {
        out.entry(str_of(&r.data, "step").to_string()).or_default().push(r);
    }
    Ok(out)
}

fn result_of(r: &Record) -> Value {
    json!({
        "target": str_of(&r.data, "target"),
        "item": r.data.get("item").cloned().unwrap_or(Value::Null),
        "state": str_of(&r.data, "state"),
        "exitCode": r.data.get("exitCode").cloned().unwrap_or(Value::Null),
        "stdout": str_of(&r.data, "stdout"),
        "stderr": str_of(&r.data, "stderr"),
        "outputs": r.data.get("outputs").cloned().unwrap_or(json!({})),
    })
}

/// The ended steps the run already has (from a previous part of it).
async fn ended_steps(app: &App, run: &str) -> Result<(HashMap<String, Ended>, BTreeMap<String, Vec<Record>>)> {
    let rows = step_rows(app, run).await?;
    let mut done = HashMap::new();
    for (step, rs) in &rows {
        let states: Vec<&str> = rs.iter().map(|r| str_of(&r.data, "state")).collect();
        if states.iter().all(|s| matches!(*s, "succeeded" | "failed" | "skipped")) {
            let st = if states.contains(&state::FAILED) {
                state::FAILED
            } else if states.iter().all(|s| *s == state::SKIPPED) {
                state::SKIPPED
            } else {
                state::SUCCEEDED
            };
            done.insert(
                step.clone(),
                Ended {
                    state: st.to_string(),
                    results: rs.iter().map(result_of).collect(),
                },
            );
        }
    }
    Ok((done, rows))
}

fn context(ctx: &RunCtx, done: &HashMap<String, Ended>) -> Context {
    Context {
        params: ctx.params.clone(),
        steps: done.iter().map(|(k, v)| (k.clone(), v.to_value())).collect(),
        target: None,
        item: None,
        run: ctx.run_value.clone(),
        locals: Map::new(),
    }
}

async fn schedule(ctx: &RunCtx, checked: &Checked) -> Result<Outcome> {
    let app = &ctx.app;
    let (mut done, rows) = ended_steps(app, &ctx.run).await?;
    let steps = &checked.runbook.steps;
    let mut running: JoinSet<(usize, Ended)> = JoinSet::new();
    let mut started: Vec<bool> = steps.iter().map(|s| done.contains_key(&s.id)).collect();
    let mut failed = done
        .iter()
        .any(|(id, e)| e.state == state::FAILED && steps.iter().any(|s| &s.id == id && !s.continue_on_error));
    let mut waiting: Option<(String, Option<chrono::DateTime<Utc>>)> = None;
    loop {
        if !failed && waiting.is_none() && !ctx.cancel.is_cancelled() {
            for &i in &checked.order {
                if started[i] {
                    continue;
                }
                let step = &steps[i];
                let needs: Vec<&Ended> = step.needs.iter().filter_map(|n| done.get(n)).collect();
                if needs.len() < step.needs.len() {
                    continue;
                }
                started[i] = true;
                let blocked = step.needs.iter().any(|n| {
                    let needed = steps.iter().find(|s| &s.id == n);
                    done.get(n).is_some_and(|e| {
                        e.state == state::SKIPPED
                            || e.state == state::FAILED && !needed.is_some_and(|s| s.continue_on_error)
                    })
                });
                if blocked {
                    let ended = skip(ctx, step, "a step it needs did not succeed").await;
                    done.insert(step.id.clone(), ended);
                    continue;
                }
                if checked.kinds[i] == StepKind::Approval {
                    match approval(ctx, step, rows.get(&step.id), &context(ctx, &done)).await? {
                        Approval::Decided(ended) => {
                            if ended.state == state::FAILED && !step.continue_on_error {
                                failed = true;
                            }
                            done.insert(step.id.clone(), ended);
                        }
                        Approval::Waiting(timeout_at) => {
                            waiting = Some((step.id.clone(), timeout_at));
                        }
                    }
                    continue;
                }
                let c = ctx.clone();
                let s = step.clone();
                let kind = checked.kinds[i];
                let tctx = context(ctx, &done);
                running.spawn(async move { (i, run_step(&c, &s, kind, tctx).await) });
            }
        }
        // Decided approvals may have made more steps ready.
        let progressed = !failed
            && waiting.is_none()
            && !ctx.cancel.is_cancelled()
            && checked
                .order
                .iter()
                .any(|&i| !started[i] && steps[i].needs.iter().all(|n| done.contains_key(n)));
        if progressed {
            continue;
        }
        let Some(joined) = running.join_next().await else { break };
        match joined {
            Ok((i, ended)) => {
                if ended.state == state::FAILED && !steps[i].continue_on_error {
                    failed = true;
                }
                done.insert(steps[i].id.clone(), ended);
            }
            Err(e) => {
                tracing::error!(run = %ctx.run, error = %e, "a step's task ended abnormally");
                failed = true;
            }
        }
    }
    if ctx.cancel.is_cancelled() {
        return Ok(Outcome::Ended(state::CANCELLED));
    }
    if failed {
        for (i, step) in steps.iter().enumerate() {
            if !started[i] && !done.contains_key(&step.id) {
                done.insert(step.id.clone(), skip(ctx, step, "the run failed before it").await);
            }
        }
        return Ok(Outcome::Ended(state::FAILED));
    }
    if let Some((step, timeout_at)) = waiting {
        return Ok(Outcome::AwaitingApproval { step, timeout_at });
    }
    Ok(Outcome::Ended(state::SUCCEEDED))
}

async fn skip(ctx: &RunCtx, step: &Step, why: &str) -> Ended {
    let now = keel_core::time::format(Utc::now());
    let row = json!({"run": ctx.run, "step": step.id, "state": state::SKIPPED, "startedAt": now, "endedAt": now, "error": why});
    if let Err(e) = insert(&ctx.app, OPS_RUN_STEPS, row).await {
        tracing::warn!(run = %ctx.run, step = %step.id, error = %e, "cannot record a skipped step");
    }
    Ended {
        state: state::SKIPPED.into(),
        results: Vec::new(),
    }
}

enum Approval {
    Decided(Ended),
    Waiting(Option<chrono::DateTime<Utc>>),
}

/// An approval step's decisions so far: decided (approved by the quorum, rejected, or timed
/// out), or still waiting (its step row `awaiting_approval`, created on the first wait).
async fn approval(ctx: &RunCtx, step: &Step, rows: Option<&Vec<Record>>, tctx: &Context) -> Result<Approval> {
    let app = &ctx.app;
    let quorum = step.with.get("quorum").and_then(Value::as_u64).unwrap_or(1) as usize;
    let votes = find(
        app,
        OPS_APPROVALS,
        &format!("run = {} && step = {}", lit(&ctx.run), lit(&step.id)),
    )
    .await?;
    let approvals = votes
        .iter()
        .filter(|v| str_of(&v.data, "decision") == "approve")
        .count();
    let rejection = votes.iter().find(|v| str_of(&v.data, "decision") == "reject");
    let row = match rows.and_then(|r| r.first()) {
        Some(r) => r.clone(),
        None => {
            let now = keel_core::time::format(Utc::now());
            let source = step.with.get("message").and_then(Value::as_str).unwrap_or_default();
            let message = template::render(source, tctx, ctx.secrets.clone()).unwrap_or_else(|e| format!("({e})"));
            ctx.log
                .append(
                    &step.id,
                    "",
                    "keel",
                    &format!("Waiting for {quorum} approval(s). {message}\n"),
                )
                .await;
            insert(
                app,
                OPS_RUN_STEPS,
                json!({"run": ctx.run, "step": step.id, "state": state::AWAITING_APPROVAL, "startedAt": now}),
            )
            .await?
        }
    };
    let since = row
        .data
        .get("startedAt")
        .and_then(Value::as_str)
        .and_then(keel_core::time::parse)
        .unwrap_or_else(Utc::now);
    let timeout_at = step
        .timeout_sec
        .map(|s| since + chrono::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 2)));
    let decision = if let Some(r) = rejection {
        Some((state::FAILED, format!("Rejected by {}.", str_of(&r.data, "user"))))
    } else if approvals >= quorum {
        Some((state::SUCCEEDED, format!("Approved ({approvals} of {quorum}).")))
    } else if timeout_at.is_some_and(|t| t <= Utc::now()) {
        Some(
            if step.with.get("onTimeout").and_then(Value::as_str) == Some("approve") {
                (
                    state::SUCCEEDED,
                    "No decision in time: approved, as the step says.".to_string(),
                )
            } else {
                (state::FAILED, "No decision in time: rejected.".to_string())
            },
        )
    } else {
        None
    };
    let Some((st, why)) = decision else {
        return Ok(Approval::Waiting(timeout_at));
    };
    let now = keel_core::time::format(Utc::now());
    ctx.log.append(&step.id, "", "keel", &format!("{why}\n")).await;
    let error = if st == state::FAILED {
        why.clone()
    } else {
        String::new()
    };
    let set = json!({"state": st, "endedAt": now, "error": error});
    if let Err(e) = patch(app, OPS_RUN_STEPS, row.id(), set).await {
        tracing::warn!(run = %ctx.run, error = %e, "cannot record an approval step's end");
    }
    Ok(Approval::Decided(Ended {
        state: st.to_string(),
        results: vec![json!({"state": st, "outputs": {"approvals": approvals}})],
    }))
}

/// The units of a step: one, or one per `forEach` item.
fn units(
    step: &Step,
    tctx: &Context,
    secrets: Arc<dyn SecretSource>,
) -> std::result::Result<Vec<Option<Value>>, String> {
    let Some(each) = &step.for_each else {
        return Ok(vec![None]);
    };
    let list = match each {
        Value::String(s) => {
            let text = template::render(s, tctx, secrets)?;
            serde_json::from_str::<Value>(&text).map_err(|_| format!("forEach gave {text:?}, not a JSON list"))?
        }
        other => other.clone(),
    };
    match list {
        Value::Array(items) => Ok(items.into_iter().map(Some).collect()),
        other => Err(format!("forEach is not a list: {other}")),
    }
}

async fn run_step(ctx: &RunCtx, step: &Step, kind: StepKind, tctx: Context) -> Ended {
    let fail = |why: String| async move {
        let now = keel_core::time::format(Utc::now());
        ctx.log.append(&step.id, "", "keel", &format!("{why}\n")).await;
        let row = json!({"run": ctx.run, "step": step.id, "state": state::FAILED, "startedAt": now, "endedAt": now, "error": why});
        if let Err(e) = insert(&ctx.app, OPS_RUN_STEPS, row).await {
            tracing::warn!(run = %ctx.run, error = %e, "cannot record a failed step");
        }
        Ended {
            state: state::FAILED.into(),
            results: vec![json!({"state": state::FAILED, "error": why})],
        }
    };
    if let Some(when) = &step.when {
        match template::when(when, &tctx, ctx.secrets.clone()) {
            Ok(true) => {}
            Ok(false) => return skip(ctx, step, "its `when` was false").await,
            Err(e) => return fail(format!("`when` failed: {e}")).await,
        }
    }
    let targets: Vec<Option<Arc<Record>>> = if kind.on_targets() {
        let name = match step
            .target
            .as_deref()
            .map(|t| template::render(t, &tctx, ctx.secrets.clone()))
        {
            Some(Ok(n)) => Some(n),
            Some(Err(e)) => return fail(format!("target: {e}")).await,
            None => None,
        };
        match super::targets::select(&ctx.app, name.as_deref(), step.targets.as_ref()).await {
            Ok(list) if list.is_empty() => return fail("no target matches the step's target or targets".into()).await,
            Ok(list) => list.into_iter().map(|r| Some(Arc::new(r))).collect(),
            Err(e) => return fail(format!("cannot read the targets: {e}")).await,
        }
    } else {
        vec![None]
    };
    let items = match units(step, &tctx, ctx.secrets.clone()) {
        Ok(items) => items,
        Err(e) => return fail(e).await,
    };
    let parallel = step.parallelism.unwrap_or(10).max(1) as usize;
    let gate = Arc::new(tokio::sync::Semaphore::new(parallel));
    let mut set = JoinSet::new();
    let has_items = step.for_each.is_some();
    let mut n = 0;
    for target in &targets {
        for (i, item) in items.iter().enumerate() {
            let (c, s, mut t, gate, target) = (ctx.clone(), step.clone(), tctx.clone(), gate.clone(), target.clone());
            t.item = item.clone();
            let index = has_items.then_some(i);
            set.spawn(async move {
                let _permit = gate.acquire_owned().await;
                (n, run_unit(&c, &s, kind, t, index, target).await)
            });
            n += 1;
        }
    }
    let mut results: Vec<(usize, Value)> = Vec::new();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(r) => results.push(r),
            Err(e) => results.push((usize::MAX, json!({"state": state::FAILED, "error": e.to_string()}))),
        }
    }
    results.sort_by_key(|(n, _)| *n);
    let results: Vec<Value> = results.into_iter().map(|(_, v)| v).collect();
    let st = if results.iter().any(|r| r["state"] == state::FAILED) {
        state::FAILED
    } else {
        state::SUCCEEDED
    };
    Ended {
        state: st.into(),
        results,
    }
}

/// One unit of a step (one item, later one target), with its retries; its step row.
async fn run_unit(
    ctx: &RunCtx,
    step: &Step,
    kind: StepKind,
    mut tctx: Context,
    item: Option<usize>,
    target: Option<Arc<Record>>,
) -> Value {
    let app = &ctx.app;
    let now = || keel_core::time::format(Utc::now());
    let target_name = target
        .as_ref()
        .map(|t| str_of(&t.data, "name").to_string())
        .unwrap_or_default();
    tctx.target = target.as_ref().map(|t| super::targets::template_value(t));
    let row = insert(
        app,
        OPS_RUN_STEPS,
        json!({"run": ctx.run, "step": step.id, "item": item, "target": target_name, "state": state::RUNNING, "startedAt": now()}),
    )
    .await;
    let row_id = match row {
        Ok(r) => r.id().to_string(),
        Err(e) => return json!({"state": state::FAILED, "error": format!("cannot record the step: {e}")}),
    };
    let attempts = step.retries + 1;
    let mut delay = Duration::from_secs(step.retry_delay_sec.unwrap_or(5));
    let mut last = UnitOutput::failed("not run");
    let transport = match &target {
        Some(t) => match ctx.transport(t).await {
            Ok(t) => Some(t),
            Err(e) => {
                let e = ctx.log.redactor().redact(&e).into_owned();
                ctx.log.append(&step.id, &target_name, "keel", &format!("{e}\n")).await;
                let set = json!({"state": state::FAILED, "endedAt": now(), "error": e});
                if let Err(err) = patch(app, OPS_RUN_STEPS, &row_id, set).await {
                    tracing::warn!(run = %ctx.run, error = %err, "cannot record a step's end");
                }
                return json!({"item": item, "target": target_name, "state": state::FAILED, "error": e});
            }
        },
        None => None,
    };
    let sink = Arc::new(StepSink::new(ctx.log.clone(), &step.id, &target_name));
    for attempt in 1..=attempts {
        last = match template::render_value(&Value::Object(step.with.clone()), &tctx, ctx.secrets.clone()) {
            Ok(Value::Object(with)) => {
                let unit = Unit {
                    ctx,
                    step,
                    kind,
                    with,
                    sink: sink.clone(),
                    timeout: step.timeout_sec.map(Duration::from_secs),
                    item,
                    transport: transport.clone(),
                };
                steps::run(unit).await
            }
            Ok(_) => UnitOutput::failed("the step's keys did not render to an object"),
            Err(e) => UnitOutput::failed(&e),
        };
        if last.ok || ctx.cancel.is_cancelled() || attempt == attempts {
            break;
        }
        ctx.log
            .append(
                &step.id,
                "",
                "keel",
                &format!(
                    "Attempt {attempt} of {attempts} failed: {}; retrying in {} s.\n",
                    last.error.as_deref().unwrap_or("no reason"),
                    delay.as_secs()
                ),
            )
            .await;
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = ctx.cancel.cancelled() => break,
        }
        delay = delay.saturating_mul(2);
    }
    let (stdout, stderr) = sink.kept();
    tctx.locals = last.result.clone();
    tctx.locals.insert("stdout".into(), json!(stdout));
    tctx.locals.insert("stderr".into(), json!(stderr));
    tctx.locals.insert("exitCode".into(), json!(last.exit_code));
    let mut outputs = Map::new();
    let mut error = last.error.clone();
    if last.ok {
        for (name, source) in &step.outputs {
            match template::render(source, &tctx, ctx.secrets.clone()) {
                Ok(v) => {
                    outputs.insert(name.clone(), json!(ctx.log.redactor().redact(&v).into_owned()));
                }
                Err(e) => {
                    error = Some(format!("output {name}: {e}"));
                    last.ok = false;
                }
            }
        }
    }
    if let Some(e) = &error {
        ctx.log.append(&step.id, &target_name, "keel", &format!("{e}\n")).await;
    }
    let st = if ctx.cancel.is_cancelled() && !last.ok {
        state::CANCELLED
    } else if last.ok {
        state::SUCCEEDED
    } else {
        state::FAILED
    };
    let error = error
        .map(|e| ctx.log.redactor().redact(&e).into_owned())
        .unwrap_or_default();
    if st != state::SUCCEEDED {
        tracing::info!(run = %ctx.run, step = %step.id, target = %target_name, state = st, error = %error, "a step of a run did not succeed");
    }
    let set = json!({
        "state": st,
        "exitCode": last.exit_code,
        "attempts": attempts.min(step.retries + 1),
        "endedAt": now(),
        "stdout": stdout,
        "stderr": stderr,
        "outputs": outputs,
        "error": error,
    });
    if let Err(e) = patch(app, OPS_RUN_STEPS, &row_id, set).await {
        tracing::warn!(run = %ctx.run, error = %e, "cannot record a step's end");
    }
    let st = if st == state::CANCELLED { state::FAILED } else { st };
    json!({"item": item, "target": target_name, "state": st, "exitCode": last.exit_code, "stdout": stdout, "stderr": stderr, "outputs": outputs, "error": error})
}

/// Moves `run` to `to` when it is in one of `from`, atomically (the store checks the state
/// inside the write); `false` when it was not.
pub(crate) async fn transition(app: &App, run: &str, from: &[&str], set: Value) -> Result<bool> {
    let c = app.store.collection(OPS_RUNS)?;
    let rule = from
        .iter()
        .map(|s| format!("state = {}", lit(s)))
        .collect::<Vec<_>>()
        .join(" || ");
    let Value::Object(data) = set else {
        return Err(Error::internal("a run change must be an object"));
    };
    match app
        .store
        .update_record(&c, run, data, &Default::default(), keel_data::Access::Rule(&rule))
        .await
    {
        Ok(_) => Ok(true),
        Err(Error::NotFound(_)) => Ok(false),
        Err(e) => Err(e),
    }
}
