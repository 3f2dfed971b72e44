//! Work the service clock says is due now: delayed `_keel-notify` jobs (quiet hours, digest
//! windows, escalations) carry their `due` instant; [`release_due`] enqueues, to run now, a
//! copy of each one whose `due` has passed by the service clock. The jobs are idempotent, so
//! the original, when its real delay runs out, finds its work done. With the real clock this
//! is never needed (the delay is the same); tests call it after moving the clock.

use keel_core::Result;
use keel_jobs::{JobState, NewJob};
use serde_json::Value;

use super::KIND;
use crate::App;

/// Enqueues every due delayed job of `_keel-notify` to run now; returns how many.
pub async fn release_due(app: &App) -> Result<usize> {
    let queue = crate::outbox::queue_of(KIND);
    let now = app.notifications.now();
    let mut due = Vec::new();
    for state in [JobState::Delayed] {
        let mut page = 1;
        loop {
            let p = app.jobs.store().list(&queue, Some(state), page, 500).await?;
            for j in &p.items {
                let at = j.payload.get("due").and_then(Value::as_str).and_then(keel_core::time::parse);
                if at.is_some_and(|at| at <= now) {
                    let mut copy = NewJob::new(j.name.clone(), j.payload.clone());
                    copy.unique_key = Some(format!("{}:due", j.unique_key.clone().unwrap_or_else(|| j.id.clone())));
                    copy.max_attempts = Some(50);
                    due.push(copy);
                }
            }
            if p.items.len() < 500 {
                break;
            }
            page += 1;
        }
    }
    let n = due.len();
    if n > 0 {
        app.jobs.enqueue(&queue, due).await?;
    }
    Ok(n)
}
