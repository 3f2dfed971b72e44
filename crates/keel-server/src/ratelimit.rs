//! PocketBase's rate limits (`/api/settings` `rateLimits`): per client IP, fixed windows of
//! `duration` seconds, at most `maxRequests` per window, answered with 429 and `Retry-After`.
//!
//! A rule's `label` is one of
//! - `collection:action` or `*:action`, where the action of a collection route is `list`,
//!   `view`, `create`, `update`, `delete` or `auth` (every sign-in and auth email flow);
//! - `METHOD /path` or `/path`: a path prefix, optionally for one method.
//!
//! The most specific matching rule applies: a collection tag, then `*:action`, then the
//! longest path prefix (one with a method before one without). `audience` narrows a rule to
//! `@guest` or `@auth` requests: a request is `@auth` only when its credential is valid (a
//! junk `Authorization` header is a guest). Collection routes are matched on the collection
//! they reach, however the path names it (by id, in another case, percent-encoded).
//! `excludedIPs` are never limited.
//! The client IP is the address in the header `trustedProxy.headers` names (set it when Keel
//! runs behind a proxy; `useLeftmostIP` picks the first hop, else the last), else the
//! socket's peer address. The same address goes to the audit trail.
//!
//! Where the counters live follows the cache provider: with an in-process cache (the
//! embedded default) they live in this process, as PocketBase's do; with a shared one
//! (Redis, Memcached) they live there, under the namespace `keel-ratelimit`, so several Keel
//! processes enforce one limit together. A shared counter is an atomic `incr` per request
//! on a key per (rule, client, window); should the cache fail, the request is let through
//! and a warning logged (a limiter must not take the API down).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;
use keel_app::settings::{RateLimitRule, SettingsData};

/// The open windows of (rule, client) pairs, in this process.
#[derive(Default)]
pub struct Limiter {
    windows: Mutex<Windows>,
}

#[derive(Default)]
struct Windows {
    open: HashMap<(String, String), Window>,
    /// The size at which closed windows are next swept out (at least [`SWEEP_FROM`]).
    sweep_at: usize,
}

struct Window {
    ends: Instant,
    count: u32,
}

/// The fewest windows worth a sweep. After a sweep the next waits until the map has doubled
/// what was left, so sweeping costs O(1) a request however many clients there are, and the
/// map holds at most twice the windows still open: a client whose window has closed is
/// forgotten (the next request opens a new window either way). Sweeping only windows older
/// than an hour, once the map passed 100,000, made every request scan the whole map under
/// the lock once 100,000 clients had been seen in an hour (one host with an IPv6 prefix, or
/// a forged `X-Forwarded-For` with `useLeftmostIP`), and kept every one of them.
const SWEEP_FROM: usize = 10_000;

impl Limiter {
    /// Counts one request of `client` under `rule`; `Err(seconds to wait)` past the limit.
    fn hit(&self, rule: &RateLimitRule, client: &str) -> Result<(), u64> {
        self.hit_at(rule, client, Instant::now())
    }

    fn hit_at(&self, rule: &RateLimitRule, client: &str, now: Instant) -> Result<(), u64> {
        let mut w = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if w.open.len() >= w.sweep_at.max(SWEEP_FROM) {
            w.open.retain(|_, win| win.ends > now);
            w.sweep_at = w.open.len().saturating_mul(2);
        }
        // At most 136 years (u32 seconds): a longer window cannot overflow the clock, and
        // never closes either way.
        let length = Duration::from_secs(rule.duration.clamp(1, u64::from(u32::MAX)));
        let fresh = || Window {
            ends: now + length,
            count: 0,
        };
        let win = w
            .open
            .entry((rule.label.clone(), client.to_string()))
            .or_insert_with(fresh);
        if now >= win.ends {
            *win = fresh();
        }
        if win.count >= rule.max_requests {
            return Err(win.ends.saturating_duration_since(now).as_secs().max(1));
        }
        win.count += 1;
        Ok(())
    }

    /// How many windows are kept (tests).
    #[cfg(test)]
    fn kept(&self) -> usize {
        self.windows.lock().unwrap_or_else(|e| e.into_inner()).open.len()
    }
}

const SHARED_NS: &str = "keel-ratelimit";

/// Counts one request of `client` under `rule` in the shared cache; `Err(seconds to wait)`
/// past the limit. Fixed windows aligned to the clock, so every process agrees on them.
async fn hit_shared(state: &AppState, rule: &RateLimitRule, client: &str) -> Result<(), u64> {
    let len = rule.duration.max(1);
    let now = chrono::Utc::now().timestamp().max(0) as u64;
    let bucket = now / len;
    let left = ((bucket + 1) * len).saturating_sub(now).max(1);
    // Labels hold spaces and slashes: encode them into a key every provider accepts.
    let label: String = form_urlencoded::byte_serialize(rule.label.as_bytes()).collect();
    let key = format!("{label}|{client}|{bucket}");
    // The window's first request creates the counter with the window's lifetime, atomically.
    let ttl = Some(Duration::from_secs(left + 1));
    let count = match state.cache.incr(SHARED_NS, &key, 1, ttl).await {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "rate limit counter unavailable; request let through");
            return Ok(());
        }
    };
    if count > i64::from(rule.max_requests) {
        return Err(left);
    }
    Ok(())
}

/// What a request is, for matching rules: its path with the collection named canonically,
/// and the `collection:action` of a collection route.
pub(crate) struct Target {
    /// The path, with a `/api/collections/{c}/…` segment replaced by the collection's name
    /// (whether the request named it by id, in another case or percent-encoded).
    pub path: String,
    /// The collection's name and id, and the action, for `/api/collections/{c}/…` routes.
    pub tag: Option<(String, String, &'static str)>,
}

impl Target {
    /// Resolves `path` against the collections `lookup` finds (by name or id, as the routes
    /// do), so a rule cannot be dodged by naming the collection another way.
    pub(crate) fn resolve(method: &str, path: &str, lookup: impl Fn(&str) -> Option<(String, String)>) -> Target {
        let plain = || Target {
            path: path.to_string(),
            tag: None,
        };
        let Some(rest) = path.strip_prefix("/api/collections/") else {
            return plain();
        };
        let mut parts = rest.split('/');
        let raw = parts.next().unwrap_or("");
        let decoded = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
        let Some((name, id)) = lookup(&decoded) else {
            return plain();
        };
        let tail: Vec<&str> = parts.collect();
        let mut canonical = format!("/api/collections/{name}");
        for t in &tail {
            canonical.push('/');
            canonical.push_str(t);
        }
        let action = match (method, tail.first().copied(), tail.get(1)) {
            ("GET", Some("records"), None) => Some("list"),
            ("POST", Some("records"), None) => Some("create"),
            ("GET", Some("records"), Some(_)) => Some("view"),
            ("PATCH", Some("records"), Some(_)) => Some("update"),
            ("DELETE", Some("records"), Some(_)) => Some("delete"),
            (_, Some(a), _) if a.starts_with("auth-") || a.starts_with("request-") || a.starts_with("confirm-") => {
                Some("auth")
            }
            _ => None,
        };
        Target {
            path: canonical,
            tag: action.map(|a| (name, id, a)),
        }
    }
}

/// The rule that applies to a request, if any (see the module docs for the order).
/// `authed` is whether the request carries a *valid* credential.
pub(crate) fn pick<'a>(
    rules: &'a [RateLimitRule],
    method: &str,
    target: &Target,
    authed: bool,
) -> Option<&'a RateLimitRule> {
    let applies = |r: &&RateLimitRule| match r.audience.as_str() {
        "@guest" => !authed,
        "@auth" => authed,
        _ => true,
    };
    let candidates: Vec<&RateLimitRule> = rules.iter().filter(applies).filter(|r| r.max_requests > 0).collect();
    if let Some((name, id, action)) = &target.tag {
        let names = |c: &str| c.eq_ignore_ascii_case(name) || c == id;
        let exact = candidates.iter().find(|r| {
            r.label
                .split_once(':')
                .is_some_and(|(c, a)| a == *action && c != "*" && names(c))
        });
        let any = format!("*:{action}");
        if let Some(r) = exact.or_else(|| candidates.iter().find(|r| r.label == any)) {
            return Some(r);
        }
    }
    let path = target.path.as_str();
    candidates
        .iter()
        .filter_map(|r| {
            let (m, prefix) = match r.label.split_once(' ') {
                Some((m, p)) => (Some(m), p),
                None => (None, r.label.as_str()),
            };
            let ok =
                prefix.starts_with('/') && path.starts_with(prefix) && m.is_none_or(|m| m.eq_ignore_ascii_case(method));
            ok.then_some((prefix.len() * 2 + usize::from(m.is_some()), *r))
        })
        .max_by_key(|(score, _)| *score)
        .map(|(_, r)| r)
}

/// The socket peer's address as text; `None` for an in-process request (tests, `oneshot`).
pub(crate) fn remote_ip(req: &Request) -> Option<String> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| ip_text(c.0.ip()))
}

/// An address as text, an IPv4 one written digit by digit: `Ipv4Addr`'s `Display` formats
/// each octet through the formatter into a string grown from empty (~1,400 instructions, on
/// every request).
fn ip_text(ip: std::net::IpAddr) -> String {
    let std::net::IpAddr::V4(v4) = ip else {
        return ip.to_string();
    };
    let mut text = String::with_capacity(15);
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            text.push('.');
        }
        if octet >= 100 {
            text.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            text.push(char::from(b'0' + octet / 10 % 10));
        }
        text.push(char::from(b'0' + octet % 10));
    }
    text
}

/// The client address for limiting (see the module docs), given the socket peer's
/// ([`remote_ip`]).
pub(crate) fn client_ip_from(req: &Request, settings: &SettingsData, remote: Option<&str>) -> String {
    let headers = settings.trusted_proxy.get("headers").and_then(|h| h.as_array());
    let leftmost = settings
        .trusted_proxy
        .get("useLeftmostIP")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    for name in headers.into_iter().flatten().filter_map(|h| h.as_str()) {
        if let Some(v) = req.headers().get(name).and_then(|v| v.to_str().ok()) {
            let mut hops = v.split(',').map(str::trim).filter(|s| !s.is_empty());
            let ip = if leftmost { hops.next() } else { hops.next_back() };
            if let Some(ip) = ip {
                return ip.to_string();
            }
        }
    }
    match remote {
        Some(ip) => ip.to_string(),
        // No socket: an in-process request (tests, `oneshot`); take what the headers say.
        None => req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
    }
}

/// The middleware: resolves the client address (into the request's `ClientIp` extension),
/// then applies the rate limits when `rateLimits.enabled`.
pub(crate) async fn layer(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let settings = state.settings.get();
    // The request log may have resolved it already (with `logs.logIP`).
    let ip = match req.extensions().get::<crate::request::ClientIp>() {
        Some(known) => known.0.clone(),
        None => {
            let ip = client_ip_from(&req, &settings, remote_ip(&req).as_deref());
            req.extensions_mut().insert(crate::request::ClientIp(ip.clone()));
            ip
        }
    };
    if !settings.rate_limits.enabled {
        return next.run(req).await;
    }
    if settings.rate_limits.excluded_ips.iter().any(|e| e == &ip) {
        return next.run(req).await;
    }
    let target = Target::resolve(req.method().as_str(), req.uri().path(), |c| {
        state.store.collection(c).ok().map(|c| (c.name.clone(), c.id.clone()))
    });
    let rules = &settings.rate_limits.rules;
    let method = req.method().as_str();
    let as_guest = pick(rules, method, &target, false);
    let as_auth = pick(rules, method, &target, true);
    // Only a valid credential makes a request `@auth` (junk in `Authorization` is a guest),
    // so the credential is checked, before counting, only when the audience changes which
    // rule applies. The caller found is kept for the handler (the `Caller` extractor reuses
    // it).
    let same_rule = match (as_guest, as_auth) {
        (Some(a), Some(b)) => std::ptr::eq(a, b),
        (None, None) => true,
        _ => false,
    };
    let rule = match crate::request::bearer(req.headers()) {
        None => as_guest,
        Some(_) if same_rule => as_guest,
        Some(raw) => match keel_app::caller::resolve(&state, Some(raw)).await {
            Ok(caller) => {
                req.extensions_mut().insert(caller);
                as_auth
            }
            Err(_) => as_guest,
        },
    };
    if let Some(rule) = rule {
        let counted = if state.cache.capabilities().shared {
            hit_shared(&state, rule, &ip).await
        } else {
            state.limiter.hit(rule, &ip)
        };
        if let Err(wait) = counted {
            return ApiError(keel_core::Error::TooManyRequests {
                message: "Too many requests. Try again later.".into(),
                retry_after_secs: wait,
            })
            .into_response();
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_written_as_the_standard_library_writes_them() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "255.255.255.255",
            "10.20.100.9",
            "192.168.1.200",
            "1.99.100.250",
            "::1",
            "2001:db8::ff00:42:8329",
            "::ffff:10.0.0.1",
        ] {
            let addr: std::net::IpAddr = ip.parse().unwrap();
            assert_eq!(ip_text(addr), addr.to_string());
            assert_eq!(ip_text(addr), ip);
        }
    }

    fn rule(label: &str, max: u32, audience: &str) -> RateLimitRule {
        RateLimitRule {
            label: label.into(),
            max_requests: max,
            duration: 10,
            audience: audience.into(),
        }
    }

    #[test]
    fn the_most_specific_rule_applies() {
        let rules = vec![
            rule("/api/", 300, ""),
            rule("*:auth", 2, ""),
            rule("users:auth", 5, ""),
            rule("POST /api/batch", 3, ""),
            rule("/api/batch", 9, ""),
            rule("*:create", 20, "@guest"),
        ];
        let lookup = |c: &str| {
            ["users", "admins", "posts"]
                .into_iter()
                .find(|n| n.eq_ignore_ascii_case(c) || c == format!("id_{n}"))
                .map(|n| (n.to_string(), format!("id_{n}")))
        };
        let label = |m, p, a| {
            let target = Target::resolve(m, p, lookup);
            pick(&rules, m, &target, a).map(|r| r.label.as_str())
        };
        assert_eq!(
            label("POST", "/api/collections/users/auth-with-password", false),
            Some("users:auth")
        );
        assert_eq!(
            label("POST", "/api/collections/admins/auth-with-password", false),
            Some("*:auth")
        );
        assert_eq!(label("POST", "/api/collections/posts/records", false), Some("*:create"));
        assert_eq!(
            label("POST", "/api/collections/posts/records", true),
            Some("/api/"),
            "audience @guest"
        );
        assert_eq!(label("POST", "/api/batch", false), Some("POST /api/batch"));
        assert_eq!(label("GET", "/api/batch", false), Some("/api/batch"));
        assert_eq!(label("GET", "/metrics", false), None);
        // The collection named by id, in another case or percent-encoded is the same one.
        for path in [
            "/api/collections/id_users/auth-with-password",
            "/api/collections/Users/auth-with-password",
            "/api/collections/%75sers/auth-with-password",
        ] {
            assert_eq!(label("POST", path, false), Some("users:auth"), "{path}");
        }
        let prefix = vec![rule("/api/collections/posts/records", 1, ""), rule("*:view", 0, "")];
        for path in [
            "/api/collections/id_posts/records/x",
            "/api/collections/POSTS/records/x",
        ] {
            let target = Target::resolve("GET", path, lookup);
            assert_eq!(
                pick(&prefix, "GET", &target, false).map(|r| r.label.as_str()),
                Some("/api/collections/posts/records"),
                "{path}"
            );
        }
    }

    #[test]
    fn a_window_allows_max_requests_then_says_how_long_to_wait() {
        let l = Limiter::default();
        let r = rule("/api/", 2, "");
        assert!(l.hit(&r, "1.2.3.4").is_ok());
        assert!(l.hit(&r, "1.2.3.4").is_ok());
        let wait = l.hit(&r, "1.2.3.4").unwrap_err();
        assert!((1..=10).contains(&wait), "{wait}");
        assert!(l.hit(&r, "5.6.7.8").is_ok(), "another client has its own window");

        // Settings allow any duration: one too long for the clock is a window that never closes.
        let mut forever = rule("/api/", 1, "");
        forever.duration = u64::MAX;
        assert!(l.hit(&forever, "9.9.9.9").is_ok());
        assert!(l.hit(&forever, "9.9.9.9").is_err());
    }

    #[test]
    fn closed_windows_are_forgotten_and_a_new_one_opens() {
        let l = Limiter::default();
        let r = rule("/api/", 1, ""); // 10 s windows
        let t0 = Instant::now();
        // Many clients once each (what forged addresses look like): all windows open.
        for i in 0..25_000 {
            assert!(l.hit_at(&r, &format!("10.0.{}.{}", i / 250, i % 250), t0).is_ok());
        }
        assert_eq!(l.kept(), 25_000, "open windows are all kept");
        assert!(
            l.hit_at(&r, "10.0.0.0", t0).is_err(),
            "a client's limit holds in its window"
        );

        // Once their windows have closed, a stream of new clients does not add to them.
        let later = t0 + Duration::from_secs(11);
        for i in 0..25_000 {
            assert!(l.hit_at(&r, &format!("10.1.{}.{}", i / 250, i % 250), later).is_ok());
        }
        assert!(l.kept() <= 25_000 + 1, "closed windows were swept: {}", l.kept());
        assert!(l.hit_at(&r, "10.0.0.0", later).is_ok(), "a closed window reopens");
        assert!(l.hit_at(&r, "10.0.0.0", later).is_err());
    }
}
