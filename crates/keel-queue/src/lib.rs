//! Queue providers behind `keel_core::queue::Queue`: embedded (SQLite), PostgreSQL, Redis and NATS JetStream.
#![forbid(unsafe_code)]

use std::path::Path;
use std::sync::Arc;

use keel_core::config::QueueConfig;
use keel_core::queue::Queue;

#[cfg(feature = "embedded")]
pub mod embedded;
#[cfg(feature = "nats")]
pub mod nats;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(any(feature = "embedded", feature = "postgres"))]
mod sql;

#[cfg(feature = "embedded")]
pub use embedded::EmbeddedQueue;
#[cfg(feature = "nats")]
pub use nats::{NatsQueue, NatsQueueConfig};
#[cfg(feature = "postgres")]
pub use postgres::PostgresQueue;
#[cfg(feature = "redis")]
pub use redis::RedisQueue;

/// Opens the provider `cfg.provider` names; the embedded one keeps `queues.db` in `data_dir`.
/// Connects before returning, so a wrong URL fails at start-up rather than on first use.
pub async fn open(cfg: &QueueConfig, data_dir: &Path) -> keel_core::Result<Arc<dyn Queue>> {
    let _ = data_dir;
    match cfg.provider.as_str() {
        #[cfg(feature = "embedded")]
        "embedded" => Ok(Arc::new(EmbeddedQueue::open(&data_dir.join("queues.db")).await?)),
        #[cfg(feature = "postgres")]
        "postgres" => Ok(Arc::new(PostgresQueue::connect(&cfg.postgres_url).await?)),
        #[cfg(feature = "redis")]
        "redis" => Ok(Arc::new(RedisQueue::connect(&cfg.redis_url).await?)),
        #[cfg(feature = "nats")]
        "nats" => Ok(Arc::new(
            NatsQueue::connect(NatsQueueConfig {
                url: cfg.nats_url.clone(),
                lease: std::time::Duration::from_secs(cfg.nats_lease_secs.max(1)),
                ..NatsQueueConfig::default()
            })
            .await?,
        )),
        other => Err(keel_core::Error::bad_request(format!(
            "unknown queue provider {other:?}: expected \"embedded\", \"postgres\", \"redis\" or \"nats\""
        ))),
    }
}
