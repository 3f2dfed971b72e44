//! Cache providers behind `keel_core::cache::Cache`: in-process memory (moka), Redis and Memcached.
//! The binary picks one from `[cache] provider` and hands a server-backed provider its engine
//! (the process's shared Redis connection manager, or Memcached's URL); wrap it in [`metered`].
#![forbid(unsafe_code)]

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
pub use redis::RedisCache;
#[cfg(feature = "redis")]
pub use tiered::{TieredCache, TieredConfig};

/// Checks a namespace, key or tag is non-empty (the HTTP layer checks the character set).
pub(crate) fn check_name(what: &str, s: &str) -> keel_core::Result<()> {
    if s.is_empty() {
        return Err(keel_core::Error::bad_request(format!(
            "the cache {what} must not be empty"
        )));
    }
    Ok(())
}
