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
//! `@guest` (no `Authorization` header) or `@auth` requests. `excludedIPs` are never limited.
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
use crate::settings::{RateLimitRule, SettingsData};
use crate::state::AppState;

/// The windows of every (rule, client) pair seen recently.
#[derive(Default)]
pub struct Limiter {
    windows: Mutex<HashMap<(String, String), (Instant, u32)>>,
}

impl Limiter {
    /// Counts one request of `client` under `rule`; `Err(seconds to wait)` past the limit.
    fn hit(&self, rule: &RateLimitRule, client: &str) -> Result<(), u64> {
        let now = Instant::now();
        let window = Duration::from_secs(rule.duration.max(1));
        let mut map = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 100_000 {
            map.retain(|_, (start, _)| now.duration_since(*start) < Duration::from_secs(3600));
        }
        let entry = map.entry((rule.label.clone(), client.to_string())).or_insert((now, 0));
        if now.duration_since(entry.0) >= window {
            *entry = (now, 0);
        }
        if entry.1 >= rule.max_requests {
            let left = window.saturating_sub(now.duration_since(entry.0));
            return Err(left.as_secs().max(1));
        }
        entry.1 += 1;
        Ok(())
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

/// The `collection:action` of a request under `/api/collections/{c}/…`, if it is one.
fn collection_tag(method: &str, path: &str) -> Option<(String, &'static str)> {
    let rest = path.strip_prefix("/api/collections/")?;
    let mut parts = rest.split('/');
    let collection = parts.next().filter(|c| !c.is_empty())?.to_string();
    let action = match (method, parts.next(), parts.next()) {
        ("GET", Some("records"), None) => "list",
        ("POST", Some("records"), None) => "create",
        ("GET", Some("records"), Some(_)) => "view",
        ("PATCH", Some("records"), Some(_)) => "update",
        ("DELETE", Some("records"), Some(_)) => "delete",
        (_, Some(a), _) if a.starts_with("auth-") || a.starts_with("request-") || a.starts_with("confirm-") => "auth",
        _ => return None,
    };
    Some((collection, action))
}

/// The rule that applies to a request, if any (see the module docs for the order).
pub(crate) fn pick<'a>(
    rules: &'a [RateLimitRule],
    method: &str,
    path: &str,
    authed: bool,
) -> Option<&'a RateLimitRule> {
    let applies = |r: &&RateLimitRule| match r.audience.as_str() {
        "@guest" => !authed,
        "@auth" => authed,
        _ => true,
    };
    let candidates: Vec<&RateLimitRule> = rules.iter().filter(applies).filter(|r| r.max_requests > 0).collect();
    if let Some((collection, action)) = collection_tag(method, path) {
        let exact = format!("{collection}:{action}");
        let any = format!("*:{action}");
        for label in [exact, any] {
            if let Some(r) = candidates.iter().find(|r| r.label == label) {
                return Some(r);
            }
        }
    }
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

/// The client address for limiting (see the module docs).
fn client_ip(req: &Request, settings: &SettingsData) -> String {
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
    match req.extensions().get::<ConnectInfo<SocketAddr>>() {
        Some(c) => c.0.ip().to_string(),
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

/// The header the middleware sets to the resolved client address (any value a client sent
/// is replaced), read by `Origin` for the audit trail.
pub(crate) const CLIENT_IP_HEADER: &str = "x-keel-client-ip";

/// The middleware: resolves the client address (into `CLIENT_IP_HEADER`), then applies the
/// rate limits when `rateLimits.enabled`.
pub(crate) async fn layer(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let settings = state.settings.get();
    let ip = client_ip(&req, &settings);
    match axum::http::HeaderValue::from_str(&ip) {
        Ok(v) => req.headers_mut().insert(CLIENT_IP_HEADER, v),
        Err(_) => req.headers_mut().remove(CLIENT_IP_HEADER),
    };
    if !settings.rate_limits.enabled {
        return next.run(req).await;
    }
    if settings.rate_limits.excluded_ips.iter().any(|e| e == &ip) {
        return next.run(req).await;
    }
    let authed = req.headers().contains_key(axum::http::header::AUTHORIZATION);
    let rule = pick(
        &settings.rate_limits.rules,
        req.method().as_str(),
        req.uri().path(),
        authed,
    );
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
        let label = |m, p, a| pick(&rules, m, p, a).map(|r| r.label.as_str());
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
    }
}
