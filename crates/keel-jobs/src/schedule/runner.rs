//! The scheduler loop: every second, fire what is due. Every process with background work
//! on runs it; the store makes each tick fire once.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::service::Jobs;

impl Jobs {
    /// Fires due schedule ticks every `every` until `shutdown` turns true.
    pub fn spawn_scheduler(self: &Arc<Self>, every: Duration, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        let jobs = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = shutdown.changed() => {}
                }
                if *shutdown.borrow() {
                    return;
                }
                match jobs.store().fire_due_reporting().await {
                    Ok((fired, missed)) => {
                        jobs.announce_enqueued(&fired);
                        jobs.announce_missed(missed);
                    }
                    Err(e) => tracing::warn!(error = %e, "firing schedules failed; retrying next tick"),
                }
            }
        })
    }
}
