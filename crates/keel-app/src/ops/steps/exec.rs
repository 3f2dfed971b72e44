//! `ssh.exec`, `winrm.exec` and `shell.exec`: a command on the unit's target through its
//! transport (SSH, WinRM), or on the Keel host itself for `shell.exec` (its own process
//! group, signalled on timeout and cancel), which is off unless the operator sets
//! `[ops] shell_exec = true`: a runbook author would otherwise run anything as Keel.
//! Keys: `command`, `env` (a map), `workingDir`, `stdin`.

use std::collections::BTreeMap;

use keel_ops::runbook::StepKind;
use keel_ops::transport::local::LocalTransport;
use keel_ops::{ExecRequest, Transport};
use serde_json::Value;

use super::{text, Unit, UnitOutput};

pub(super) async fn run(unit: &Unit<'_>) -> UnitOutput {
    let local;
    let transport: &dyn Transport = match (unit.kind, unit.transport.as_deref()) {
        (StepKind::ShellExec, _) => {
            if !unit.ctx.app.config.ops.shell_exec {
                return UnitOutput::failed(
                    "shell.exec runs commands on the Keel host and is off: set [ops] shell_exec = true in keel.toml to allow it",
                );
            }
            local = LocalTransport::new();
            &local
        }
        (_, Some(t)) => t,
        (_, None) => return UnitOutput::failed("the step has no connection to its target"),
    };
    let env: BTreeMap<String, String> = unit
        .with
        .get("env")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let request = ExecRequest {
        command: text(&unit.with, "command").to_string(),
        stdin: unit
            .with
            .get("stdin")
            .and_then(Value::as_str)
            .map(|s| s.as_bytes().to_vec()),
        env,
        working_dir: unit.with.get("workingDir").and_then(Value::as_str).map(str::to_string),
        timeout: unit.timeout,
        cancel: unit.ctx.cancel.child_token(),
    };
    match transport.exec(request, unit.sink.as_ref()).await {
        Ok(outcome) => {
            let mut out = if outcome.success() {
                UnitOutput::succeeded(Default::default())
            } else if outcome.timed_out {
                UnitOutput::failed("the command ran past its timeout and was stopped")
            } else if outcome.cancelled {
                UnitOutput::failed("cancelled")
            } else if let Some(signal) = &outcome.signal {
                UnitOutput::failed(&format!("the command was killed by {signal}"))
            } else {
                UnitOutput::failed(&format!("the command exited with {}", outcome.exit_code.unwrap_or(-1)))
            };
            out.exit_code = outcome.exit_code.map(i64::from);
            out
        }
        Err(e) => UnitOutput::failed(&e.to_string()),
    }
}
