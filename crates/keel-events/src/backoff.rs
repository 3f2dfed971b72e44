//! The wait between attempts to re-establish a lost engine subscription.

use std::time::Duration;

/// 0.1 s, doubling up to 5 s.
pub(crate) struct Backoff(Duration);

impl Backoff {
    pub(crate) fn new() -> Backoff {
        Backoff(Duration::from_millis(100))
    }

    /// Sleeps the current wait, then lengthens the next.
    pub(crate) async fn wait(&mut self) {
        tokio::time::sleep(self.0).await;
        self.0 = (self.0 * 2).min(Duration::from_secs(5));
    }
}
