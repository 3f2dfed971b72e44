//! Behaviour suites every provider of a Keel service must pass, and the helpers they share.
#![forbid(unsafe_code)]

pub mod bus;
pub mod cache;
pub mod env;
pub mod files;
pub mod ldap_server;
pub mod mysql;
pub mod notify;
mod notify_sigv4;
pub mod notify_standins;
pub mod oauth_server;
pub mod object_servers;
pub mod postgres;
pub mod push_standins;
pub mod queue;
pub mod records;
pub mod search;
pub mod smtp_server;
pub mod sshd;
pub mod tcp_proxy;
pub mod tls;
pub mod winrm_standin;

pub use bus::bus_suite;
pub use cache::cache_suite;
pub use env::engine_url;
pub use files::files_suite;
pub use notify::{notifier_suite, NotifierCase, SuiteStandIn};
pub use queue::queue_suite;
pub use records::records_suite;
pub use search::search_suite;

use std::time::{Duration, Instant};

/// A fresh random name (`t` + 16 hex digits) for a test's namespace, prefix or schema.
pub fn random_name() -> String {
    format!("t{:016x}", rand::random::<u64>())
}

/// Polls `cond` every 20 ms until it holds or `within` elapses (then panics with `what`);
/// returns how long it took.
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut cond: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !cond().await {
        assert!(
            start.elapsed() < within,
            "timed out after {within:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    start.elapsed()
}
