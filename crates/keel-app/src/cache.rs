//! The cache offered to callers: values by namespace and key, tags, counters, stats.
//!
//! Reading takes `cache:read`, writing `cache:write`, clearing a namespace `cache:admin`.
//! Namespaces, keys and tags are 1–200 of `[A-Za-z0-9_.:-]`; namespaces starting with
//! `keel-` ([`keel_core::cache::INTERNAL_NAMESPACE_PREFIX`]) are Keel's own (lockout counters,
//! rate-limit windows, OAuth2 state) and a 403 whatever the caller's permissions. A TTL is
//! positive and at most ten years; an entry carries at most 64 tags; one call reads or writes
//! at most 1000 keys. Errors name the field (`namespace`, `key`, `keys.N`, `entries.N.ttl`, …).

use std::time::Duration;

use keel_core::cache::{CacheCapabilities, CacheEntry, INTERNAL_NAMESPACE_PREFIX};
use keel_core::error::{FieldError, FieldErrors};
use keel_core::Error;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::authz::{authorize, Permission};
use crate::caller::Caller;
use crate::App;

/// What a call does to the cache, and so the permission it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Read,
    Write,
    /// Clearing a whole namespace.
    Admin,
}

/// A namespace's statistics.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub namespace: String,
    pub provider: &'static str,
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
    /// `None` when the provider cannot count them cheaply.
    pub keys: Option<u64>,
    pub capabilities: CacheCapabilities,
}

/// The most keys (`get_many`) or entries (`set_many`) one call may carry.
pub const MAX_BATCH: usize = 1000;
/// The longest namespace, key or tag.
const MAX_NAME: usize = 200;
/// The longest TTL accepted: ten years.
const MAX_TTL_SECS: f64 = 10.0 * 365.0 * 24.0 * 3600.0;
/// The most tags one entry may carry.
const MAX_TAGS: usize = 64;

/// The caller's permission for `op`, then the namespace (and the key, when one is given).
/// Entry points call it before reading a body; every operation checks it again.
pub fn guard(caller: &Caller, op: Op, namespace: &str, key: Option<&str>) -> Result<(), Error> {
    authorize(
        caller,
        match op {
            Op::Read => Permission::CacheRead,
            Op::Write => Permission::CacheWrite,
            Op::Admin => Permission::CacheAdmin,
        },
    )?;
    check_namespace(namespace)?;
    if let Some(key) = key {
        check_name("key", key)?;
    }
    Ok(())
}

/// The namespace's counters, provider and capabilities.
pub async fn stats(app: &App, caller: &Caller, namespace: &str) -> Result<Stats, Error> {
    guard(caller, Op::Read, namespace, None)?;
    let s = app.cache.stats(namespace).await?;
    Ok(Stats {
        namespace: namespace.to_string(),
        provider: app.cache.name(),
        hits: s.hits,
        misses: s.misses,
        evictions: s.evictions,
        keys: s.keys,
        capabilities: app.cache.capabilities(),
    })
}

/// Removes every entry, tag and counter of the namespace; how many entries went.
pub async fn clear(app: &App, caller: &Caller, namespace: &str) -> Result<u64, Error> {
    guard(caller, Op::Admin, namespace, None)?;
    app.cache.clear(namespace).await
}

/// The value under `key` (404 when absent or expired).
pub async fn get(app: &App, caller: &Caller, namespace: &str, key: &str) -> Result<Value, Error> {
    guard(caller, Op::Read, namespace, Some(key))?;
    app.cache.get(namespace, key).await?.ok_or_else(Error::not_found)
}

/// Stores `value` under `key`, replacing any value, TTL and tags it had (`ttl` and `tags`
/// checked by [`ttl_from_secs`] and [`check_tags`]).
pub async fn set(
    app: &App,
    caller: &Caller,
    namespace: &str,
    key: &str,
    value: Value,
    ttl: Option<Duration>,
    tags: Vec<String>,
) -> Result<(), Error> {
    guard(caller, Op::Write, namespace, Some(key))?;
    let tags = check_tags("tags", tags)?;
    app.cache.set(namespace, key, value, ttl, &tags).await
}

/// Deletes `key` (404 when it was not there).
pub async fn delete(app: &App, caller: &Caller, namespace: &str, key: &str) -> Result<(), Error> {
    guard(caller, Op::Write, namespace, Some(key))?;
    if app.cache.delete(namespace, key).await? {
        Ok(())
    } else {
        Err(Error::not_found())
    }
}

/// Adds `by` to the integer under `key` (a missing key starts at 0; `ttl` applies only when
/// this call creates it); the new value. A value that is not an integer, or an overflow, is a
/// 400 naming `key` with the fix.
pub async fn incr(
    app: &App,
    caller: &Caller,
    namespace: &str,
    key: &str,
    by: i64,
    ttl: Option<Duration>,
) -> Result<i64, Error> {
    guard(caller, Op::Write, namespace, Some(key))?;
    match app.cache.incr(namespace, key, by, ttl).await {
        Ok(value) => Ok(value),
        // Every provider refuses a non-integer value or an overflow with a bad request.
        Err(Error::BadRequest { message, .. }) => {
            // Redis cannot tell the two apart ("not an integer (or the increment overflows)").
            let (code, hint) = if message.contains("not an integer") {
                (
                    "validation_not_integer",
                    "Increment only a key holding an integer: PUT an integer there or DELETE it \
                     first (a missing key starts at 0).",
                )
            } else {
                (
                    "validation_overflow",
                    "The result must fit in a signed 64-bit integer; use a smaller `by`.",
                )
            };
            let message = format!("Cannot increment {key:?} by {by}: {message}. {hint}");
            let mut fields = FieldErrors::new();
            fields.insert("key".into(), FieldError::new(code, message.clone()));
            Err(Error::BadRequest { message, fields })
        }
        Err(e) => Err(e),
    }
}

/// The values of `keys` in the order asked, `null` for a missing or expired key.
pub async fn get_many(
    app: &App,
    caller: &Caller,
    namespace: &str,
    keys: Vec<String>,
) -> Result<Map<String, Value>, Error> {
    guard(caller, Op::Read, namespace, None)?;
    check_batch("keys", keys.len())?;
    for (i, key) in keys.iter().enumerate() {
        check_name(&format!("keys.{i}"), key)?;
    }
    let found = app.cache.get_many(namespace, &keys).await?;
    Ok(keys
        .into_iter()
        .zip(found)
        .map(|(key, value)| (key, value.unwrap_or(Value::Null)))
        .collect())
}

/// Stores each entry as [`set`] would (each made by [`entry`]). Not a transaction in the
/// provider.
pub async fn set_many(app: &App, caller: &Caller, namespace: &str, entries: Vec<CacheEntry>) -> Result<(), Error> {
    guard(caller, Op::Write, namespace, None)?;
    check_batch("entries", entries.len())?;
    app.cache.set_many(namespace, entries).await
}

/// Deletes every key carrying any of `tags`; how many went.
pub async fn invalidate(app: &App, caller: &Caller, namespace: &str, tags: &[String]) -> Result<u64, Error> {
    guard(caller, Op::Write, namespace, None)?;
    for tag in tags {
        check_name("tags", tag)?;
    }
    app.cache.invalidate_tags(namespace, tags).await
}

/// One entry of a `set_many`, checked: its fields are named `{prefix}key`, `{prefix}ttl`,
/// `{prefix}tags` in errors.
pub fn entry(
    prefix: &str,
    key: String,
    value: Value,
    ttl: Option<f64>,
    tags: Vec<String>,
) -> Result<CacheEntry, Error> {
    check_name(&format!("{prefix}key"), &key)?;
    let ttl = match ttl {
        Some(secs) => Some(ttl_from_secs(&format!("{prefix}ttl"), secs)?),
        None => None,
    };
    let tags = check_tags(&format!("{prefix}tags"), tags)?;
    Ok(CacheEntry { key, value, ttl, tags })
}

/// A 400 naming `field` when a batch of `len` is over [`MAX_BATCH`].
pub fn check_batch(field: &str, len: usize) -> Result<(), Error> {
    if len > MAX_BATCH {
        return Err(Error::field(
            field,
            "validation_too_many",
            format!("At most {MAX_BATCH} {field} per call (got {len}); split the request."),
        ));
    }
    Ok(())
}

/// A namespace given by a caller: a valid name (see [`check_name`]) that is not one of
/// Keel's own: a 403 for those, whatever the caller's permissions.
pub fn check_namespace(namespace: &str) -> Result<(), Error> {
    check_name("namespace", namespace)?;
    if namespace.starts_with(INTERNAL_NAMESPACE_PREFIX) {
        return Err(Error::Forbidden(format!(
            "Namespaces starting with \"{INTERNAL_NAMESPACE_PREFIX}\" are reserved for Keel itself; choose another namespace."
        )));
    }
    Ok(())
}

/// A namespace, key or tag: 1–200 of `[A-Za-z0-9_.:-]`, else a 400 naming `field`.
pub fn check_name(field: &str, value: &str) -> Result<(), Error> {
    let ok = !value.is_empty()
        && value.len() <= MAX_NAME
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::field(
            field,
            "validation_invalid_name",
            format!("Must be 1 to {MAX_NAME} characters of A-Z, a-z, 0-9, _ . : -"),
        ))
    }
}

/// Checks every tag with [`check_name`] (a 400 naming `field`), drops repeats and caps the
/// count at 64.
pub fn check_tags(field: &str, tags: Vec<String>) -> Result<Vec<String>, Error> {
    let mut out: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        check_name(field, &tag)?;
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    if out.len() > MAX_TAGS {
        return Err(Error::field(
            field,
            "validation_too_many_tags",
            format!("At most {MAX_TAGS} tags per entry."),
        ));
    }
    Ok(out)
}

/// A TTL of `secs` seconds: positive, finite, at most ten years, not rounding to zero; else
/// a 400 naming `field`.
pub fn ttl_from_secs(field: &str, secs: f64) -> Result<Duration, Error> {
    if !secs.is_finite() || secs <= 0.0 || secs > MAX_TTL_SECS {
        return Err(bad_ttl(field));
    }
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(bad_ttl(field)),
    }
}

/// The 400 naming `field` for a TTL that is not a positive number of seconds.
pub fn bad_ttl(field: &str) -> Error {
    Error::field(
        field,
        "validation_invalid_ttl",
        "Must be a positive number of seconds (at most ten years).",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "users:42", "A-b_c.d", &"x".repeat(200)] {
            assert!(check_name("key", ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "a/b", "é", "{x}", "*", &"x".repeat(201)] {
            assert!(check_name("key", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keels_own_namespaces_are_forbidden() {
        assert!(matches!(check_namespace("keel-lockout"), Err(Error::Forbidden(_))));
        assert!(check_namespace("app").is_ok());
    }

    #[test]
    fn ttls() {
        assert_eq!(ttl_from_secs("ttl", 1.5).unwrap(), Duration::from_millis(1500));
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e300, 1e-12] {
            assert!(ttl_from_secs("ttl", bad).is_err(), "{bad}");
        }
    }
}
