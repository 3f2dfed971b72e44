//! Request logs, as PocketBase keeps them: what a finished request leaves in `_logs`
//! ([`record_request`]: the `logs` settings decide whether and what), the logs API
//! (superusers only: [`list`], [`view`], [`stats`]) and retention ([`apply_retention`] when
//! the settings change, [`purge_once`] from the hourly retention task).
//!
//! A row never holds a body, a header beyond the referer and user agent, or a secret: the
//! value of every `token` query parameter (file tokens, SSE, OAuth2) is replaced by `***`.

use chrono::{DateTime, Utc};
use keel_core::{Error, Result};
use keel_data::{ListParams, Page};
use keel_logs::{HourStat, LogEntry, LogStore, LEVEL_ERROR, LEVEL_INFO};
use serde::Serialize;
use serde_json::Value;

use crate::caller::Caller;
use crate::settings::Logs;
use crate::App;

/// Longest `url` kept (PocketBase's cut).
const MAX_URL: usize = 3000;
/// Longest referer and user agent kept.
const MAX_HEADER: usize = 2000;

/// What the HTTP face saw of a finished request.
#[derive(Debug, Default)]
pub struct RequestFacts {
    pub method: String,
    /// Path and query as received.
    pub url: String,
    pub status: u16,
    /// Milliseconds from the request's arrival to its response head.
    pub exec_ms: f64,
    /// The caller's record: collection name and id (`_apiKeys` and the key's id for a key).
    pub auth: Option<(String, String)>,
    /// The client's address (trusted proxy headers honoured) and the socket's peer.
    pub user_ip: String,
    pub remote_ip: String,
    pub referer: String,
    pub user_agent: String,
    /// The error answer's message and `data`, for a failed request.
    pub error: Option<(String, Value)>,
}

/// Whether requests are logged at all now (`logs.maxDays` above 0 and a store).
pub fn enabled(app: &App) -> bool {
    app.logs.store().is_some() && app.settings.get().logs.max_days > 0
}

/// Hands a finished request's row to the logs writer, shaped by the current `logs` settings
/// (PocketBase's `data` members: `type`, `execTime`, `error`, `details`, `url`, `method`,
/// `status`, `referer`, `userAgent`, `auth`, then `authId` with `logAuthId`, `userIP` and
/// `remoteIP` with `logIP`). Successful reads of the logs themselves are not logged.
pub fn record_request(app: &App, facts: RequestFacts) {
    let settings = app.settings.get();
    let logs = &settings.logs;
    if logs.max_days <= 0 || app.logs.store().is_none() {
        return;
    }
    let failed = facts.status >= 400 || facts.error.is_some();
    if !failed
        && (facts.url == "/api/logs" || facts.url.starts_with("/api/logs/") || facts.url.starts_with("/api/logs?"))
    {
        return;
    }
    let level = if failed { LEVEL_ERROR } else { LEVEL_INFO };
    if level < logs.min_level {
        return;
    }
    let url = redact_tokens(cut(&facts.url, MAX_URL));
    let method = cut(&facts.method, 50).to_ascii_uppercase();
    let (auth, auth_id) = facts.auth.unwrap_or_default();
    let mut data = JsonObject::new();
    data.str("type", "request");
    data.value("execTime", &facts.exec_ms);
    if let Some((message, details)) = &facts.error {
        data.str("error", message);
        data.value("details", details);
    }
    data.str("url", &url);
    data.str("method", &method);
    data.value("status", &facts.status);
    data.str("referer", cut(&facts.referer, MAX_HEADER));
    data.str("userAgent", cut(&facts.user_agent, MAX_HEADER));
    data.str("auth", &auth);
    if logs.log_auth_id && !auth.is_empty() {
        data.str("authId", &auth_id);
    }
    if logs.log_ip {
        data.str("userIP", &facts.user_ip);
        data.str("remoteIP", &facts.remote_ip);
    }
    // Pushed, not `format!`ed: the formatter's machinery cost ~700 instructions a request.
    let path = if url.contains('%') {
        percent_encoding::percent_decode_str(&url).decode_utf8_lossy()
    } else {
        std::borrow::Cow::Borrowed(url.as_str())
    };
    let mut message = String::with_capacity(method.len() + 1 + path.len());
    message.push_str(&method);
    message.push(' ');
    message.push_str(&path);
    app.logs.record(Utc::now(), level, message, data.finish());
}

/// A request row's `data` written as JSON text member by member, in PocketBase's order. Its
/// keys are plain ASCII written as they are; serde's derive escaped each key, a third of the
/// row's serialization (callgrind: ~1,600 instructions a request).
struct JsonObject(Vec<u8>);

impl JsonObject {
    fn new() -> JsonObject {
        let mut buf = Vec::with_capacity(256);
        buf.push(b'{');
        JsonObject(buf)
    }

    fn key(&mut self, key: &str) {
        if self.0.len() > 1 {
            self.0.push(b',');
        }
        self.0.push(b'"');
        self.0.extend_from_slice(key.as_bytes());
        self.0.extend_from_slice(b"\":");
    }

    fn str(&mut self, key: &str, value: &str) {
        self.value(key, value);
    }

    fn value<V: Serialize + ?Sized>(&mut self, key: &str, value: &V) {
        self.key(key);
        // Writing to a Vec fails only for a value that is not JSON (a map with non-string
        // keys), which these are not: `null` stands in.
        if serde_json::to_writer(&mut self.0, value).is_err() {
            self.0.extend_from_slice(b"null");
        }
    }

    fn finish(mut self) -> String {
        self.0.push(b'}');
        String::from_utf8(self.0).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

/// `url` with the value of every `token` query parameter replaced by `***`.
pub fn redact_tokens(url: &str) -> String {
    let Some((path, query)) = url.split_once('?') else {
        return url.to_string();
    };
    // Most queries name no token: kept as they are, without splitting them.
    let may_name_token = query.contains('%') || query.as_bytes().windows(5).any(|w| w.eq_ignore_ascii_case(b"token"));
    if !may_name_token {
        return url.to_string();
    }
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| {
            let key = pair.split_once('=').map_or(pair, |(k, _)| k);
            let name = percent_encoding::percent_decode_str(key).decode_utf8_lossy();
            if name.trim().eq_ignore_ascii_case("token") {
                format!("{key}=***")
            } else {
                pair.to_string()
            }
        })
        .collect();
    format!("{path}?{}", pairs.join("&"))
}

/// The first `max` bytes of `s`, cut at a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The store, or a 503 when this process keeps no request logs.
fn store(app: &App) -> Result<&LogStore> {
    app.logs
        .store()
        .ok_or_else(|| Error::Unavailable("Request logs are not available on this server.".into()))
}

/// A page of logs (superusers): `filter` over `id`, `created`, `level`, `message`, `data.*`;
/// `sort` (default `-created`).
pub async fn list(app: &App, caller: &Caller, params: &ListParams) -> Result<Page<LogEntry>> {
    caller.require_superuser()?;
    store(app)?.list(params).await
}

/// One log row (superusers), or a 404.
pub async fn view(app: &App, caller: &Caller, id: &str) -> Result<LogEntry> {
    caller.require_superuser()?;
    store(app)?.view(id).await
}

/// Rows per hour matching `filter` (superusers).
pub async fn stats(app: &App, caller: &Caller, filter: Option<&str>) -> Result<Vec<HourStat>> {
    caller.require_superuser()?;
    store(app)?.stats(filter).await
}

/// Deletes what `settings` no longer keep: everything when `maxDays` is 0, else rows older
/// than `maxDays` days or below `minLevel`. Failures are logged, never returned (the
/// settings are saved already; the hourly purge tries again).
pub async fn apply_retention(app: &App, settings: &Logs) {
    // Rows still in the writer were made under the old settings: stored first, then judged.
    app.logs.flush().await;
    if let Err(e) = purge_by(app, settings, Utc::now()).await {
        tracing::warn!(error = %e, "request logs past their retention not deleted");
    }
}

/// The hourly purge: what the current settings no longer keep at `now`; returns how many rows.
pub async fn purge_once(app: &App, now: DateTime<Utc>) -> Result<u64> {
    let settings = app.settings.get();
    purge_by(app, &settings.logs, now).await
}

async fn purge_by(app: &App, settings: &Logs, now: DateTime<Utc>) -> Result<u64> {
    let Some(store) = app.logs.store() else {
        return Ok(0);
    };
    if settings.max_days <= 0 {
        return store.clear().await;
    }
    let days = settings.max_days.min(365_000);
    store
        .purge(now - chrono::Duration::days(days), settings.min_level)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_values_are_redacted() {
        assert_eq!(
            redact_tokens("/api/files/c/r/a.png?thumb=10x10&token=abc.def&x=1"),
            "/api/files/c/r/a.png?thumb=10x10&token=***&x=1"
        );
        assert_eq!(
            redact_tokens("/api/x?TOKEN=s&%74oken=t"),
            "/api/x?TOKEN=***&%74oken=***"
        );
        assert_eq!(redact_tokens("/api/x?tokens=1"), "/api/x?tokens=1");
        assert_eq!(redact_tokens("/api/x"), "/api/x");
    }

    #[test]
    fn cut_keeps_whole_characters() {
        assert_eq!(cut("héllo", 2), "h");
        assert_eq!(cut("abc", 10), "abc");
    }
}
