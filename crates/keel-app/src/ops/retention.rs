//! Retention of runs by count (`[ops] keep_runs`): of each runbook only the newest `keep_runs`
//! ended runs are kept; older ended runs are deleted with their steps, logs and approvals.
//! Runs still going are never touched. Retention by age is the shared purge's
//! ([`crate::retention`]), which calls this one after it.

use keel_core::Result;
use keel_data::system::{OPS_APPROVALS, OPS_RUNBOOKS, OPS_RUNS, OPS_RUN_LOGS, OPS_RUN_STEPS};
use serde_json::Value;

use super::state;
use crate::rows::{find, lit, str_of};
use crate::App;

/// Runs deleted per statement.
const CHUNK: usize = 500;

/// Deletes every runbook's ended runs beyond the newest `keep` (0: none); answers how many
/// runs were deleted.
pub async fn keep_newest(app: &App, keep: u64) -> Result<u64> {
    if keep == 0 {
        return Ok(0);
    }
    let keep = usize::try_from(keep).unwrap_or(usize::MAX);
    let mut deleted = 0;
    for runbook in find(app, OPS_RUNBOOKS, "").await? {
        let runs = find(app, OPS_RUNS, &format!("runbook = {}", lit(runbook.id()))).await?;
        // Oldest first: all but the last `keep` ended ones go.
        let ended: Vec<Value> = runs
            .iter()
            .filter(|r| state::ended(str_of(&r.data, "state")))
            .map(|r| Value::from(r.id()))
            .collect();
        let gone = ended.len().saturating_sub(keep);
        for ids in ended[..gone].chunks(CHUNK) {
            for part in [OPS_RUN_LOGS, OPS_RUN_STEPS, OPS_APPROVALS] {
                app.store.purge_where_in(part, "run", ids).await?;
            }
            deleted += app.store.purge_where_in(OPS_RUNS, "id", ids).await?;
        }
    }
    if deleted > 0 {
        tracing::info!(deleted, keep, "deleted ended runs beyond each runbook's newest");
    }
    Ok(deleted)
}
