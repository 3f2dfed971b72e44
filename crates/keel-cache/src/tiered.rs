//! The tiered provider: the memory provider in front of Redis, kept in step across Keel
//! processes through Redis pub/sub.
//!
//! - **Reads** try memory first; a miss reads Redis (value and remaining TTL in one
//!   pipeline) and keeps a copy in memory for at most `local_ttl` (and never past the
//!   entry's own TTL).
//! - **Writes** (`set`, `delete`, `incr`, `invalidate_tags`, `clear`) go to Redis first, then
//!   change this process's memory, then publish an invalidation on `keel:cache:invalidate`;
//!   every other process drops its copy of that key (or, for tags and `clear`, its whole
//!   copy of the namespace: memory copies filled from Redis do not know their tags, so tag
//!   invalidation over-invalidates, which the contract allows).
//! - **No stale fill**: every write and every invalidation received bumps the generation of
//!   its key's bucket (or its namespace's, for a namespace-wide one) under one lock; a read
//!   fills memory only if neither changed while it read Redis, so a copy read before a
//!   write can never be stored after it.
//! - **When the subscription breaks** (Redis restarts, the network drops), memory is
//!   emptied and the subscriber reconnects: messages missed meanwhile cannot leave a stale
//!   copy, and a copy lives at most `local_ttl` in any case.
//!
//! Stats are Redis's (shared by every process) plus this process's memory hits.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use keel_core::cache::{Cache, CacheCapabilities, CacheEntry, CacheStats};
use keel_core::{Error, Result};
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{MemoryCache, MemoryConfig, RedisCache};

/// The pub/sub channel every tiered cache publishes its writes on.
const CHANNEL: &str = "keel:cache:invalidate";
/// Key buckets with a generation each (a write to one key rarely stops another's fill).
const GENERATION_BUCKETS: usize = 4096;

/// The tiered provider's settings (Redis itself is the process's shared engine).
#[derive(Debug, Clone)]
pub struct TieredConfig {
    /// The memory tier's budget in bytes.
    pub memory_max_bytes: u64,
    /// The longest a value stays in memory before it is read from Redis again.
    pub local_ttl: Duration,
}

/// An invalidation: `key: None` drops the whole namespace.
#[derive(Serialize, Deserialize)]
struct Message {
    from: String,
    ns: String,
    key: Option<String>,
}

/// This process's memory tier and what keeps it honest.
struct Local {
    memory: MemoryCache,
    /// Generations of key buckets, bumped by every write and every invalidation received.
    generations: Vec<AtomicU64>,
    /// Held while memory changes, and while a read checks the generation and fills.
    lock: tokio::sync::Mutex<()>,
    /// Namespaces memory may hold (to empty it all when the subscription breaks), each with
    /// the generation its namespace-wide invalidations bump.
    namespaces: Mutex<HashMap<String, u64>>,
}

impl Local {
    /// Drops `key` (or the whole namespace) from memory and bumps the generation.
    async fn drop_copy(&self, ns: &str, key: Option<&str>) -> Result<()> {
        let _guard = self.lock.lock().await;
        match key {
            Some(key) => {
                self.generation(ns, key).fetch_add(1, Ordering::SeqCst);
                self.memory.delete(ns, key).await?;
            }
            None => {
                self.bump_namespace(ns);
                self.memory.clear(ns).await?;
            }
        }
        Ok(())
    }

    /// The generation of `key`'s bucket.
    fn generation(&self, ns: &str, key: &str) -> &AtomicU64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (ns, key).hash(&mut h);
        &self.generations[(h.finish() % self.generations.len() as u64) as usize]
    }

    async fn drop_everything(&self) {
        let namespaces: Vec<String> = {
            let map = self.namespaces.lock().unwrap_or_else(|e| e.into_inner());
            map.keys().cloned().collect()
        };
        for ns in namespaces {
            if let Err(e) = self.drop_copy(&ns, None).await {
                tracing::warn!(error = %e, "tiered cache: emptying the memory tier failed");
            }
        }
    }

    /// The generation of `ns`'s namespace-wide invalidations (registering the namespace).
    fn namespace_generation(&self, ns: &str) -> u64 {
        let mut map = self.namespaces.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(ns) {
            Some(g) => *g,
            None => *map.entry(ns.to_string()).or_insert(0),
        }
    }

    fn bump_namespace(&self, ns: &str) {
        let mut map = self.namespaces.lock().unwrap_or_else(|e| e.into_inner());
        *map.entry(ns.to_string()).or_insert(0) += 1;
    }
}

/// Memory in front of Redis, invalidated across processes.
pub struct TieredCache {
    remote: RedisCache,
    local: Arc<Local>,
    publisher: ConnectionManager,
    /// This instance's id in its messages (its own are skipped).
    id: String,
    local_ttl: Duration,
    subscriber: tokio::task::JoinHandle<()>,
}

impl Drop for TieredCache {
    fn drop(&mut self) {
        self.subscriber.abort();
    }
}

fn engine(e: redis::RedisError) -> Error {
    Error::internal(format!("redis: {e}"))
}

impl TieredCache {
    /// A memory tier in front of Redis: reads and writes go through `conn`, the process's
    /// shared connection manager; invalidations are received on a subscription of its own,
    /// opened from `client` before this returns, so no write published afterwards is missed.
    pub async fn new(client: &redis::Client, conn: ConnectionManager, cfg: TieredConfig) -> Result<Self> {
        let remote = RedisCache::new(conn.clone()).await?;
        let publisher = conn;
        let client = client.clone();
        let local = Arc::new(Local {
            memory: MemoryCache::new(MemoryConfig {
                max_bytes: cfg.memory_max_bytes,
            }),
            generations: (0..GENERATION_BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            lock: tokio::sync::Mutex::new(()),
            namespaces: Mutex::new(HashMap::new()),
        });
        let id = keel_core::id::new_id();
        let first = subscribe(&client).await?;
        let subscriber = tokio::spawn(listen(client, first, local.clone(), id.clone()));
        Ok(Self {
            remote,
            local,
            publisher,
            id,
            local_ttl: cfg.local_ttl.max(Duration::from_millis(1)),
            subscriber,
        })
    }

    async fn publish(&self, ns: &str, key: Option<&str>) -> Result<()> {
        let msg = Message {
            from: self.id.clone(),
            ns: ns.to_string(),
            key: key.map(str::to_string),
        };
        let body = serde_json::to_string(&msg).map_err(Error::internal)?;
        redis::cmd("PUBLISH")
            .arg(CHANNEL)
            .arg(body)
            .query_async::<()>(&mut self.publisher.clone())
            .await
            .map_err(engine)
    }

    /// After a write to Redis: drop this process's copy, tell the others.
    async fn written(&self, ns: &str, key: Option<&str>) -> Result<()> {
        self.local.drop_copy(ns, key).await?;
        self.publish(ns, key).await
    }

    /// Reads the keys memory lacks from Redis and fills memory unless a write intervened.
    async fn read_through(&self, ns: &str, keys: &[String]) -> Result<Vec<Option<Value>>> {
        let ns_before = self.local.namespace_generation(ns);
        let before: Vec<u64> = keys
            .iter()
            .map(|k| self.local.generation(ns, k).load(Ordering::SeqCst))
            .collect();
        let fetched = self.remote.fetch_with_ttl(ns, keys).await?;
        let _guard = self.local.lock.lock().await;
        let ns_unchanged = self.local.namespace_generation(ns) == ns_before;
        let mut out = Vec::with_capacity(fetched.len());
        for ((key, found), before) in keys.iter().zip(fetched).zip(before) {
            match found {
                Some((value, ttl)) => {
                    if ns_unchanged && self.local.generation(ns, key).load(Ordering::SeqCst) == before {
                        let ttl = ttl.map_or(self.local_ttl, |t| t.min(self.local_ttl));
                        self.local.memory.set(ns, key, value.clone(), Some(ttl), &[]).await?;
                    }
                    out.push(Some(value));
                }
                None => out.push(None),
            }
        }
        Ok(out)
    }
}

async fn subscribe(client: &redis::Client) -> Result<redis::aio::PubSub> {
    let mut pubsub = client.get_async_pubsub().await.map_err(engine)?;
    pubsub.subscribe(CHANNEL).await.map_err(engine)?;
    Ok(pubsub)
}

/// Applies other processes' invalidations until aborted; on a broken subscription empties
/// memory and resubscribes (once a second at most).
async fn listen(client: redis::Client, first: redis::aio::PubSub, local: Arc<Local>, id: String) {
    let mut pubsub = Some(first);
    loop {
        let Some(current) = pubsub.take() else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            match subscribe(&client).await {
                Ok(p) => {
                    // Whatever was published while we were away is lost: start empty.
                    local.drop_everything().await;
                    pubsub = Some(p);
                }
                Err(e) => tracing::warn!(error = %e, "tiered cache: resubscribing failed; retrying"),
            }
            continue;
        };
        let mut stream = current.into_on_message();
        while let Some(msg) = stream.next().await {
            let Ok(body) = msg.get_payload::<String>() else {
                continue;
            };
            let Ok(m) = serde_json::from_str::<Message>(&body) else {
                continue;
            };
            if m.from == id {
                continue;
            }
            if let Err(e) = local.drop_copy(&m.ns, m.key.as_deref()).await {
                tracing::warn!(error = %e, "tiered cache: applying an invalidation failed");
            }
        }
        tracing::warn!("tiered cache: the invalidation subscription ended; emptying memory and resubscribing");
        local.drop_everything().await;
    }
}

#[async_trait]
impl Cache for TieredCache {
    async fn get(&self, ns: &str, key: &str) -> Result<Option<Value>> {
        if let Some(v) = self.local.memory.get(ns, key).await? {
            return Ok(Some(v));
        }
        let mut out = self.read_through(ns, &[key.to_string()]).await?;
        Ok(out.pop().flatten())
    }

    async fn set(&self, ns: &str, key: &str, value: Value, ttl: Option<Duration>, tags: &[String]) -> Result<()> {
        self.remote.set(ns, key, value, ttl, tags).await?;
        self.written(ns, Some(key)).await
    }

    async fn delete(&self, ns: &str, key: &str) -> Result<bool> {
        let found = self.remote.delete(ns, key).await?;
        self.written(ns, Some(key)).await?;
        Ok(found)
    }

    async fn exists(&self, ns: &str, key: &str) -> Result<bool> {
        if self.local.memory.exists(ns, key).await? {
            return Ok(true);
        }
        self.remote.exists(ns, key).await
    }

    async fn incr(&self, ns: &str, key: &str, by: i64, ttl: Option<Duration>) -> Result<i64> {
        let n = self.remote.incr(ns, key, by, ttl).await?;
        self.written(ns, Some(key)).await?;
        Ok(n)
    }

    async fn get_many(&self, ns: &str, keys: &[String]) -> Result<Vec<Option<Value>>> {
        let mut out = self.local.memory.get_many(ns, keys).await?;
        let missing: Vec<usize> = (0..out.len()).filter(|&i| out[i].is_none()).collect();
        if !missing.is_empty() {
            let wanted: Vec<String> = missing.iter().map(|&i| keys[i].clone()).collect();
            let fetched = self.read_through(ns, &wanted).await?;
            for (i, v) in missing.into_iter().zip(fetched) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    async fn set_many(&self, ns: &str, entries: Vec<CacheEntry>) -> Result<()> {
        let keys: Vec<String> = entries.iter().map(|e| e.key.clone()).collect();
        self.remote.set_many(ns, entries).await?;
        for key in &keys {
            self.local.drop_copy(ns, Some(key)).await?;
        }
        // One message for the batch: the others drop their copy of the namespace.
        self.publish(ns, None).await
    }

    async fn invalidate_tags(&self, ns: &str, tags: &[String]) -> Result<u64> {
        let n = self.remote.invalidate_tags(ns, tags).await?;
        self.written(ns, None).await?;
        Ok(n)
    }

    async fn clear(&self, ns: &str) -> Result<u64> {
        let n = self.remote.clear(ns).await?;
        self.written(ns, None).await?;
        Ok(n)
    }

    async fn stats(&self, ns: &str) -> Result<CacheStats> {
        let (remote, local) = (self.remote.stats(ns).await?, self.local.memory.stats(ns).await?);
        Ok(CacheStats {
            hits: remote.hits + local.hits,
            ..remote
        })
    }

    fn name(&self) -> &'static str {
        "tiered"
    }

    fn capabilities(&self) -> CacheCapabilities {
        CacheCapabilities {
            tags: true,
            size_aware_eviction: true,
            shared: true,
        }
    }

    async fn ping(&self) -> Result<()> {
        self.remote.ping().await
    }
}
