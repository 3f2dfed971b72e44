//! What the push providers share: reading a provider's config table (errors name the key,
//! never its value), turning a service's HTTP answer into a [`NotifyError`], and sending one
//! request through the outbound guard.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use keel_core::notify::NotifyError;
use keel_core::outbound::{explain, read_capped};
use keel_core::{Error, Result};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{RequestBuilder, StatusCode};
use serde_json::{Map, Value};

/// At most this much of a service's answer is read, and at most [`EXCERPT`] chars of it shown.
const MAX_ANSWER: usize = 16 * 1024;
/// The longest excerpt of an answer an error carries.
pub(crate) const EXCERPT: usize = 300;
/// One attempt's timeout when the provider's `timeout_secs` is not set.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// One `[[notify.providers]]` table, read key by key.
pub(crate) struct Keys<'a> {
    at: &'a str,
    table: &'a Map<String, Value>,
}

impl<'a> Keys<'a> {
    pub(crate) fn new(at: &'a str, table: &'a Map<String, Value>) -> Keys<'a> {
        Keys { at, table }
    }

    /// A 400 naming `{at}.{key}`.
    pub(crate) fn invalid(&self, key: &str, message: impl Into<String>) -> Error {
        Error::field(format!("{}.{key}", self.at), "validation_invalid_value", message)
    }

    /// Refuses a key the kind does not know (a typo would otherwise be silently ignored).
    pub(crate) fn only(&self, known: &[&str]) -> Result<()> {
        const COMMON: [&str; 5] = ["name", "kind", "base_url", "rate_per_second", "timeout_secs"];
        for key in self.table.keys() {
            if !COMMON.contains(&key.as_str()) && !known.contains(&key.as_str()) {
                return Err(Error::field(
                    format!("{}.{key}", self.at),
                    "validation_unknown_key",
                    format!("unknown key; this kind takes {}", known.join(", ")),
                ));
            }
        }
        Ok(())
    }

    /// An optional string key (empty counts as unset).
    pub(crate) fn opt(&self, key: &str) -> Result<Option<String>> {
        match self.table.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
            Some(_) => Err(self.invalid(key, "must be a string")),
        }
    }

    /// A required string key.
    pub(crate) fn req(&self, key: &str) -> Result<String> {
        self.opt(key)?
            .ok_or_else(|| Error::field(format!("{}.{key}", self.at), "validation_required", "is required"))
    }

    /// An optional whole number key in `1..=max`.
    pub(crate) fn opt_u32(&self, key: &str, max: u32) -> Result<Option<u32>> {
        self.opt_u32_in(key, 1, max)
    }

    /// An optional whole number key in `min..=max`.
    pub(crate) fn opt_u32_in(&self, key: &str, min: u32, max: u32) -> Result<Option<u32>> {
        match self.table.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match v.as_u64() {
                Some(n) if n >= u64::from(min) && n <= u64::from(max) => Ok(Some(n as u32)),
                _ => Err(self.invalid(key, format!("must be a whole number from {min} to {max}"))),
            },
        }
    }

    /// The provider's `name` (required).
    pub(crate) fn name(&self) -> Result<String> {
        self.req("name")
    }

    /// `rate_per_second` (optional).
    pub(crate) fn rate(&self) -> Result<Option<u32>> {
        self.opt_u32("rate_per_second", 1_000_000)
    }

    /// `timeout_secs` (default 30).
    pub(crate) fn timeout(&self) -> Result<Duration> {
        Ok(self
            .opt_u32("timeout_secs", 600)?
            .map(|s| Duration::from_secs(u64::from(s)))
            .unwrap_or(DEFAULT_TIMEOUT))
    }

    /// `base_url` or the service's default, without a trailing `/`; must be http(s).
    pub(crate) fn base_url(&self, default: &str) -> Result<String> {
        let url = self.opt("base_url")?.unwrap_or_else(|| default.to_string());
        match reqwest::Url::parse(&url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
                Ok(url.trim_end_matches('/').to_string())
            }
            _ => Err(self.invalid("base_url", "must be an http:// or https:// URL")),
        }
    }
}

/// A service's answer, read (capped).
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Answer {
    /// The body as JSON (`Null` when it is not).
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// `{service} answered {status}: {excerpt}`.
    pub(crate) fn describe(&self, service: &str) -> String {
        let excerpt = excerpt(&self.body);
        if excerpt.is_empty() {
            format!("{service} answered {}", self.status)
        } else {
            format!("{service} answered {}: {excerpt}", self.status)
        }
    }

    /// How long `Retry-After` asks to wait (seconds, or an HTTP date).
    pub(crate) fn retry_after(&self) -> Option<Duration> {
        let raw = self.headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
        if let Ok(secs) = raw.parse::<u64>() {
            return Some(Duration::from_secs(secs));
        }
        let at = httpdate_to_unix(raw)?;
        let now = unix_now();
        Some(Duration::from_secs(at.saturating_sub(now)))
    }

    /// The usual reading of a non-2xx answer: 408/429/5xx retry (after `Retry-After`), any
    /// other status is refused for good.
    pub(crate) fn default_error(&self, service: &str) -> NotifyError {
        let code = self.status.as_u16();
        if code == 408 || code == 429 || self.status.is_server_error() {
            NotifyError::Retry {
                message: self.describe(service),
                after: self.retry_after(),
            }
        } else {
            NotifyError::Rejected(self.describe(service))
        }
    }
}

/// Sends one request and reads the answer (capped); a failure to get one is a `Retry`
/// naming `service` (the guard's refusal reads as the guard's own sentence).
pub(crate) async fn send(service: &str, request: RequestBuilder) -> Result<Answer, NotifyError> {
    let mut resp = request.send().await.map_err(|e| NotifyError::Retry {
        message: format!("{service}: {}", explain(&e)),
        after: None,
    })?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = match read_capped(&mut resp, MAX_ANSWER).await {
        Ok((bytes, _)) => String::from_utf8_lossy(&bytes).into_owned(),
        // Accepted is accepted: the body only carries an id.
        Err(_) if status.is_success() => String::new(),
        Err(e) => {
            return Err(NotifyError::Retry {
                message: format!("{service} answered {status}, then: {}", explain(&e)),
                after: None,
            })
        }
    };
    Ok(Answer { status, headers, body })
}

/// A refusal of the guard (or a request that could not be built) as a `Retry`: the operator
/// can fix the allow-list.
pub(crate) fn refused(service: &str, e: impl std::fmt::Display) -> NotifyError {
    NotifyError::Retry {
        message: format!("{service}: {e}"),
        after: None,
    }
}

/// At most [`EXCERPT`] chars of `text` on one line.
pub(crate) fn excerpt(text: &str) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= EXCERPT {
        one_line
    } else {
        let mut cut: String = one_line.chars().take(EXCERPT).collect();
        cut.push('…');
        cut
    }
}

/// Base64url without padding.
pub(crate) fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Base64url (or standard base64), with or without padding, as browsers and tools print it.
pub(crate) fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    let cleaned: String = text
        .trim()
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    URL_SAFE_NO_PAD.decode(cleaned).ok()
}

/// Seconds since 1970.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) as seconds since 1970.
fn httpdate_to_unix(text: &str) -> Option<u64> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let day: u64 = day.parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m == month)? as u64
        + 1;
    let year: u64 = year.parse().ok()?;
    let hms: Vec<u64> = time.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else {
        return None;
    };
    // Days from civil (Howard Hinnant's algorithm), for years after 1970.
    let (y, mo) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * mo + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    Some(days * 86_400 + h * 3600 + m * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_read_as_unix_seconds() {
        assert_eq!(httpdate_to_unix("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(httpdate_to_unix("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(httpdate_to_unix("soon"), None);
    }

    #[test]
    fn excerpts_are_capped_and_on_one_line() {
        assert_eq!(excerpt("a\n  b"), "a b");
        let long = "x".repeat(1000);
        assert_eq!(excerpt(&long).chars().count(), EXCERPT + 1);
    }
}
