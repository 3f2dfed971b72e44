//! The Memcached provider: a small pool of `async-memcached` connections speaking the meta
//! protocol, values as JSON envelopes.
//!
//! Memcached has no namespaces, tags or key listing, so they are built from **generation
//! keys**. Layout of a namespace `NS` (`L` is the byte length of `NS`, which makes a key
//! unambiguous whatever `NS` contains; `G` is the namespace's current generation):
//!
//! - `keel:g:NS` — the namespace generation, a counter created with a random value;
//! - `keel:k:L:NS:G:KEY` — an entry: `{"v": value, "e": deadline in Unix ms, "t": [[tag, generation], …]}`;
//! - `keel:t:L:NS:G:TAG` — a tag's generation, created with a random value;
//! - `keel:ni:L:NS:G` and `keel:ti:L:NS:G:TG:TAG` — append-only indexes of the keys written in
//!   the namespace / with tag TAG at tag generation TG, only used to *count* what `clear` and
//!   `invalidate_tags` remove;
//! - `keel:h:L:NS:G` / `keel:m:L:NS:G` — the hit and miss counters.
//!
//! A key longer than memcached's 250 bytes, or holding a byte outside printable ASCII, is
//! replaced by `keel:x:` + the SHA-256 of the whole key.
//!
//! `clear` increments the namespace generation: every old key (entries, tags, counters) is
//! orphaned at once, then the ones the index names are deleted and memcached's LRU evicts the
//! rest. `invalidate_tags` increments each tag's generation; an entry is live only while
//! every tag it carries still has the generation it was written with (checked with one
//! multi-get per read) and its deadline has not passed. A `set` racing an invalidation of
//! one of its tags may be invalidated too (over-invalidation); nothing written before
//! `invalidate_tags` returns can be seen after it (no under-invalidation). A generation key
//! that memcached evicts is recreated with a fresh random value, which orphans what it
//! guarded instead of resurrecting it.
//!
//! `incr` is a compare-and-swap loop (`mg … c` then `ms … C<cas>`, `ms … ME` for a missing
//! key): atomic, keeps the entry's deadline and tags. Counters and generations use
//! memcached's own atomic `ma`.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_memcached::{AsciiProtocol, Client, ErrorKind, MetaProtocol, Status};
use async_trait::async_trait;
use keel_core::cache::{Cache, CacheCapabilities, CacheEntry, CacheStats};
use keel_core::config::redact_url;
use keel_core::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::check_name;

/// Connections kept open to the server (each call holds one while it runs).
const POOL_SIZE: usize = 16;
/// How long opening a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Keys per pipelined multi-get (keeps a request well inside the socket buffers).
const MULTI_CHUNK: usize = 64;
/// Memcached's key length limit.
const MAX_KEY_LEN: usize = 250;
/// Compare-and-swap attempts an `incr` makes before giving up.
const CAS_ATTEMPTS: u32 = 200;
/// Memcached reads an expiry above 30 days as a Unix timestamp.
const RELATIVE_EXPIRY_MAX: u64 = 30 * 24 * 3600;

/// The Memcached provider's settings.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct MemcachedConfig {
    /// `memcache://[user:password@]host[:port]` (also `memcached://` or `tcp://`; port 11211
    /// by default) or `unix:///path/to/socket`. The user and password are for a server run
    /// with `-Y` (ASCII authentication); they are sent only if the server asks.
    pub url: String,
}

impl Default for MemcachedConfig {
    fn default() -> Self {
        Self {
            url: "memcache://127.0.0.1:11211".into(),
        }
    }
}

impl std::fmt::Debug for MemcachedConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemcachedConfig")
            .field("url", &redact_url(&self.url))
            .finish()
    }
}

/// A cache in memcached, shared by every process pointed at the same server.
pub struct MemcachedCache {
    pool: Pool,
}

fn engine(e: async_memcached::Error) -> Error {
    Error::internal(format!("memcached: {e}"))
}

/// Where to connect, as `async-memcached` spells it, and the credentials if any.
struct Endpoint {
    dsn: String,
    auth: Option<(String, String)>,
}

fn parse_url(url: &str) -> Result<Endpoint> {
    let bad = |why: String| Error::bad_request(format!("invalid memcached url {}: {why}", redact_url(url)));
    let parsed = url::Url::parse(url).map_err(|e| bad(e.to_string()))?;
    let auth = if parsed.username().is_empty() && parsed.password().is_none() {
        None
    } else {
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| bad("the credentials are not UTF-8".into()))
        };
        Some((decode(parsed.username())?, decode(parsed.password().unwrap_or(""))?))
    };
    let dsn = match parsed.scheme() {
        "memcache" | "memcached" | "tcp" => {
            let host = parsed
                .host_str()
                .filter(|h| !h.is_empty())
                .ok_or_else(|| bad("no host".into()))?;
            format!("tcp://{host}:{}", parsed.port().unwrap_or(11211))
        }
        "unix" if !parsed.path().is_empty() => format!("unix://{}", parsed.path()),
        other => {
            return Err(bad(format!(
                "unsupported scheme {other:?}: use memcache://HOST:PORT or unix:///PATH"
            )))
        }
    };
    Ok(Endpoint { dsn, auth })
}

/// Up to [`POOL_SIZE`] connections; a broken one is dropped and replaced on next use.
struct Pool {
    endpoint: Endpoint,
    idle: Mutex<Vec<Client>>,
    permits: Semaphore,
}

impl Pool {
    async fn get(&self) -> Result<Conn<'_>> {
        let permit = self.permits.acquire().await.map_err(Error::internal)?;
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let client = match idle {
            Some(client) => client,
            None => self.connect().await?,
        };
        Ok(Conn {
            client: Some(client),
            pool: self,
            _permit: permit,
        })
    }

    async fn connect(&self) -> Result<Client> {
        let mut client = tokio::time::timeout(CONNECT_TIMEOUT, Client::new(&self.endpoint.dsn))
            .await
            .map_err(|_| Error::internal("memcached: connecting timed out"))?
            .map_err(engine)?;
        if let Some((user, password)) = &self.endpoint.auth {
            // A server run with -Y answers every command with "unauthenticated" until the
            // client sends `set <any> 0 0 <n>` with "user password" as the data. Probe first so
            // the credentials are never stored as a value on a server without authentication.
            match client.meta_get("keel:auth", false, None, Some(&["v"])).await {
                Err(async_memcached::Error::Protocol(Status::Error(ErrorKind::Client(msg))))
                    if msg.contains("unauthenticated") =>
                {
                    client
                        .set("keel:auth", format!("{user} {password}").as_str(), None, None)
                        .await
                        .map_err(|_| Error::internal("memcached: authentication failed"))?;
                }
                Err(e) => return Err(engine(e)),
                Ok(_) => tracing::debug!("memcached does not require authentication; the url's credentials are unused"),
            }
        }
        Ok(client)
    }
}

/// One pooled connection, returned to the pool on drop unless it broke.
struct Conn<'a> {
    client: Option<Client>,
    pool: &'a Pool,
    _permit: SemaphorePermit<'a>,
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            if !client.is_closed() {
                self.pool.idle.lock().unwrap_or_else(|e| e.into_inner()).push(client);
            }
        }
    }
}

/// How `Conn::store` writes.
#[derive(Clone, Copy)]
enum Mode {
    /// Replace whatever is there.
    Set,
    /// Only if the key is missing.
    Add,
    /// Only if the key still has this CAS value.
    Cas(u64),
}

impl Conn<'_> {
    fn client(&mut self) -> Result<&mut Client> {
        self.client
            .as_mut()
            .ok_or_else(|| Error::internal("memcached: the connection was already released"))
    }

    async fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>> {
        let found = self
            .client()?
            .meta_get(key, false, None, Some(&["v"]))
            .await
            .map_err(engine)?;
        Ok(found.and_then(|v| v.data))
    }

    /// The value and its CAS token.
    async fn gets(&mut self, key: &str) -> Result<Option<(Vec<u8>, u64)>> {
        let found = self
            .client()?
            .meta_get(key, false, None, Some(&["v", "c"]))
            .await
            .map_err(engine)?;
        match found {
            Some(v) => match (v.data, v.cas) {
                (Some(data), Some(cas)) => Ok(Some((data, cas))),
                _ => Err(Error::internal("memcached: a get with CAS returned no value or token")),
            },
            None => Ok(None),
        }
    }

    /// The values of the keys found, by key (pipelined in chunks).
    async fn get_multi(&mut self, keys: &[String]) -> Result<HashMap<String, Vec<u8>>> {
        let unique: Vec<&String> = keys.iter().collect::<HashSet<_>>().into_iter().collect();
        let mut found = HashMap::with_capacity(unique.len());
        for chunk in unique.chunks(MULTI_CHUNK) {
            let values = self
                .client()?
                .meta_get_multi(chunk, Some(&["v"]))
                .await
                .map_err(engine)?;
            for v in values {
                if let (Some(key), Some(data)) = (v.key, v.data) {
                    found.insert(String::from_utf8_lossy(&key).into_owned(), data);
                }
            }
        }
        Ok(found)
    }

    /// Writes `data`; `false` when the mode's condition failed (present for `Add`, changed or
    /// gone for `Cas`). `exptime` is memcached's (0 = no expiry).
    async fn store(&mut self, key: &str, data: &[u8], mode: Mode, exptime: u64) -> Result<bool> {
        let ttl = format!("T{exptime}");
        let cas;
        let flags: Vec<&str> = match mode {
            Mode::Set => vec![ttl.as_str()],
            Mode::Add => vec!["ME", ttl.as_str()],
            Mode::Cas(token) => {
                cas = format!("C{token}");
                vec![cas.as_str(), ttl.as_str()]
            }
        };
        match self.client()?.meta_set(key, data, false, None, Some(&flags)).await {
            Ok(_) => Ok(true),
            Err(async_memcached::Error::Protocol(Status::NotStored | Status::Exists | Status::NotFound)) => Ok(false),
            Err(async_memcached::Error::Protocol(Status::Error(ErrorKind::Server(msg))))
                if msg.contains("too large") =>
            {
                Err(Error::TooLarge(format!(
                    "the cache entry ({} bytes encoded) is over memcached's item size limit (1 MB unless the server \
                     runs with -I)",
                    data.len()
                )))
            }
            Err(e) => Err(engine(e)),
        }
    }

    /// Adds `delta` to the counter `key` atomically, creating it with `initial` (and no
    /// expiry) if missing; returns the counter's value.
    async fn arith(&mut self, key: &str, delta: u64, initial: u64) -> Result<u64> {
        let initial = format!("J{initial}");
        let found = self
            .client()?
            .meta_increment(key, false, None, Some(delta), Some(&["N0", initial.as_str(), "v"]))
            .await
            .map_err(engine)?;
        found
            .and_then(|v| v.data)
            .and_then(|d| parse_u64(&d))
            .ok_or_else(|| Error::internal(format!("memcached: the counter {key} returned no number")))
    }

    async fn delete(&mut self, key: &str) -> Result<bool> {
        match self.client()?.meta_delete(key, false, None, None).await {
            Ok(_) => Ok(true),
            Err(async_memcached::Error::Protocol(Status::NotFound)) => Ok(false),
            Err(e) => Err(engine(e)),
        }
    }

    /// Deletes without waiting for answers (cleanup of orphaned keys).
    async fn delete_quietly(&mut self, keys: &[String]) -> Result<()> {
        for chunk in keys.chunks(MULTI_CHUNK) {
            self.client()?.delete_multi_no_reply(chunk).await.map_err(engine)?;
        }
        Ok(())
    }
}

fn parse_u64(data: &[u8]) -> Option<u64> {
    std::str::from_utf8(data).ok()?.trim().parse().ok()
}

/// `raw` if memcached accepts it as a key, else a fixed-length hash of it.
fn mc_key(raw: String) -> String {
    if raw.len() <= MAX_KEY_LEN && raw.bytes().all(|b| b.is_ascii_graphic()) {
        return raw;
    }
    let mut out = String::with_capacity(71);
    out.push_str("keel:x:");
    for b in Sha256::digest(raw.as_bytes()) {
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn gen_key(ns: &str) -> String {
    mc_key(format!("keel:g:{ns}"))
}

/// The keys of one generation of one namespace.
struct Scope {
    /// `L:NS:G`.
    id: String,
}

impl Scope {
    fn new(ns: &str, generation: u64) -> Self {
        Self {
            id: format!("{}:{ns}:{generation}", ns.len()),
        }
    }

    fn data(&self, key: &str) -> String {
        mc_key(format!("keel:k:{}:{key}", self.id))
    }

    fn tag_gen(&self, tag: &str) -> String {
        mc_key(format!("keel:t:{}:{tag}", self.id))
    }

    fn tag_index(&self, tag: &str, tag_gen: u64) -> String {
        mc_key(format!("keel:ti:{}:{tag_gen}:{tag}", self.id))
    }

    fn ns_index(&self) -> String {
        mc_key(format!("keel:ni:{}", self.id))
    }

    fn hits(&self) -> String {
        mc_key(format!("keel:h:{}", self.id))
    }

    fn misses(&self) -> String {
        mc_key(format!("keel:m:{}", self.id))
    }
}

/// What an entry's memcached item holds.
#[derive(Serialize, Deserialize)]
struct Envelope {
    v: Value,
    /// Deadline in Unix milliseconds (memcached's own expiry is in whole seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    e: Option<u64>,
    /// Each tag with its generation at write time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    t: Vec<(String, u64)>,
}

impl Envelope {
    fn encode(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(Error::internal)
    }

    fn decode(raw: &[u8]) -> Result<Self> {
        serde_json::from_slice(raw)
            .map_err(|e| Error::internal(format!("memcached: a cached entry is not a keel envelope: {e}")))
    }

    /// Visible at `now` given the tags' current generations.
    fn live(&self, now: u64, gens: &HashMap<String, u64>) -> bool {
        self.e.is_none_or(|e| e > now) && self.t.iter().all(|(tag, g)| gens.get(tag) == Some(g))
    }
}

fn now_ms() -> Result<u64> {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).map_err(Error::internal)?;
    Ok(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
}

fn deadline(ttl: Option<Duration>, now: u64) -> Result<Option<u64>> {
    ttl.map(|ttl| {
        u64::try_from(ttl.as_millis())
            .ok()
            .and_then(|ms| now.checked_add(ms.max(1)))
            .ok_or_else(|| Error::bad_request("the TTL is too long"))
    })
    .transpose()
}

/// Memcached's expiry for a deadline: whole seconds with a second of slack (the envelope's
/// deadline decides visibility), as a Unix time beyond 30 days, 0 (none) past 2038.
fn exptime(deadline: Option<u64>, now: u64) -> u64 {
    let Some(deadline) = deadline else {
        return 0;
    };
    let secs = deadline.saturating_sub(now).max(1).div_ceil(1000) + 1;
    if secs <= RELATIVE_EXPIRY_MAX {
        return secs;
    }
    let at = now / 1000 + secs;
    if at > i32::MAX as u64 {
        0
    } else {
        at
    }
}

/// A fresh generation: random, so one recreated after an eviction never repeats an old one.
fn fresh_generation() -> u64 {
    rand::random::<u64>() >> 2
}

/// One key record of an index: `LEN:KEY`.
fn index_record(key: &str) -> Vec<u8> {
    format!("{}:{key}", key.len()).into_bytes()
}

/// The keys of an index, in order, without repeats. Stops at a malformed record.
fn parse_index(raw: &[u8]) -> Vec<String> {
    let mut keys = Vec::new();
    let mut seen = HashSet::new();
    let mut rest = raw;
    while !rest.is_empty() {
        let Some(colon) = rest.iter().position(|&b| b == b':') else {
            break;
        };
        let Some(len) = parse_u64(&rest[..colon]).and_then(|n| usize::try_from(n).ok()) else {
            break;
        };
        let start = colon + 1;
        let Some(end) = start.checked_add(len).filter(|&end| end <= rest.len()) else {
            break;
        };
        let Ok(key) = std::str::from_utf8(&rest[start..end]) else {
            break;
        };
        if seen.insert(key) {
            keys.push(key.to_string());
        }
        rest = &rest[end..];
    }
    keys
}

/// Which index a record goes to.
#[derive(Clone)]
enum IndexOf {
    Namespace,
    Tag(String, u64),
}

struct IndexAppend {
    key: String,
    of: IndexOf,
    records: Vec<u8>,
}

/// One entry of a `set`/`set_many`, checked.
struct Write {
    key: String,
    value: Value,
    ttl: Option<Duration>,
    tags: Vec<String>,
}

impl MemcachedCache {
    /// Connects and checks the server answers.
    pub async fn connect(cfg: MemcachedConfig) -> Result<Self> {
        let endpoint = parse_url(&cfg.url)?;
        let cache = Self {
            pool: Pool {
                endpoint,
                idle: Mutex::new(Vec::new()),
                permits: Semaphore::new(POOL_SIZE),
            },
        };
        cache.ping().await?;
        Ok(cache)
    }

    /// The namespace's generation, created if missing.
    async fn generation(conn: &mut Conn<'_>, ns: &str) -> Result<u64> {
        conn.arith(&gen_key(ns), 0, fresh_generation()).await
    }

    /// The namespace's generation, or `None` if it has none (then it holds nothing).
    async fn existing_generation(conn: &mut Conn<'_>, ns: &str) -> Result<Option<u64>> {
        let raw = conn.get(&gen_key(ns)).await?;
        raw.map(|raw| {
            parse_u64(&raw).ok_or_else(|| Error::internal("memcached: a namespace generation is not a number"))
        })
        .transpose()
    }

    /// The current generations of `tags` that have one.
    async fn tag_gens<'t>(
        conn: &mut Conn<'_>,
        scope: &Scope,
        tags: impl IntoIterator<Item = &'t str>,
    ) -> Result<HashMap<String, u64>> {
        let by_key: HashMap<String, &str> = tags.into_iter().map(|t| (scope.tag_gen(t), t)).collect();
        if by_key.is_empty() {
            return Ok(HashMap::new());
        }
        let keys: Vec<String> = by_key.keys().cloned().collect();
        let found = conn.get_multi(&keys).await?;
        let mut gens = HashMap::with_capacity(found.len());
        for (key, raw) in found {
            if let (Some(tag), Some(g)) = (by_key.get(&key), parse_u64(&raw)) {
                gens.insert(tag.to_string(), g);
            }
        }
        Ok(gens)
    }

    /// The entries of `keys` found (decoded), by user key.
    async fn entries(conn: &mut Conn<'_>, scope: &Scope, keys: &[String]) -> Result<HashMap<String, Envelope>> {
        let by_data: HashMap<String, &String> = keys.iter().map(|k| (scope.data(k), k)).collect();
        let data_keys: Vec<String> = by_data.keys().cloned().collect();
        let found = conn.get_multi(&data_keys).await?;
        let mut out = HashMap::with_capacity(found.len());
        for (data_key, raw) in found {
            if let Some(key) = by_data.get(&data_key) {
                out.insert((*key).clone(), Envelope::decode(&raw)?);
            }
        }
        Ok(out)
    }

    /// The tags' current generations for checking `entries`.
    async fn gens_for<'e>(
        conn: &mut Conn<'_>,
        scope: &Scope,
        entries: impl IntoIterator<Item = &'e Envelope>,
    ) -> Result<HashMap<String, u64>> {
        let tags: HashSet<&str> = entries
            .into_iter()
            .flat_map(|e| e.t.iter().map(|(t, _)| t.as_str()))
            .collect();
        Self::tag_gens(conn, scope, tags).await
    }

    async fn count(conn: &mut Conn<'_>, scope: &Scope, hits: u64, misses: u64) -> Result<()> {
        if hits > 0 {
            conn.arith(&scope.hits(), hits, hits).await?;
        }
        if misses > 0 {
            conn.arith(&scope.misses(), misses, misses).await?;
        }
        Ok(())
    }

    /// Stores every write (each as by `set`), then indexes the new keys and tags.
    async fn write(&self, ns: &str, writes: Vec<Write>) -> Result<()> {
        check_name("namespace", ns)?;
        for w in &writes {
            check_name("key", &w.key)?;
            for tag in &w.tags {
                check_name("tag", tag)?;
            }
        }
        if writes.is_empty() {
            return Ok(());
        }
        let mut conn = self.pool.get().await?;
        let scope = Scope::new(ns, Self::generation(&mut conn, ns).await?);
        let all_tags: HashSet<&str> = writes.iter().flat_map(|w| w.tags.iter().map(String::as_str)).collect();
        let mut gens = Self::tag_gens(&mut conn, &scope, all_tags.iter().copied()).await?;
        for tag in all_tags {
            if !gens.contains_key(tag) {
                let g = conn.arith(&scope.tag_gen(tag), 0, fresh_generation()).await?;
                gens.insert(tag.to_string(), g);
            }
        }
        let now = now_ms()?;
        let mut appends: HashMap<String, IndexAppend> = HashMap::new();
        let mut index = |key: String, of: IndexOf, record: &[u8]| {
            appends
                .entry(key.clone())
                .or_insert_with(|| IndexAppend {
                    key,
                    of,
                    records: Vec::new(),
                })
                .records
                .extend_from_slice(record);
        };
        // Everything that can be refused up front is, before anything is written.
        let mut prepared = Vec::with_capacity(writes.len());
        for w in writes {
            let mut tags: Vec<(String, u64)> = Vec::with_capacity(w.tags.len());
            for tag in w.tags {
                if tags.iter().all(|(t, _)| *t != tag) {
                    let g = gens.get(&tag).copied().unwrap_or_default();
                    tags.push((tag, g));
                }
            }
            let e = deadline(w.ttl, now)?;
            let envelope = Envelope { v: w.value, e, t: tags };
            let data = envelope.encode()?;
            prepared.push((w.key, envelope.t, data, exptime(e, now)));
        }
        let mut failed = None;
        for (user_key, tags, data, exp) in &prepared {
            let created = match Self::put(&mut conn, &scope.data(user_key), data, *exp).await {
                Ok(created) => created,
                Err(e) => {
                    // What is stored so far still gets indexed below.
                    failed = Some(e);
                    break;
                }
            };
            let record = index_record(user_key);
            if created {
                index(scope.ns_index(), IndexOf::Namespace, &record);
            }
            for (tag, g) in tags {
                index(scope.tag_index(tag, *g), IndexOf::Tag(tag.clone(), *g), &record);
            }
        }
        let appends: Vec<IndexAppend> = appends.into_values().collect();
        let indexed = Self::append_indexes(&mut conn, &scope, appends).await;
        match failed {
            Some(e) => Err(e),
            None => indexed,
        }
    }

    /// Stores one entry; `true` if the key was new to this generation. `add` first, so a
    /// key goes into the namespace index once per generation, not once per write.
    async fn put(conn: &mut Conn<'_>, key: &str, data: &[u8], exp: u64) -> Result<bool> {
        if conn.store(key, data, Mode::Add, exp).await? {
            return Ok(true);
        }
        if conn.store(key, data, Mode::Set, exp).await? {
            return Ok(false);
        }
        Err(Error::internal("memcached refused a set"))
    }

    /// Appends index records. An index is only used for counts, so one that cannot be
    /// written (over the item size limit even once compacted) is logged, not an error.
    async fn append_indexes(conn: &mut Conn<'_>, scope: &Scope, appends: Vec<IndexAppend>) -> Result<()> {
        for chunk in appends.chunks(MULTI_CHUNK) {
            let items: Vec<(&str, &[u8])> = chunk.iter().map(|a| (a.key.as_str(), a.records.as_slice())).collect();
            let refused = conn
                .client()?
                .meta_set_multi(&items, Some(&["MA"]))
                .await
                .map_err(engine)?;
            let refused: HashSet<String> = refused
                .into_iter()
                .filter_map(|v| v.key.map(|k| String::from_utf8_lossy(&k).into_owned()))
                .collect();
            for a in chunk.iter().filter(|a| refused.contains(&a.key)) {
                // Missing (create it) or full (compact it).
                if !conn.store(&a.key, &a.records, Mode::Add, 0).await? {
                    Self::compact_index(conn, scope, a).await?;
                }
            }
        }
        Ok(())
    }

    /// Rewrites an index without repeats and without keys no longer live, plus the new
    /// records; compare-and-swap, a few attempts.
    async fn compact_index(conn: &mut Conn<'_>, scope: &Scope, append: &IndexAppend) -> Result<()> {
        for _ in 0..3 {
            let Some((raw, cas)) = conn.gets(&append.key).await? else {
                if conn.store(&append.key, &append.records, Mode::Add, 0).await? {
                    return Ok(());
                }
                continue;
            };
            let keys = parse_index(&raw);
            let entries = Self::entries(conn, scope, &keys).await?;
            let now = now_ms()?;
            let mut rewritten = Vec::with_capacity(raw.len() / 2 + append.records.len());
            for key in &keys {
                let Some(entry) = entries.get(key) else {
                    continue;
                };
                let keep = entry.e.is_none_or(|e| e > now)
                    && match &append.of {
                        IndexOf::Namespace => true,
                        IndexOf::Tag(tag, g) => entry.t.iter().any(|(t, eg)| t == tag && eg == g),
                    };
                if keep {
                    rewritten.extend_from_slice(&index_record(key));
                }
            }
            rewritten.extend_from_slice(&append.records);
            match conn.store(&append.key, &rewritten, Mode::Cas(cas), 0).await {
                Ok(true) => return Ok(()),
                Ok(false) => continue,
                Err(Error::TooLarge(_)) => {
                    tracing::warn!(
                        index = %append.key,
                        live_keys = keys.len(),
                        "memcached cache: an index is over the item size limit; clear/invalidate counts will be low"
                    );
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
        tracing::warn!(index = %append.key, "memcached cache: gave up compacting a busy index; counts may be low");
        Ok(())
    }

    /// The live entry of `key`.
    async fn live_entry(conn: &mut Conn<'_>, scope: &Scope, key: &str) -> Result<Option<Envelope>> {
        let Some(raw) = conn.get(&scope.data(key)).await? else {
            return Ok(None);
        };
        let entry = Envelope::decode(&raw)?;
        let gens = Self::gens_for(conn, scope, [&entry]).await?;
        Ok(entry.live(now_ms()?, &gens).then_some(entry))
    }
}

#[async_trait]
impl Cache for MemcachedCache {
    async fn get(&self, ns: &str, key: &str) -> Result<Option<Value>> {
        check_name("namespace", ns)?;
        check_name("key", key)?;
        let mut conn = self.pool.get().await?;
        let scope = Scope::new(ns, Self::generation(&mut conn, ns).await?);
        let found = Self::live_entry(&mut conn, &scope, key).await?.map(|e| e.v);
        let hit = found.is_some();
        Self::count(&mut conn, &scope, u64::from(hit), u64::from(!hit)).await?;
        Ok(found)
    }

    async fn set(&self, ns: &str, key: &str, value: Value, ttl: Option<Duration>, tags: &[String]) -> Result<()> {
        self.write(
            ns,
            vec![Write {
                key: key.to_string(),
                value,
                ttl,
                tags: tags.to_vec(),
            }],
        )
        .await
    }

    async fn delete(&self, ns: &str, key: &str) -> Result<bool> {
        check_name("namespace", ns)?;
        check_name("key", key)?;
        let mut conn = self.pool.get().await?;
        let Some(generation) = Self::existing_generation(&mut conn, ns).await? else {
            return Ok(false);
        };
        let scope = Scope::new(ns, generation);
        let live = Self::live_entry(&mut conn, &scope, key).await?.is_some();
        let deleted = conn.delete(&scope.data(key)).await?;
        Ok(live && deleted)
    }

    async fn exists(&self, ns: &str, key: &str) -> Result<bool> {
        check_name("namespace", ns)?;
        check_name("key", key)?;
        let mut conn = self.pool.get().await?;
        let Some(generation) = Self::existing_generation(&mut conn, ns).await? else {
            return Ok(false);
        };
        Ok(Self::live_entry(&mut conn, &Scope::new(ns, generation), key)
            .await?
            .is_some())
    }

    async fn incr(&self, ns: &str, key: &str, by: i64, ttl: Option<Duration>) -> Result<i64> {
        check_name("namespace", ns)?;
        check_name("key", key)?;
        let mut conn = self.pool.get().await?;
        let scope = Scope::new(ns, Self::generation(&mut conn, ns).await?);
        let data_key = scope.data(key);
        for attempt in 0..CAS_ATTEMPTS {
            match conn.gets(&data_key).await? {
                None => {
                    let now = now_ms()?;
                    let e = deadline(ttl, now)?;
                    let fresh = Envelope {
                        v: Value::from(by),
                        e,
                        t: Vec::new(),
                    };
                    if conn
                        .store(&data_key, &fresh.encode()?, Mode::Add, exptime(e, now))
                        .await?
                    {
                        let append = IndexAppend {
                            key: scope.ns_index(),
                            of: IndexOf::Namespace,
                            records: index_record(key),
                        };
                        Self::append_indexes(&mut conn, &scope, vec![append]).await?;
                        return Ok(by);
                    }
                }
                Some((raw, cas)) => {
                    let entry = Envelope::decode(&raw)?;
                    let gens = Self::gens_for(&mut conn, &scope, [&entry]).await?;
                    let now = now_ms()?;
                    // An expired or invalidated entry is missing: start again from 0.
                    let (n, e, t) = if entry.live(now, &gens) {
                        let old = entry
                            .v
                            .as_i64()
                            .ok_or_else(|| Error::bad_request("the cached value is not an integer"))?;
                        let n = old
                            .checked_add(by)
                            .ok_or_else(|| Error::bad_request("the increment overflows a 64-bit integer"))?;
                        (n, entry.e, entry.t)
                    } else {
                        (by, deadline(ttl, now)?, Vec::new())
                    };
                    let next = Envelope {
                        v: Value::from(n),
                        e,
                        t,
                    };
                    if conn
                        .store(&data_key, &next.encode()?, Mode::Cas(cas), exptime(e, now))
                        .await?
                    {
                        return Ok(n);
                    }
                }
            }
            // Lost a race: back off a little, more as contention persists.
            if attempt < 3 {
                tokio::task::yield_now().await;
            } else {
                let cap = u64::from(attempt).saturating_mul(100).min(5_000);
                tokio::time::sleep(Duration::from_micros(rand::random_range(0..cap))).await;
            }
        }
        Err(Error::Conflict(format!(
            "the cache key {key:?} is changing too fast to increment; retry"
        )))
    }

    async fn get_many(&self, ns: &str, keys: &[String]) -> Result<Vec<Option<Value>>> {
        check_name("namespace", ns)?;
        for key in keys {
            check_name("key", key)?;
        }
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.pool.get().await?;
        let scope = Scope::new(ns, Self::generation(&mut conn, ns).await?);
        let mut entries = Self::entries(&mut conn, &scope, keys).await?;
        let gens = Self::gens_for(&mut conn, &scope, entries.values()).await?;
        let now = now_ms()?;
        entries.retain(|_, e| e.live(now, &gens));
        let out: Vec<Option<Value>> = keys.iter().map(|k| entries.get(k).map(|e| e.v.clone())).collect();
        let hits = out.iter().filter(|v| v.is_some()).count() as u64;
        Self::count(&mut conn, &scope, hits, out.len() as u64 - hits).await?;
        Ok(out)
    }

    async fn set_many(&self, ns: &str, entries: Vec<CacheEntry>) -> Result<()> {
        let writes = entries
            .into_iter()
            .map(|e| Write {
                key: e.key,
                value: e.value,
                ttl: e.ttl,
                tags: e.tags,
            })
            .collect();
        self.write(ns, writes).await
    }

    async fn invalidate_tags(&self, ns: &str, tags: &[String]) -> Result<u64> {
        check_name("namespace", ns)?;
        for tag in tags {
            check_name("tag", tag)?;
        }
        if tags.is_empty() {
            return Ok(0);
        }
        let mut conn = self.pool.get().await?;
        let Some(generation) = Self::existing_generation(&mut conn, ns).await? else {
            return Ok(0);
        };
        let scope = Scope::new(ns, generation);
        // A tag without a generation has no live entry.
        let before = Self::tag_gens(&mut conn, &scope, tags.iter().map(String::as_str)).await?;
        if before.is_empty() {
            return Ok(0);
        }
        // The invalidation itself: from here no entry written with these generations is live.
        for tag in before.keys() {
            conn.arith(&scope.tag_gen(tag), 1, fresh_generation()).await?;
        }
        // Count what was live just before, from the tags' indexes.
        let index_keys: Vec<String> = before.iter().map(|(t, g)| scope.tag_index(t, *g)).collect();
        let indexes = conn.get_multi(&index_keys).await?;
        let mut keys = Vec::new();
        let mut seen = HashSet::new();
        for raw in indexes.values() {
            keys.extend(parse_index(raw).into_iter().filter(|k| seen.insert(k.clone())));
        }
        let entries = Self::entries(&mut conn, &scope, &keys).await?;
        let others: HashSet<&str> = entries
            .values()
            .flat_map(|e| e.t.iter().map(|(t, _)| t.as_str()))
            .filter(|t| !before.contains_key(*t))
            .collect();
        let mut view = Self::tag_gens(&mut conn, &scope, others).await?;
        view.extend(before.iter().map(|(t, g)| (t.clone(), *g)));
        let now = now_ms()?;
        let removed = entries
            .values()
            .filter(|e| e.live(now, &view) && e.t.iter().any(|(t, g)| before.get(t) == Some(g)))
            .count() as u64;
        conn.delete_quietly(&index_keys).await?;
        Ok(removed)
    }

    async fn clear(&self, ns: &str) -> Result<u64> {
        check_name("namespace", ns)?;
        let mut conn = self.pool.get().await?;
        let Some(generation) = Self::existing_generation(&mut conn, ns).await? else {
            return Ok(0);
        };
        // The clear itself: every key of the old generation is orphaned at once.
        conn.arith(&gen_key(ns), 1, fresh_generation()).await?;
        let old = Scope::new(ns, generation);
        // Count what was live, then delete what the index names (LRU takes the rest).
        let keys = match conn.get(&old.ns_index()).await? {
            Some(raw) => parse_index(&raw),
            None => Vec::new(),
        };
        let entries = Self::entries(&mut conn, &old, &keys).await?;
        let gens = Self::gens_for(&mut conn, &old, entries.values()).await?;
        let now = now_ms()?;
        let removed = entries.values().filter(|e| e.live(now, &gens)).count() as u64;
        let mut garbage: Vec<String> = entries.keys().map(|k| old.data(k)).collect();
        garbage.extend(gens.iter().flat_map(|(t, g)| [old.tag_gen(t), old.tag_index(t, *g)]));
        garbage.extend([old.ns_index(), old.hits(), old.misses()]);
        conn.delete_quietly(&garbage).await?;
        Ok(removed)
    }

    async fn stats(&self, ns: &str) -> Result<CacheStats> {
        check_name("namespace", ns)?;
        let mut conn = self.pool.get().await?;
        let Some(generation) = Self::existing_generation(&mut conn, ns).await? else {
            return Ok(CacheStats::default());
        };
        let scope = Scope::new(ns, generation);
        let (hits_key, misses_key) = (scope.hits(), scope.misses());
        let found = conn.get_multi(&[hits_key.clone(), misses_key.clone()]).await?;
        let read = |k: &String| found.get(k).and_then(|raw| parse_u64(raw)).unwrap_or(0);
        Ok(CacheStats {
            hits: read(&hits_key),
            misses: read(&misses_key),
            evictions: 0,
            keys: None,
        })
    }

    fn name(&self) -> &'static str {
        "memcached"
    }

    fn capabilities(&self) -> CacheCapabilities {
        CacheCapabilities {
            tags: true,
            size_aware_eviction: true,
            shared: true,
        }
    }

    async fn ping(&self) -> Result<()> {
        let mut conn = self.pool.get().await?;
        let version = conn.client()?.version().await.map_err(engine)?;
        if version.trim().chars().next().is_some_and(|c| c.is_ascii_digit()) {
            Ok(())
        } else if version.contains("unauthenticated") {
            Err(Error::internal(
                "memcached requires authentication: put user:password in the memcached url",
            ))
        } else {
            Err(Error::internal(format!(
                "memcached answered {:?} to version",
                version.trim()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_password() {
        let cfg = MemcachedConfig {
            url: "memcache://keel:hunter2@127.0.0.1:11211".into(),
        };
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("127.0.0.1:11211"));
    }

    #[test]
    fn urls_parse_to_the_client_dsn() {
        let e = parse_url("memcache://127.0.0.1").unwrap();
        assert_eq!(e.dsn, "tcp://127.0.0.1:11211");
        assert!(e.auth.is_none());
        assert_eq!(parse_url("tcp://cache:11300").unwrap().dsn, "tcp://cache:11300");
        assert_eq!(parse_url("unix:///run/mc.sock").unwrap().dsn, "unix:///run/mc.sock");
        let e = parse_url("memcached://us%40er:p%3Ass@h:1").unwrap();
        assert_eq!(e.auth, Some(("us@er".to_string(), "p:ss".to_string())));
        for bad in ["redis://h", "memcache://", "nonsense", "http://u:secret@h"] {
            let err = parse_url(bad).err().unwrap();
            assert!(matches!(err, Error::BadRequest { .. }), "{bad}");
            assert!(!err.to_string().contains("secret"), "{err}");
        }
    }

    #[test]
    fn keys_fit_memcached_and_do_not_collide() {
        let long = "k".repeat(400);
        let s = Scope::new("ns", 7);
        for key in [s.data(&long), s.data("with space"), s.data("ünïcode"), s.data("a\nb")] {
            assert!(
                key.len() <= MAX_KEY_LEN && key.bytes().all(|b| b.is_ascii_graphic()),
                "{key}"
            );
        }
        assert_ne!(s.data(&long), s.data(&"k".repeat(401)));
        assert_eq!(s.data("plain"), "keel:k:2:ns:7:plain");
        // A namespace containing ':' cannot reach another namespace's keys.
        assert_ne!(Scope::new("a:1", 5).data("x"), Scope::new("a", 1).data("5:x"));
        assert_ne!(s.data("t"), s.tag_gen("t"));
        assert_ne!(s.ns_index(), s.hits());
    }

    #[test]
    fn indexes_round_trip_and_dedupe() {
        let mut raw = Vec::new();
        for key in ["a", "b:c", "a", "x\ny", "ü"] {
            raw.extend_from_slice(&index_record(key));
        }
        assert_eq!(parse_index(&raw), ["a", "b:c", "x\ny", "ü"]);
        raw.extend_from_slice(b"99:short");
        assert_eq!(parse_index(&raw).len(), 4, "a truncated record is dropped");
    }

    #[test]
    fn expiry_is_relative_then_absolute() {
        let now = 1_800_000_000_000;
        assert_eq!(exptime(None, now), 0);
        assert_eq!(exptime(Some(now + 300), now), 2);
        assert_eq!(exptime(Some(now + 5_000), now), 6);
        assert_eq!(exptime(Some(now - 5), now), 2);
        let in_60_days = now + 60 * 24 * 3600 * 1000;
        assert_eq!(exptime(Some(in_60_days), now), in_60_days / 1000 + 1);
        assert_eq!(exptime(Some(now + 100 * 365 * 24 * 3600 * 1000), now), 0, "past 2038");
        assert!(deadline(Some(Duration::MAX), now).is_err());
    }

    #[tokio::test]
    async fn a_full_index_is_compacted_to_its_live_keys() {
        let Some(url) = keel_testkit::engine_url("KEEL_TEST_MEMCACHED") else {
            return;
        };
        let cache = MemcachedCache::connect(MemcachedConfig { url }).await.unwrap();
        let ns = keel_testkit::random_name();
        let tags = vec!["t".to_string()];
        cache.set(&ns, "live", Value::from(1), None, &tags).await.unwrap();
        // Fill both indexes to the item size limit with repeats and keys that are gone.
        let mut conn = cache.pool.get().await.unwrap();
        let scope = Scope::new(&ns, MemcachedCache::generation(&mut conn, &ns).await.unwrap());
        let tag_gen = MemcachedCache::tag_gens(&mut conn, &scope, ["t"]).await.unwrap()["t"];
        let mut filler = Vec::new();
        let mut i = 0;
        while filler.len() < 1_040_000 {
            filler.extend_from_slice(&index_record("live"));
            filler.extend_from_slice(&index_record(&format!("gone-{i}")));
            i += 1;
        }
        for key in [scope.ns_index(), scope.tag_index("t", tag_gen)] {
            assert!(conn.store(&key, &filler, Mode::Set, 0).await.unwrap());
            // Top it up until memcached refuses to append: the index is full. The top-up is
            // the shortest record (a gone key), so the record `set` appends below ("new") no
            // longer fits either, whatever room the key's length left.
            let top_up = index_record("x");
            let full = loop {
                let appended = conn
                    .client()
                    .unwrap()
                    .meta_set(&key, top_up.as_slice(), false, None, Some(&["MA"]))
                    .await;
                if appended.is_err() {
                    break conn.get(&key).await.unwrap().unwrap_or_default().len();
                }
            };
            assert!(full > 1_040_000, "{full}");
        }
        drop(conn);
        cache.set(&ns, "new", Value::from(2), None, &tags).await.unwrap();
        let mut conn = cache.pool.get().await.unwrap();
        for key in [scope.ns_index(), scope.tag_index("t", tag_gen)] {
            let raw = conn.get(&key).await.unwrap().unwrap();
            let keys = parse_index(&raw);
            assert!(
                keys == ["live", "new"],
                "{key}: {} keys, {} bytes",
                keys.len(),
                raw.len()
            );
        }
        drop(conn);
        assert_eq!(cache.invalidate_tags(&ns, &tags).await.unwrap(), 2);
        cache.set(&ns, "after", Value::from(3), None, &[]).await.unwrap();
        assert_eq!(cache.clear(&ns).await.unwrap(), 1);
    }
}
