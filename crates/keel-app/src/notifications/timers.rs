//! Work the service clock says is due now: delayed `_keel-notify` jobs (quiet hours, digest
//! windows, escalations) carry their `due` instant; [`release_due`] replaces each one whose
//! `due` has passed by the service clock with a copy that runs now (the original is
//! cancelled, and the copy takes its unique key). With the real clock this is never needed
//! (the jobs' delay is the same); tests call it after moving the clock.

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
            let p = app
                .jobs
                .store()
                .list(&queue, &keel_jobs::JobFilter::state(state), page, 500)
                .await?;
            for j in &p.items {
                let at = j
                    .payload
                    .get("due")
                    .and_then(Value::as_str)
                    .and_then(keel_core::time::parse);
                if at.is_some_and(|at| at <= now) {
                    let mut copy = NewJob::new(j.name.clone(), j.payload.clone());
                    copy.unique_key = j.unique_key.clone();
                    copy.max_attempts = Some(50);
                    due.push((j.id.clone(), copy));
                }
            }
            if p.items.len() < 500 {
                break;
            }
            page += 1;
        }
    }
    let mut n = 0;
    for (id, copy) in due {
        // A job that started meanwhile is left to run (it is due).
        if app.jobs.cancel(&id).await.is_ok() {
            app.jobs.enqueue(&queue, vec![copy]).await?;
            n += 1;
        }
    }
    Ok(n)
}
