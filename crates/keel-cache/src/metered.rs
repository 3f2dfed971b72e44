//! A wrapper that counts every provider's hits and misses for `/metrics`
//! (`keel_cache_hits_total` and `keel_cache_misses_total`, labelled with the provider's
//! name), so a cache hit ratio is `hits / (hits + misses)`. Only `get` and `get_many` count,
//! as the `Cache` contract says; every call is passed through unchanged.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use keel_core::cache::{Cache, CacheCapabilities, CacheEntry, CacheStats};
use keel_core::Result;
use serde_json::Value;

/// Counter of cache reads that found a value, labelled `provider`.
pub const HITS_TOTAL: &str = "keel_cache_hits_total";
/// Counter of cache reads that found nothing, labelled `provider`.
pub const MISSES_TOTAL: &str = "keel_cache_misses_total";

/// `inner`, with its hits and misses counted (see the module docs).
pub fn metered(inner: Arc<dyn Cache>) -> Arc<dyn Cache> {
    Arc::new(Metered { inner })
}

struct Metered {
    inner: Arc<dyn Cache>,
}

impl Metered {
    fn count(&self, hits: u64, misses: u64) {
        let provider = self.inner.name();
        if hits > 0 {
            metrics::counter!(HITS_TOTAL, "provider" => provider).increment(hits);
        }
        if misses > 0 {
            metrics::counter!(MISSES_TOTAL, "provider" => provider).increment(misses);
        }
    }
}

#[async_trait]
impl Cache for Metered {
    async fn get(&self, ns: &str, key: &str) -> Result<Option<Value>> {
        let v = self.inner.get(ns, key).await?;
        let hit = u64::from(v.is_some());
        self.count(hit, 1 - hit);
        Ok(v)
    }

    async fn set(&self, ns: &str, key: &str, value: Value, ttl: Option<Duration>, tags: &[String]) -> Result<()> {
        self.inner.set(ns, key, value, ttl, tags).await
    }

    async fn delete(&self, ns: &str, key: &str) -> Result<bool> {
        self.inner.delete(ns, key).await
    }

    async fn exists(&self, ns: &str, key: &str) -> Result<bool> {
        self.inner.exists(ns, key).await
    }

    async fn incr(&self, ns: &str, key: &str, by: i64, ttl: Option<Duration>) -> Result<i64> {
        self.inner.incr(ns, key, by, ttl).await
    }

    async fn get_many(&self, ns: &str, keys: &[String]) -> Result<Vec<Option<Value>>> {
        let values = self.inner.get_many(ns, keys).await?;
        let hits = values.iter().filter(|v| v.is_some()).count() as u64;
        self.count(hits, values.len() as u64 - hits);
        Ok(values)
    }

    async fn set_many(&self, ns: &str, entries: Vec<CacheEntry>) -> Result<()> {
        self.inner.set_many(ns, entries).await
    }

    async fn invalidate_tags(&self, ns: &str, tags: &[String]) -> Result<u64> {
        self.inner.invalidate_tags(ns, tags).await
    }

    async fn clear(&self, ns: &str) -> Result<u64> {
        self.inner.clear(ns).await
    }

    async fn stats(&self, ns: &str) -> Result<CacheStats> {
        self.inner.stats(ns).await
    }

    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn capabilities(&self) -> CacheCapabilities {
        self.inner.capabilities()
    }

    async fn ping(&self) -> Result<()> {
        self.inner.ping().await
    }
}
