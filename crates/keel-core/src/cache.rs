//! The `Cache` contract: namespaced JSON values with optional TTL and tags.
//!
//! Callers hold a provider as `Arc<dyn Cache>`. Every provider (in `keel-cache`) passes the
//! behaviour suite in `keel-testkit`. The guarantees every provider keeps:
//!
//! - **Namespaces isolate keys**: the same key in two namespaces is two entries, and no
//!   operation on one namespace reads, changes or counts another's.
//! - **Values are JSON** and come back equal to what was stored.
//! - **A TTL is an upper bound on visibility**: once it has elapsed, `get`/`exists` no longer
//!   see the entry (storage may be reclaimed later). `None` means no expiry, but a cache may
//!   still evict any entry at any time to stay within its budget: never rely on a cache as
//!   the only copy of anything.
//! - **`set` replaces** the value, the TTL and the tags of a key.
//! - **`incr` is atomic**: concurrent increments are never lost. A missing key starts at 0;
//!   the entry keeps its TTL and tags. A value that is not an integer is refused with
//!   [`Error::bad_request`](crate::Error::bad_request) and left unchanged.
//! - **`invalidate_tags` never under-invalidates**: every key set with one of the tags is
//!   gone afterwards. A provider may over-invalidate (a key re-set without the tag while the
//!   invalidation runs); it says so in its docs.
//! - **Stats are per namespace** and best-effort counters, reset by `clear`.
//! - **A crash loses the memory provider's content**; a server-backed provider keeps what
//!   its server keeps. Nothing in a cache is durable by contract.

use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;

use crate::Result;

/// Counters of one namespace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CacheStats {
    /// `get`s (and keys of `get_many`) that found a value.
    pub hits: u64,
    /// `get`s (and keys of `get_many`) that found nothing.
    pub misses: u64,
    /// Entries the cache removed on its own to stay within its budget (0 when the provider
    /// cannot tell per namespace).
    pub evictions: u64,
    /// Live entries in the namespace, when the provider can count them cheaply.
    pub keys: Option<u64>,
}

/// What a provider supports beyond the contract's core.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CacheCapabilities {
    /// `set` honours tags and `invalidate_tags` works (otherwise tagged writes are refused).
    pub tags: bool,
    /// Eviction accounts for each entry's size (a byte budget), not just an entry count.
    pub size_aware_eviction: bool,
    /// Entries live in a server: shared by every Keel process and kept across their restarts.
    pub shared: bool,
}

/// One entry of a `set_many`.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheEntry {
    pub key: String,
    pub value: Value,
    pub ttl: Option<Duration>,
    pub tags: Vec<String>,
}

/// Namespaces starting with this prefix are Keel's own (sign-in lockout counters, rate-limit
/// windows, OAuth2 state): the cache API refuses them, so no caller can read or clear them.
pub const INTERNAL_NAMESPACE_PREFIX: &str = "keel-";

/// A namespaced key/value cache of JSON values. See the module docs for the guarantees.
#[async_trait]
pub trait Cache: Send + Sync + 'static {
    /// The value of `key`, or `None` if missing or expired. Counts a hit or a miss.
    async fn get(&self, ns: &str, key: &str) -> Result<Option<Value>>;

    /// Stores `value` under `key`, replacing any value, TTL and tags it had.
    async fn set(&self, ns: &str, key: &str, value: Value, ttl: Option<Duration>, tags: &[String]) -> Result<()>;

    /// Removes `key`; `true` if it was there.
    async fn delete(&self, ns: &str, key: &str) -> Result<bool>;

    /// Whether `key` holds a live value. Does not count a hit or a miss.
    async fn exists(&self, ns: &str, key: &str) -> Result<bool>;

    /// Atomically adds `by` to the integer under `key` (a missing key starts at 0) and
    /// returns the new value. A non-integer value (or an overflow) is a bad request.
    /// `ttl` applies only when this call creates the key (it was missing or expired): the
    /// counter then expires `ttl` later, and later increments keep that expiry, so a fixed
    /// window counter is one atomic call (Redis `INCRBY` + `EXPIRE NX` in one transaction).
    async fn incr(&self, ns: &str, key: &str, by: i64, ttl: Option<Duration>) -> Result<i64>;

    /// The values of `keys`, in order (`None` for a missing one). Counts hits and misses.
    async fn get_many(&self, ns: &str, keys: &[String]) -> Result<Vec<Option<Value>>>;

    /// Stores every entry. Each entry is set as by `set`; the batch is not a transaction
    /// unless the provider says so.
    async fn set_many(&self, ns: &str, entries: Vec<CacheEntry>) -> Result<()>;

    /// Deletes every key carrying any of `tags`; returns how many entries it removed.
    async fn invalidate_tags(&self, ns: &str, tags: &[String]) -> Result<u64>;

    /// Removes every entry, tag and counter of the namespace; returns the entries removed.
    async fn clear(&self, ns: &str) -> Result<u64>;

    /// The namespace's counters.
    async fn stats(&self, ns: &str) -> Result<CacheStats>;

    /// The provider's name (`memory`, `redis`).
    fn name(&self) -> &'static str;

    /// What this provider supports.
    fn capabilities(&self) -> CacheCapabilities;

    /// Checks the backing engine answers (always `Ok` in process).
    async fn ping(&self) -> Result<()>;
}
