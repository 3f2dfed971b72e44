//! The in-process provider: a moka cache bounded by a byte budget (each entry weighs its
//! serialized JSON size plus its key and tags), with per-entry TTL through moka's `Expiry`.
//!
//! Tags live in an index beside the cache (`(namespace, tag) → key → generation`). Every
//! write gets a fresh generation; the eviction listener removes an entry's index rows only
//! when their generation is the removed entry's, so a replaced value never erases the
//! index rows of its successor. `invalidate_tags` removes a key only if it still holds the
//! generation the index names: this provider neither under- nor over-invalidates.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use keel_core::cache::{Cache, CacheCapabilities, CacheEntry, CacheStats};
use keel_core::{Error, Result};
use moka::notification::RemovalCause;
use moka::ops::compute::Op;
use moka::Expiry;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::check_name;

/// The memory provider's settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryConfig {
    /// The budget in bytes; least-recently/frequently used entries go first beyond it.
    pub max_bytes: u64,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            max_bytes: 64 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    ns: String,
    key: String,
}

#[derive(Debug, Clone)]
struct Entry {
    value: Arc<Value>,
    expires_at: Option<Instant>,
    tags: Arc<[String]>,
    generation: u64,
    weight: u32,
}

struct EntryExpiry;

impl Expiry<Key, Entry> for EntryExpiry {
    fn expire_after_create(&self, _: &Key, v: &Entry, now: Instant) -> Option<Duration> {
        v.expires_at.map(|at| at.saturating_duration_since(now))
    }

    fn expire_after_update(&self, _: &Key, v: &Entry, now: Instant, _: Option<Duration>) -> Option<Duration> {
        v.expires_at.map(|at| at.saturating_duration_since(now))
    }
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

/// `(namespace, tag)` → key → generation of the entry that carries the tag.
type TagIndex = HashMap<(String, String), HashMap<String, u64>>;

#[derive(Default)]
struct Shared {
    tags: Mutex<TagIndex>,
    counters: Mutex<HashMap<String, Arc<Counters>>>,
}

impl Shared {
    fn tags(&self) -> MutexGuard<'_, TagIndex> {
        self.tags.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn counters(&self, ns: &str) -> Arc<Counters> {
        let mut map = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(ns.to_string()).or_default().clone()
    }

    /// Drops `key`'s index rows for `tags` if they still name `generation`.
    fn unindex(&self, ns: &str, key: &str, tags: &[String], generation: u64) {
        if tags.is_empty() {
            return;
        }
        let mut index = self.tags();
        for tag in tags {
            let id = (ns.to_string(), tag.clone());
            if let Some(keys) = index.get_mut(&id) {
                if keys.get(key) == Some(&generation) {
                    keys.remove(key);
                }
                if keys.is_empty() {
                    index.remove(&id);
                }
            }
        }
    }
}

/// The in-process cache. Cheap to share behind an `Arc`; lost when the process exits.
pub struct MemoryCache {
    cache: moka::future::Cache<Key, Entry>,
    shared: Arc<Shared>,
    generation: AtomicU64,
}

impl MemoryCache {
    /// A cache holding at most `cfg.max_bytes` of entries.
    pub fn new(cfg: MemoryConfig) -> Self {
        let shared = Arc::new(Shared::default());
        let listener_shared = shared.clone();
        let cache = moka::future::Cache::builder()
            .max_capacity(cfg.max_bytes)
            .weigher(|_: &Key, v: &Entry| v.weight)
            .expire_after(EntryExpiry)
            .eviction_listener(move |k: Arc<Key>, v: Entry, cause: RemovalCause| {
                if cause == RemovalCause::Size {
                    listener_shared
                        .counters(&k.ns)
                        .evictions
                        .fetch_add(1, Ordering::Relaxed);
                }
                listener_shared.unindex(&k.ns, &k.key, &v.tags, v.generation);
            })
            .build();
        Self {
            cache,
            shared,
            generation: AtomicU64::new(1),
        }
    }

    fn key(ns: &str, key: &str) -> Result<Key> {
        check_name("namespace", ns)?;
        check_name("key", key)?;
        Ok(Key {
            ns: ns.to_string(),
            key: key.to_string(),
        })
    }

    fn entry(&self, key: &Key, value: Value, ttl: Option<Duration>, tags: &[String]) -> Result<Entry> {
        for tag in tags {
            check_name("tag", tag)?;
        }
        let size = serde_json::to_vec(&value).map_err(Error::internal)?.len()
            + key.ns.len()
            + key.key.len()
            + tags.iter().map(String::len).sum::<usize>();
        Ok(Entry {
            value: Arc::new(value),
            expires_at: ttl.map(|d| Instant::now() + d),
            tags: tags.to_vec().into(),
            generation: self.generation.fetch_add(1, Ordering::Relaxed),
            weight: u32::try_from(size).unwrap_or(u32::MAX),
        })
    }

    async fn put(&self, key: Key, entry: Entry) {
        if !entry.tags.is_empty() {
            let mut index = self.shared.tags();
            for tag in entry.tags.iter() {
                index
                    .entry((key.ns.clone(), tag.clone()))
                    .or_default()
                    .insert(key.key.clone(), entry.generation);
            }
        }
        self.cache.insert(key, entry).await;
    }

    fn count(&self, ns: &str, hit: bool) {
        let c = self.shared.counters(ns);
        if hit {
            c.hits.fetch_add(1, Ordering::Relaxed);
        } else {
            c.misses.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Default for MemoryCache {
    fn default() -> Self {
        Self::new(MemoryConfig::default())
    }
}

#[async_trait]
impl Cache for MemoryCache {
    async fn get(&self, ns: &str, key: &str) -> Result<Option<Value>> {
        let k = Self::key(ns, key)?;
        let found = self.cache.get(&k).await.map(|e| (*e.value).clone());
        self.count(ns, found.is_some());
        Ok(found)
    }

    async fn set(&self, ns: &str, key: &str, value: Value, ttl: Option<Duration>, tags: &[String]) -> Result<()> {
        let k = Self::key(ns, key)?;
        let entry = self.entry(&k, value, ttl, tags)?;
        self.put(k, entry).await;
        Ok(())
    }

    async fn delete(&self, ns: &str, key: &str) -> Result<bool> {
        let k = Self::key(ns, key)?;
        Ok(self.cache.remove(&k).await.is_some())
    }

    async fn exists(&self, ns: &str, key: &str) -> Result<bool> {
        let k = Self::key(ns, key)?;
        Ok(self.cache.contains_key(&k))
    }

    async fn incr(&self, ns: &str, key: &str, by: i64, ttl: Option<Duration>) -> Result<i64> {
        let k = Self::key(ns, key)?;
        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
        let shared = self.shared.clone();
        let ns_key = k.clone();
        let result = self
            .cache
            .entry(k)
            .and_try_compute_with(|current| async move {
                let (old, expires_at, tags) = match current {
                    None => (0, ttl.map(|d| Instant::now() + d), Arc::from(Vec::<String>::new())),
                    Some(e) => {
                        let e = e.into_value();
                        let n = e
                            .value
                            .as_i64()
                            .ok_or_else(|| Error::bad_request("the cached value is not an integer"))?;
                        (n, e.expires_at, e.tags)
                    }
                };
                let n = old
                    .checked_add(by)
                    .ok_or_else(|| Error::bad_request("the increment overflows a 64-bit integer"))?;
                let value = Value::from(n);
                let weight =
                    u32::try_from(value.to_string().len() + ns_key.ns.len() + ns_key.key.len()).unwrap_or(u32::MAX);
                if !tags.is_empty() {
                    let mut index = shared.tags();
                    for tag in tags.iter() {
                        index
                            .entry((ns_key.ns.clone(), tag.clone()))
                            .or_default()
                            .insert(ns_key.key.clone(), generation);
                    }
                }
                Ok::<_, Error>(Op::Put(Entry {
                    value: Arc::new(value),
                    expires_at,
                    tags,
                    generation,
                    weight,
                }))
            })
            .await?;
        result
            .into_entry()
            .and_then(|e| e.into_value().value.as_i64())
            .ok_or_else(|| Error::internal("incr produced no integer"))
    }

    async fn get_many(&self, ns: &str, keys: &[String]) -> Result<Vec<Option<Value>>> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            out.push(self.get(ns, key).await?);
        }
        Ok(out)
    }

    async fn set_many(&self, ns: &str, entries: Vec<CacheEntry>) -> Result<()> {
        let mut prepared = Vec::with_capacity(entries.len());
        for e in entries {
            let k = Self::key(ns, &e.key)?;
            let entry = self.entry(&k, e.value, e.ttl, &e.tags)?;
            prepared.push((k, entry));
        }
        for (k, entry) in prepared {
            self.put(k, entry).await;
        }
        Ok(())
    }

    async fn invalidate_tags(&self, ns: &str, tags: &[String]) -> Result<u64> {
        check_name("namespace", ns)?;
        let mut targets: HashMap<String, u64> = HashMap::new();
        {
            let index = self.shared.tags();
            for tag in tags {
                if let Some(keys) = index.get(&(ns.to_string(), tag.clone())) {
                    targets.extend(keys.iter().map(|(k, g)| (k.clone(), *g)));
                }
            }
        }
        let mut removed = 0;
        for (key, generation) in targets {
            let k = Key {
                ns: ns.to_string(),
                key,
            };
            let res = self
                .cache
                .entry(k)
                .and_compute_with(|current| async move {
                    match current {
                        Some(e) if e.value().generation == generation => Op::Remove,
                        _ => Op::Nop,
                    }
                })
                .await;
            if matches!(res, moka::ops::compute::CompResult::Removed(_)) {
                removed += 1;
            }
        }
        Ok(removed)
    }

    async fn clear(&self, ns: &str) -> Result<u64> {
        check_name("namespace", ns)?;
        let keys: Vec<Arc<Key>> = self.cache.iter().filter(|(k, _)| k.ns == ns).map(|(k, _)| k).collect();
        let mut removed = 0;
        for k in keys {
            if self.cache.remove(k.as_ref()).await.is_some() {
                removed += 1;
            }
        }
        self.shared.tags().retain(|(n, _), _| n != ns);
        self.shared
            .counters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(ns);
        Ok(removed)
    }

    async fn stats(&self, ns: &str) -> Result<CacheStats> {
        check_name("namespace", ns)?;
        self.cache.run_pending_tasks().await;
        let c = self.shared.counters(ns);
        let keys = self.cache.iter().filter(|(k, _)| k.ns == ns).count() as u64;
        Ok(CacheStats {
            hits: c.hits.load(Ordering::Relaxed),
            misses: c.misses.load(Ordering::Relaxed),
            evictions: c.evictions.load(Ordering::Relaxed),
            keys: Some(keys),
        })
    }

    fn name(&self) -> &'static str {
        "memory"
    }

    fn capabilities(&self) -> CacheCapabilities {
        CacheCapabilities {
            tags: true,
            size_aware_eviction: true,
            shared: false,
        }
    }

    async fn ping(&self) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_byte_budget_evicts_and_keeps_the_tag_index_consistent() {
        let cache = MemoryCache::new(MemoryConfig { max_bytes: 4096 });
        let tags = vec!["t".to_string()];
        for i in 0..200 {
            let v = Value::String("x".repeat(100));
            cache.set("ns", &format!("k{i}"), v, None, &tags).await.unwrap();
        }
        let stats = cache.stats("ns").await.unwrap();
        assert!(stats.evictions > 0, "{stats:?}");
        assert!(stats.keys.unwrap() < 200);
        let indexed = cache
            .shared
            .tags()
            .get(&("ns".into(), "t".into()))
            .map_or(0, HashMap::len) as u64;
        assert_eq!(indexed, stats.keys.unwrap());
        assert_eq!(cache.invalidate_tags("ns", &tags).await.unwrap(), indexed);
    }
}
