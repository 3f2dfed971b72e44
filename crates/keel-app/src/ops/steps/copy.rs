//! `ssh.copy` (SFTP) and `winrm.copy` (PowerShell chunks): a file between the Keel host and
//! the unit's target. Keys: `direction` (`upload` | `download`), `source`, `destination`.
//! Files on the Keel host live under `<data dir>/ops-files/`: an upload's `source` is a path
//! relative to it; a download lands at `ops-files/runs/<run id>/<destination>`. A path that
//! leaves that folder (`..`, absolute) is refused: a runbook cannot read or write the rest of
//! the host.

use std::path::{Component, Path, PathBuf};

use keel_ops::OutputSink;
use serde_json::json;

use super::{text, Unit, UnitOutput};

/// A relative path with no `..`, or why not.
fn inside(base: &Path, relative: &str) -> Result<PathBuf, String> {
    let rel = Path::new(relative);
    if relative.trim().is_empty() || rel.is_absolute() || rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(format!(
            "{relative:?} must be a relative path inside ops-files (no `..`)"
        ));
    }
    Ok(base.join(rel))
}

pub(super) async fn run(unit: &Unit<'_>) -> UnitOutput {
    let Some(transport) = unit.transport.as_deref() else {
        return UnitOutput::failed("the step has no connection to its target");
    };
    let files = unit.ctx.app.config.data_dir.join("ops-files");
    let (source, destination) = (text(&unit.with, "source"), text(&unit.with, "destination"));
    let copied = match text(&unit.with, "direction") {
        "upload" => match inside(&files, source) {
            Ok(local) => transport
                .upload(&local, destination)
                .await
                .map(|n| (n, local.display().to_string(), destination.to_string())),
            Err(e) => return UnitOutput::failed(&e),
        },
        _ => {
            let base = files.join("runs").join(&unit.ctx.run);
            let local = match inside(&base, destination) {
                Ok(l) => l,
                Err(e) => return UnitOutput::failed(&e),
            };
            if let Some(parent) = local.parent() {
                if let Err(e) = tokio::fs::create_dir_all(parent).await {
                    return UnitOutput::failed(&format!("cannot create {}: {e}", parent.display()));
                }
            }
            transport
                .download(source, &local)
                .await
                .map(|n| (n, source.to_string(), local.display().to_string()))
        }
    };
    match copied {
        Ok((bytes, from, to)) => {
            unit.sink
                .chunk(
                    keel_ops::OutputStream::Stdout,
                    bytes::Bytes::from(format!("copied {bytes} bytes from {from} to {to}\n")),
                )
                .await;
            UnitOutput::succeeded(
                json!({"bytes": bytes, "path": to})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            )
        }
        Err(e) => UnitOutput::failed(&e.to_string()),
    }
}
