//! The Redis provider: the process's one `ConnectionManager` (reconnects on its own, shared
//! with the other Redis users), values as JSON text.
//!
//! Layout of a namespace `NS` (the braces are literal: a Redis Cluster hash tag, so a
//! namespace lives in one slot, and a namespace containing `:` cannot collide with another):
//!
//! - `keel:cache:{NS}:k:KEY` — the value, `SET … PX ttl`;
//! - `keel:cache:{NS}:tag:TAG` — a set of the keys written with TAG (`SADD` in the same
//!   `MULTI` as the `SET`);
//! - `keel:cache:{NS}:stats` — a hash of `hits`/`misses` (`HINCRBY`).
//!
//! Tag sets are not pruned when a key expires or is re-set without the tag, so
//! `invalidate_tags` may over-invalidate such a key (never under-invalidate), and a tag set
//! lives until its tag is invalidated or the namespace cleared. `clear` walks the namespace
//! with `SCAN` and `UNLINK`s in batches. Evictions are Redis's own (`maxmemory-policy`) and
//! are not counted per namespace.

use std::time::Duration;

use async_trait::async_trait;
use keel_core::cache::{Cache, CacheCapabilities, CacheEntry, CacheStats};
use keel_core::{Error, Result};
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, RedisError};
use serde_json::Value;

use crate::check_name;

/// `INCRBY` that gives a key it creates a TTL (`ARGV[2]` ms, 0 = none), atomically: a Lua
/// script runs as one command, so no other client sees the counter without its expiry.
static INCR_SCRIPT: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r"
local existed = redis.call('EXISTS', KEYS[1])
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
if existed == 0 and tonumber(ARGV[2]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return n
",
    )
});

/// A cache in Redis, shared by every process pointed at the same server.
pub struct RedisCache {
    conn: ConnectionManager,
}

fn engine(e: RedisError) -> Error {
    Error::internal(format!("redis: {e}"))
}

fn value_key(ns: &str, key: &str) -> String {
    format!("keel:cache:{{{ns}}}:k:{key}")
}

fn tag_key(ns: &str, tag: &str) -> String {
    format!("keel:cache:{{{ns}}}:tag:{tag}")
}

fn stats_key(ns: &str) -> String {
    format!("keel:cache:{{{ns}}}:stats")
}

fn decode(raw: Option<String>) -> Result<Option<Value>> {
    raw.map(|s| {
        serde_json::from_str(&s).map_err(|e| Error::internal(format!("redis: a cached value is not JSON: {e}")))
    })
    .transpose()
}

fn encode(value: &Value) -> Result<String> {
    serde_json::to_string(value).map_err(Error::internal)
}

fn px(ttl: Duration) -> Result<u64> {
    let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
    if ms > i64::MAX as u64 / 2 {
        return Err(Error::bad_request("the TTL is too long"));
    }
    Ok(ms)
}

impl RedisCache {
    /// A cache on the process's shared Redis connection manager (opened once by the binary
    /// from `[engines] redis_url`); checks the server answers.
    pub async fn new(conn: ConnectionManager) -> Result<Self> {
        let cache = Self { conn };
        cache.ping().await?;
        Ok(cache)
    }

    /// Adds `SET` (+ `SADD` per tag) for one entry to `pipe`.
    fn add_set(
        pipe: &mut redis::Pipeline,
        ns: &str,
        key: &str,
        value: &Value,
        ttl: Option<Duration>,
        tags: &[String],
    ) -> Result<()> {
        check_name("key", key)?;
        let k = value_key(ns, key);
        let cmd = pipe.cmd("SET").arg(&k).arg(encode(value)?);
        if let Some(ttl) = ttl {
            cmd.arg("PX").arg(px(ttl)?);
        }
        cmd.ignore();
        for tag in tags {
            check_name("tag", tag)?;
            pipe.cmd("SADD").arg(tag_key(ns, tag)).arg(key).ignore();
        }
        Ok(())
    }

    /// The values of `keys` with their remaining TTLs (`None`: no expiry), in one pipeline;
    /// counts hits and misses like `get_many`. What the tiered provider fills its memory from.
    pub(crate) async fn fetch_with_ttl(
        &self,
        ns: &str,
        keys: &[String],
    ) -> Result<Vec<Option<(Value, Option<Duration>)>>> {
        check_name("namespace", ns)?;
        let mut pipe = redis::pipe();
        for key in keys {
            check_name("key", key)?;
            let k = value_key(ns, key);
            pipe.get(&k).cmd("PTTL").arg(&k);
        }
        let raw: Vec<(Option<String>, i64)> = pipe.query_async(&mut self.conn.clone()).await.map_err(engine)?;
        let hits = raw.iter().filter(|(v, _)| v.is_some()).count() as u64;
        self.count(ns, hits, keys.len() as u64 - hits).await?;
        raw.into_iter()
            .map(|(v, pttl)| {
                let ttl = (pttl >= 0).then(|| Duration::from_millis(pttl.max(1) as u64));
                Ok(decode(v)?.map(|v| (v, ttl)))
            })
            .collect()
    }

    async fn count(&self, ns: &str, hits: u64, misses: u64) -> Result<()> {
        let mut pipe = redis::pipe();
        if hits > 0 {
            pipe.hincr(stats_key(ns), "hits", hits).ignore();
        }
        if misses > 0 {
            pipe.hincr(stats_key(ns), "misses", misses).ignore();
        }
        pipe.query_async::<()>(&mut self.conn.clone()).await.map_err(engine)
    }
}

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, ns: &str, key: &str) -> Result<Option<Value>> {
        check_name("namespace", ns)?;
        check_name("key", key)?;
        let raw: Option<String> = self.conn.clone().get(value_key(ns, key)).await.map_err(engine)?;
        let hit = raw.is_some();
        self.count(ns, u64::from(hit), u64::from(!hit)).await?;
        decode(raw)
    }

    async fn set(&self, ns: &str, key: &str, value: Value, ttl: Option<Duration>, tags: &[String]) -> Result<()> {
        check_name("namespace", ns)?;
        let mut pipe = redis::pipe();
        pipe.atomic();
        Self::add_set(&mut pipe, ns, key, &value, ttl, tags)?;
        pipe.query_async::<()>(&mut self.conn.clone()).await.map_err(engine)
    }

    async fn delete(&self, ns: &str, key: &str) -> Result<bool> {
        check_name("namespace", ns)?;
        check_name("key", key)?;
        let n: u64 = self.conn.clone().unlink(value_key(ns, key)).await.map_err(engine)?;
        Ok(n > 0)
    }

    async fn exists(&self, ns: &str, key: &str) -> Result<bool> {
        check_name("namespace", ns)?;
        check_name("key", key)?;
        self.conn.clone().exists(value_key(ns, key)).await.map_err(engine)
    }

    async fn incr(&self, ns: &str, key: &str, by: i64, ttl: Option<Duration>) -> Result<i64> {
        check_name("namespace", ns)?;
        check_name("key", key)?;
        let ttl_ms = ttl.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1));
        let res: std::result::Result<i64, RedisError> = INCR_SCRIPT
            .key(value_key(ns, key))
            .arg(by)
            .arg(ttl_ms.unwrap_or(0))
            .invoke_async(&mut self.conn.clone())
            .await;
        res.map_err(|e| {
            let msg = e.to_string();
            if msg.contains("not an integer") || msg.contains("overflow") {
                Error::bad_request("the cached value is not an integer (or the increment overflows)")
            } else {
                engine(e)
            }
        })
    }

    async fn get_many(&self, ns: &str, keys: &[String]) -> Result<Vec<Option<Value>>> {
        check_name("namespace", ns)?;
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut names = Vec::with_capacity(keys.len());
        for key in keys {
            check_name("key", key)?;
            names.push(value_key(ns, key));
        }
        let raw: Vec<Option<String>> = redis::cmd("MGET")
            .arg(&names)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(engine)?;
        let hits = raw.iter().filter(|v| v.is_some()).count() as u64;
        self.count(ns, hits, raw.len() as u64 - hits).await?;
        raw.into_iter().map(decode).collect()
    }

    async fn set_many(&self, ns: &str, entries: Vec<CacheEntry>) -> Result<()> {
        check_name("namespace", ns)?;
        if entries.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        for e in &entries {
            Self::add_set(&mut pipe, ns, &e.key, &e.value, e.ttl, &e.tags)?;
        }
        pipe.query_async::<()>(&mut self.conn.clone()).await.map_err(engine)
    }

    async fn invalidate_tags(&self, ns: &str, tags: &[String]) -> Result<u64> {
        check_name("namespace", ns)?;
        if tags.is_empty() {
            return Ok(0);
        }
        let sets: Vec<String> = tags.iter().map(|t| tag_key(ns, t)).collect();
        let mut conn = self.conn.clone();
        let keys: Vec<String> = conn.sunion(&sets).await.map_err(engine)?;
        let mut removed = 0u64;
        for chunk in keys.chunks(500) {
            let names: Vec<String> = chunk.iter().map(|k| value_key(ns, k)).collect();
            let n: u64 = conn.unlink(&names).await.map_err(engine)?;
            removed += n;
        }
        let _: u64 = conn.unlink(&sets).await.map_err(engine)?;
        Ok(removed)
    }

    async fn clear(&self, ns: &str) -> Result<u64> {
        check_name("namespace", ns)?;
        let mut conn = self.conn.clone();
        let pattern = format!("keel:cache:{{{ns}}}:*");
        let value_prefix = value_key(ns, "");
        let mut cursor: u64 = 0;
        let mut removed = 0u64;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(500)
                .query_async(&mut conn)
                .await
                .map_err(engine)?;
            let (values, others): (Vec<String>, Vec<String>) =
                batch.into_iter().partition(|k| k.starts_with(&value_prefix));
            if !values.is_empty() {
                let n: u64 = conn.unlink(&values).await.map_err(engine)?;
                removed += n;
            }
            if !others.is_empty() {
                let _: u64 = conn.unlink(&others).await.map_err(engine)?;
            }
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        Ok(removed)
    }

    async fn stats(&self, ns: &str) -> Result<CacheStats> {
        check_name("namespace", ns)?;
        let (hits, misses): (Option<u64>, Option<u64>) = redis::cmd("HMGET")
            .arg(stats_key(ns))
            .arg("hits")
            .arg("misses")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(engine)?;
        Ok(CacheStats {
            hits: hits.unwrap_or(0),
            misses: misses.unwrap_or(0),
            evictions: 0,
            keys: None,
        })
    }

    fn name(&self) -> &'static str {
        "redis"
    }

    fn capabilities(&self) -> CacheCapabilities {
        CacheCapabilities {
            tags: true,
            size_aware_eviction: false,
            shared: true,
        }
    }

    async fn ping(&self) -> Result<()> {
        let pong: String = redis::cmd("PING")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(engine)?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(Error::internal(format!("redis answered {pong:?} to PING")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_with_colons_do_not_collide() {
        assert_ne!(value_key("a:k", "x"), value_key("a", "k:x"));
        assert_ne!(value_key("a", "stats"), stats_key("a"));
        assert_ne!(value_key("a", "tag:x"), tag_key("a", "x"));
    }
}
