//! What every HTTP provider shares: one attempt through the outbound guard with a timeout,
//! and the classification of the answer into [`NotifyError`] (2xx → accepted; 408, 429, 5xx
//! and connection failures → `Retry`, after `Retry-After` when given; any other status →
//! `Rejected`), with a capped excerpt of the answer from which every secret is scrubbed.
//! A provider reads its own answers first where its service says more (a push service's
//! 404/410 → `Gone`, Twilio's error codes), then hands the rest to [`Service::classify`].

use std::time::Duration;

use keel_core::notify::{Message, NotifyError, Recipient};
use keel_core::outbound::{explain, read_capped, OutboundGuard, Refusal};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{RequestBuilder, StatusCode};

/// The whole request's bound (connect, send, answer), unless the provider sets its own.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(15);
/// How much of an answer is read at most.
const READ_CAP: usize = 16 * 1024;
/// How much of an answer an error text quotes at most (characters).
const EXCERPT_CHARS: usize = 300;

/// A service's answer (its body read up to a cap).
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON, when it is.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// One service as errors name it, and the secrets its errors must never show.
#[derive(Clone)]
pub(crate) struct Service {
    /// `SES`, `Slack`, …
    pub label: &'static str,
    /// Texts scrubbed from every error (API keys, tokens, webhook URLs and their paths).
    pub secrets: Vec<String>,
    /// One attempt's bound.
    pub timeout: Duration,
}

impl Service {
    pub fn new(label: &'static str, secrets: impl IntoIterator<Item = String>) -> Service {
        Service {
            label,
            secrets: secrets.into_iter().filter(|s| s.len() >= 4).collect(),
            timeout: TIMEOUT,
        }
    }

    /// The same service with another bound for one attempt.
    pub fn with_timeout(mut self, timeout: Duration) -> Service {
        self.timeout = timeout;
        self
    }

    /// The same service also scrubbing `secret`: for a credential made at send time (an
    /// access token, a signed JWT).
    pub fn with_secret(&self, secret: &str) -> Service {
        let mut out = self.clone();
        if secret.len() >= 4 {
            out.secrets.push(secret.to_string());
        }
        out
    }

    /// `text` with every secret replaced by `***`.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "***");
            }
        }
        out
    }

    /// A `Retry` naming the service.
    pub fn retry(&self, what: &str, after: Option<Duration>) -> NotifyError {
        NotifyError::Retry {
            message: self.scrub(&format!("{}: {what}", self.label)),
            after,
        }
    }

    /// A `Rejected` naming the service.
    pub fn rejected(&self, what: &str) -> NotifyError {
        NotifyError::Rejected(self.scrub(&format!("{}: {what}", self.label)))
    }

    /// The address of an email recipient, or `Rejected` for another kind of recipient.
    pub fn email_of<'m>(&self, message: &'m Message) -> Result<&'m str, NotifyError> {
        match &message.to {
            Recipient::Email { address } if !address.trim().is_empty() => Ok(address.trim()),
            _ => Err(self.rejected("delivers email; the recipient is not an email address")),
        }
    }

    /// The number of a phone recipient, or `Rejected` for another kind of recipient.
    pub fn phone_of<'m>(&self, message: &'m Message) -> Result<&'m str, NotifyError> {
        match &message.to {
            Recipient::Phone { number } if !number.trim().is_empty() => Ok(number.trim()),
            _ => Err(self.rejected("delivers SMS; the recipient is not a phone number")),
        }
    }

    /// The channel override of a chat recipient, or `Rejected` for another kind of recipient.
    pub fn chat_of<'m>(&self, message: &'m Message) -> Result<Option<&'m str>, NotifyError> {
        match &message.to {
            Recipient::Chat { channel } => Ok(channel.as_deref().filter(|c| !c.trim().is_empty())),
            _ => Err(self.rejected("delivers chat messages; the recipient is not a chat destination")),
        }
    }

    /// The token of a device recipient (FCM, APNs), or `Rejected` for another kind of recipient.
    pub fn device_of<'m>(&self, message: &'m Message) -> Result<&'m str, NotifyError> {
        match &message.to {
            Recipient::Device { token } if !token.trim().is_empty() => Ok(token.trim()),
            _ => Err(self.rejected("delivers to device tokens; the recipient is not one")),
        }
    }

    /// Sends `request` (built by the guard, or its refusal) once and reads the answer; a
    /// refusal, a connection failure or a timeout is a `Retry`.
    pub async fn exchange(&self, request: Result<RequestBuilder, Refusal>) -> Result<Answer, NotifyError> {
        let request = request.map_err(|r| self.retry(&r.to_string(), None))?;
        let mut resp = request
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| self.retry(&format!("request failed: {}", explain(&e)), None))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = match read_capped(&mut resp, READ_CAP).await {
            Ok((body, _)) => body.to_vec(),
            Err(e) if status.is_success() => {
                return Err(self.retry(&format!("reading the answer failed: {}", explain(&e)), None))
            }
            Err(_) => Vec::new(),
        };
        Ok(Answer { status, headers, body })
    }

    /// The answer if it is a 2xx, else the failure it means (see the module docs).
    pub fn classify(&self, answer: Answer) -> Result<Answer, NotifyError> {
        let status = answer.status;
        if status.is_success() {
            return Ok(answer);
        }
        let what = self.answered(&answer);
        if is_retryable(status) {
            Err(self.retry(&what, retry_after(&answer.headers)))
        } else {
            Err(self.rejected(&what))
        }
    }

    /// `answered <status>: <excerpt>`, the words of every error about an answer.
    pub fn answered(&self, answer: &Answer) -> String {
        format!("answered {}{}", answer.status.as_u16(), self.excerpt(&answer.body))
    }

    /// A `Gone` naming the service and its answer (the address or device no longer exists).
    pub fn gone(&self, answer: &Answer) -> NotifyError {
        NotifyError::Gone(self.scrub(&format!("{}: {}", self.label, self.answered(answer))))
    }

    /// `": <the first few hundred characters of body>"`, scrubbed, or nothing for an empty body.
    /// Scrubbed before it is cut, so that no part of a secret survives at the cut.
    pub fn excerpt(&self, body: &[u8]) -> String {
        let text = self.scrub(String::from_utf8_lossy(body).trim());
        if text.is_empty() {
            return String::new();
        }
        let mut cut: String = text.chars().take(EXCERPT_CHARS).collect();
        if cut.len() < text.len() {
            cut.push('…');
        }
        format!(": {cut}")
    }
}

/// 408, 429 and every 5xx are worth another attempt.
pub(crate) fn is_retryable(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT || status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

/// `Retry-After` as seconds or as an HTTP date (a date in the past means now).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// Checks a configured URL (`base_url`, `webhook_url`) when the provider is built: it must
/// be http(s) and, when its host is an IP address, one the guard allows. The error names the
/// key, never the URL (a webhook URL is a secret).
pub(crate) fn check_url(outbound: &OutboundGuard, at: &str, key: &str, url: &str) -> keel_core::Result<String> {
    match outbound.check_url(url) {
        Ok(_) => Ok(url.trim().trim_end_matches('/').to_string()),
        Err(Refusal::InvalidUrl | Refusal::Scheme) => Err(keel_core::Error::field(
            format!("{at}.{key}"),
            "validation_invalid_url",
            format!("{key} must be an http:// or https:// URL"),
        )),
        Err(refusal) => Err(keel_core::Error::field(
            format!("{at}.{key}"),
            "validation_url_refused",
            refusal.to_string(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn with_retry_after(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        assert_eq!(retry_after(&with_retry_after("7")), Some(Duration::from_secs(7)));
        assert_eq!(retry_after(&with_retry_after("0.5")), Some(Duration::from_millis(500)));
        let at = chrono::Utc::now() + chrono::Duration::seconds(120);
        let got = retry_after(&with_retry_after(&at.to_rfc2822())).unwrap();
        assert!(
            got > Duration::from_secs(100) && got <= Duration::from_secs(120),
            "{got:?}"
        );
        let past = retry_after(&with_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"));
        assert_eq!(past, Some(Duration::ZERO));
        assert_eq!(retry_after(&with_retry_after("soon")), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn statuses_are_classified() {
        for s in [408, 429, 500, 502, 503] {
            assert!(is_retryable(StatusCode::from_u16(s).unwrap()), "{s}");
        }
        for s in [400, 401, 403, 404, 410, 413, 422] {
            assert!(!is_retryable(StatusCode::from_u16(s).unwrap()), "{s}");
        }
    }

    #[test]
    fn excerpts_are_capped_and_scrubbed() {
        let svc = Service::new("X", ["key-12345".to_string()]);
        let long = format!("bad key-12345 {}", "y".repeat(1000));
        let e = svc.excerpt(long.as_bytes());
        assert!(!e.contains("key-12345"), "{e}");
        assert!(e.chars().count() < 320, "{e}");
        assert!(e.ends_with('…'));
        assert_eq!(svc.excerpt(b"  "), "");
        // A secret across the cut leaves no part of itself behind.
        let across = format!("{}secret-0123456789", "z".repeat(EXCERPT_CHARS - 6));
        let svc = Service::new("X", ["secret-0123456789".to_string()]);
        let e = svc.excerpt(across.as_bytes());
        assert!(!e.contains("secret"), "{e}");
        // A credential made at send time is scrubbed too.
        let e = svc.with_secret("ya29.token").excerpt(b"bad ya29.token");
        assert_eq!(e, ": bad ***");
    }
}
