//! What each step type does, one unit at a time (one `forEach` item; one target when steps
//! fan out to targets). The engine renders the step's keys first; a unit here gets them as
//! values. Steps act for the run, whose runbook a holder of `ops:manage` wrote and a holder
//! of `ops:run` launched: `job.enqueue` may fill any queue but Keel's own (`_keel-…`),
//! `notify.send` sends as Keel's rules do, `http.request` goes through the outbound guard.

mod call;
mod copy;
mod exec;
mod http;

use std::sync::Arc;
use std::time::Duration;

use keel_jobs::NewJob;
use keel_ops::runbook::{Step, StepKind};
use keel_ops::OutputSink;
use serde_json::{json, Map, Value};

use super::engine::RunCtx;
use super::log::StepSink;

/// One unit to run.
pub(crate) struct Unit<'a> {
    pub ctx: &'a RunCtx,
    pub step: &'a Step,
    pub kind: StepKind,
    /// The step's own keys, rendered.
    pub with: Map<String, Value>,
    pub sink: Arc<StepSink>,
    pub timeout: Option<Duration>,
    /// Its `forEach` item's index, if the step has items.
    pub item: Option<usize>,
    /// The connection to its target, for steps that run on targets.
    pub transport: Option<Arc<dyn keel_ops::Transport>>,
}

/// How a unit ended.
#[derive(Debug, Clone, Default)]
pub(crate) struct UnitOutput {
    pub ok: bool,
    pub exit_code: Option<i64>,
    /// What the step's `outputs` templates see besides `stdout`, `stderr` and `exitCode`
    /// (`status`, `body`, `json` of a request; `jobId`; `run` of a called runbook).
    pub result: Map<String, Value>,
    pub error: Option<String>,
}

impl UnitOutput {
    pub fn failed(why: &str) -> UnitOutput {
        UnitOutput {
            ok: false,
            error: Some(why.to_string()),
            ..UnitOutput::default()
        }
    }

    pub fn succeeded(result: Map<String, Value>) -> UnitOutput {
        UnitOutput {
            ok: true,
            result,
            ..UnitOutput::default()
        }
    }
}

/// Runs one unit.
pub(crate) async fn run(unit: Unit<'_>) -> UnitOutput {
    let sink = unit.sink.clone();
    let work = async {
        match unit.kind {
            StepKind::ShellExec | StepKind::SshExec | StepKind::WinrmExec => exec::run(&unit).await,
            StepKind::SshCopy | StepKind::WinrmCopy => copy::run(&unit).await,
            StepKind::HttpRequest => http::run(&unit).await,
            StepKind::JobEnqueue => enqueue(&unit).await,
            StepKind::NotifySend => notify(&unit).await,
            StepKind::RunbookCall => call::run(&unit).await,
            StepKind::Approval => UnitOutput::failed("an approval is decided by the engine, not run"),
        }
    };
    tokio::pin!(work);
    // Output gathered by the sink reaches the log (and live tails) at least this often.
    let mut tick = tokio::time::interval(super::log::FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let out = loop {
        tokio::select! {
            out = &mut work => break out,
            _ = tick.tick() => sink.flush().await,
        }
    };
    sink.finish().await;
    out
}

fn text<'a>(with: &'a Map<String, Value>, key: &str) -> &'a str {
    with.get(key).and_then(Value::as_str).unwrap_or_default()
}

async fn enqueue(unit: &Unit<'_>) -> UnitOutput {
    let queue = text(&unit.with, "queue").trim();
    if keel_jobs::is_system_queue(queue) {
        return UnitOutput::failed(&format!("{queue:?} is one of Keel's own queues: steps cannot fill it"));
    }
    let mut job = NewJob::new(
        unit.step.id.clone(),
        unit.with.get("payload").cloned().unwrap_or(Value::Null),
    );
    job.delay_ms = unit
        .with
        .get("delaySec")
        .and_then(Value::as_u64)
        .map(|s| i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX));
    job.unique_key = unit.with.get("uniqueKey").and_then(Value::as_str).map(str::to_string);
    match unit.ctx.app.jobs.enqueue(queue, vec![job]).await {
        Ok(done) => {
            let id = done.first().map(|e| e.job.id.clone()).unwrap_or_default();
            unit.sink
                .chunk(
                    keel_ops::OutputStream::Stdout,
                    bytes::Bytes::from(format!("enqueued job {id} on {queue}\n")),
                )
                .await;
            UnitOutput::succeeded(
                json!({"jobId": id, "queue": queue})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            )
        }
        Err(e) => UnitOutput::failed(&format!("cannot enqueue on {queue:?}: {e}")),
    }
}

async fn notify(unit: &Unit<'_>) -> UnitOutput {
    let mut req = Map::new();
    for key in ["to", "template", "subject", "body", "channels", "data", "critical"] {
        if let Some(v) = unit.with.get(key) {
            req.insert(key.into(), v.clone());
        }
    }
    let req: crate::notifications::SendRequest = match serde_json::from_value(Value::Object(req)) {
        Ok(r) => r,
        Err(e) => return UnitOutput::failed(&format!("not a notification: {e}")),
    };
    let source = format!("ops:{}:{}:{}", unit.ctx.run, unit.step.id, unit.item.unwrap_or(0));
    match crate::notifications::send::dispatch(&unit.ctx.app, req, &source).await {
        Ok(sent) => {
            unit.sink
                .chunk(
                    keel_ops::OutputStream::Stdout,
                    bytes::Bytes::from(format!(
                        "notification {} to {} recipient(s)\n",
                        sent.id,
                        sent.recipients.len()
                    )),
                )
                .await;
            UnitOutput::succeeded(
                json!({"notification": sent.id})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            )
        }
        Err(e) => UnitOutput::failed(&format!("cannot send the notification: {e}")),
    }
}
