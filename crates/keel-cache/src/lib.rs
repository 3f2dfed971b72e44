//! Cache providers behind `keel_core::cache::Cache`: in-process memory (moka), Redis and Memcached.
#![forbid(unsafe_code)]

use std::sync::Arc;

use keel_core::cache::Cache;
use keel_core::config::{CacheConfig, CacheProvider, EnginesConfig};

#[cfg(feature = "memcached")]
pub mod memcached;
pub mod memory;
mod metered;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "redis")]
pub mod tiered;

#[cfg(feature = "memcached")]
pub use memcached::{MemcachedCache, MemcachedConfig};
pub use memory::{MemoryCache, MemoryConfig};
pub use metered::{metered, HITS_TOTAL, MISSES_TOTAL};
#[cfg(feature = "redis")]
pub use redis::{RedisCache, RedisConfig};
#[cfg(feature = "redis")]
pub use tiered::{TieredCache, TieredConfig};

/// Opens the provider `cfg.provider` names, its hits and misses counted for `/metrics`
/// ([`metered`]). Connects (for Redis and Memcached) before returning, so a wrong URL fails
/// at start-up rather than on the first request.
pub async fn open(cfg: &CacheConfig, engines: &EnginesConfig) -> keel_core::Result<Arc<dyn Cache>> {
    Ok(metered(open_provider(cfg, engines).await?))
}

async fn open_provider(cfg: &CacheConfig, engines: &EnginesConfig) -> keel_core::Result<Arc<dyn Cache>> {
    let _ = engines;
    match cfg.provider {
        CacheProvider::Memory => Ok(Arc::new(MemoryCache::new(MemoryConfig {
            max_bytes: cfg.memory_max_bytes,
        }))),
        #[cfg(feature = "redis")]
        CacheProvider::Redis => Ok(Arc::new(
            RedisCache::connect(RedisConfig {
                url: engines.redis_url.clone(),
            })
            .await?,
        )),
        #[cfg(feature = "redis")]
        CacheProvider::Tiered => Ok(Arc::new(
            TieredCache::connect(TieredConfig {
                redis_url: engines.redis_url.clone(),
                memory_max_bytes: cfg.memory_max_bytes,
                local_ttl: std::time::Duration::from_secs(cfg.tiered_local_ttl_secs.max(1)),
            })
            .await?,
        )),
        #[cfg(feature = "memcached")]
        CacheProvider::Memcached => Ok(Arc::new(
            MemcachedCache::connect(MemcachedConfig {
                url: engines.memcached_url.clone(),
            })
            .await?,
        )),
        #[allow(unreachable_patterns)] // every provider compiled in
        other => Err(keel_core::Error::bad_request(format!(
            "the {other} cache provider is not compiled into this build"
        ))),
    }
}

/// Checks a namespace, key or tag is non-empty (the HTTP layer checks the character set).
pub(crate) fn check_name(what: &str, s: &str) -> keel_core::Result<()> {
    if s.is_empty() {
        return Err(keel_core::Error::bad_request(format!(
            "the cache {what} must not be empty"
        )));
    }
    Ok(())
}
