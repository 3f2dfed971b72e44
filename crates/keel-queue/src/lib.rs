//! Queue providers behind `keel_core::queue::Queue`: embedded (SQLite), PostgreSQL, Redis and NATS JetStream.
#![forbid(unsafe_code)]

use std::path::Path;
use std::sync::Arc;

use keel_core::config::{EnginesConfig, QueueConfig, QueueProvider};
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
pub async fn open(cfg: &QueueConfig, engines: &EnginesConfig, data_dir: &Path) -> keel_core::Result<Arc<dyn Queue>> {
    let _ = (data_dir, engines);
    match cfg.provider {
        #[cfg(feature = "embedded")]
        QueueProvider::Embedded => Ok(Arc::new(EmbeddedQueue::open(&data_dir.join("queues.db")).await?)),
        #[cfg(feature = "postgres")]
        QueueProvider::Postgres => Ok(Arc::new(PostgresQueue::connect(&engines.postgres_url).await?)),
        #[cfg(feature = "redis")]
        QueueProvider::Redis => Ok(Arc::new(RedisQueue::connect(&engines.redis_url).await?)),
        #[cfg(feature = "nats")]
        QueueProvider::Nats => Ok(Arc::new(
            NatsQueue::connect(NatsQueueConfig {
                url: engines.nats_url.clone(),
                lease: std::time::Duration::from_secs(cfg.nats_lease_secs.max(1)),
                ..NatsQueueConfig::default()
            })
            .await?,
        )),
        #[allow(unreachable_patterns)] // every provider compiled in
        other => Err(keel_core::Error::bad_request(format!(
            "the {other} queue provider is not compiled into this build"
        ))),
    }
}
