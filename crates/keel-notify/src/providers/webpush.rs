//! Web Push (kind `webpush`): a message to a browser's push subscription, encrypted for it
//! (RFC 8291, see [`ece`]) and signed by the application server's VAPID key (RFC 8292), sent to
//! the subscription's endpoint (the browser vendor's push service) through the outbound guard.
//!
//! Config keys: `vapid_private_key` (the raw 32-byte P-256 scalar in base64url, as `npx
//! web-push generate-vapid-keys` prints it, or a PEM), `subject` (`mailto:` or `https:` URL
//! the push service may contact), optionally `ttl_secs` (how long the push service keeps an
//! undelivered message; default 4 weeks), `urgency` (`very-low`, `low`, `normal`, `high`),
//! `rate_per_second`, `timeout_secs`. No `base_url`: the address is the subscription's.
//!
//! The encrypted payload is the JSON `{"title", "body", "data"}` (`title` and `data` only when
//! the message has them): a service worker reads it with `event.data.json()`.
//!
//! Answers: 2xx (201 Created, 202) accepted (the `Location` of the message is its id);
//! 404/410 the subscription is gone; the rest as `http.rs` classifies them (413 too large and
//! other 4xx refused; 408, 429 and 5xx retry). An endpoint the guard refuses (not a URL, an
//! internal address) is refused for good: it is the browser's, not the operator's. Errors
//! never show the VAPID key or the token signed with it.

pub mod ece;

use async_trait::async_trait;
use keel_core::notify::{Channel, Message, Notifier, NotifyError, Recipient, Sent};
use keel_core::outbound::{OutboundGuard, Refusal};
use keel_core::{Error, Result};
use p256::SecretKey;
use reqwest::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, LOCATION};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::config::{check_rate, check_timeout, parse, require, Secret};
use super::es256;
use super::http::Service;
use super::push_common::{b64url, b64url_decode, key_secrets, unix_now, DEFAULT_TIMEOUT};

/// How long the push service keeps a message it cannot deliver yet, unless `ttl_secs` says.
const DEFAULT_TTL: u32 = 28 * 24 * 3600;
/// How long a VAPID token is valid (RFC 8292 allows up to 24 h).
const VAPID_LIFETIME: u64 = 12 * 3600;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebPushConfig {
    name: String,
    #[allow(dead_code)]
    kind: String,
    #[serde(default)]
    rate_per_second: Option<u32>,
    #[serde(default)]
    timeout_secs: Option<u32>,
    vapid_private_key: Secret,
    subject: String,
    #[serde(default)]
    ttl_secs: Option<u32>,
    #[serde(default)]
    urgency: Option<Urgency>,
}

/// RFC 8030 §5.3.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Urgency {
    VeryLow,
    Low,
    Normal,
    High,
}

impl Urgency {
    fn as_str(self) -> &'static str {
        match self {
            Urgency::VeryLow => "very-low",
            Urgency::Low => "low",
            Urgency::Normal => "normal",
            Urgency::High => "high",
        }
    }
}

/// The Web Push provider.
pub struct WebPush {
    name: String,
    key: SecretKey,
    /// Our public key, base64url (the `k=` of the Authorization header).
    public_b64: String,
    subject: String,
    ttl: u32,
    urgency: Option<Urgency>,
    rate: Option<u32>,
    outbound: OutboundGuard,
    service: Service,
}

impl std::fmt::Debug for WebPush {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebPush")
            .field("name", &self.name)
            .field("public_key", &self.public_b64)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

impl WebPush {
    /// From its `[[notify.providers]]` table.
    pub(crate) fn from_config(at: &str, table: &Map<String, Value>, outbound: &OutboundGuard) -> Result<WebPush> {
        let cfg: WebPushConfig = parse(at, table)?;
        require(
            at,
            &[
                ("name", &cfg.name),
                ("vapid_private_key", cfg.vapid_private_key.expose()),
                ("subject", &cfg.subject),
            ],
        )?;
        let invalid =
            |key: &str, message: &str| Error::field(format!("{at}.{key}"), "validation_invalid_value", message);
        let key = es256::parse_key(cfg.vapid_private_key.expose()).ok_or_else(|| {
            invalid(
                "vapid_private_key",
                "must be a P-256 private key: 32 bytes in base64url (web-push generate-vapid-keys) or a PEM",
            )
        })?;
        let subject = cfg.subject.trim().to_string();
        if !(subject.starts_with("mailto:") || subject.starts_with("https://")) {
            return Err(invalid("subject", "must be a mailto: address or an https:// URL"));
        }
        let ttl = match cfg.ttl_secs {
            None => DEFAULT_TTL,
            Some(t) if t <= DEFAULT_TTL => t,
            Some(_) => {
                return Err(invalid(
                    "ttl_secs",
                    "must be a whole number from 0 to 2419200 (4 weeks)",
                ))
            }
        };
        Ok(WebPush {
            name: cfg.name.trim().to_string(),
            public_b64: b64url(&es256::public_point(&key)),
            key,
            subject,
            ttl,
            urgency: cfg.urgency,
            rate: check_rate(at, cfg.rate_per_second)?,
            outbound: outbound.clone(),
            service: Service::new("web push service", key_secrets(cfg.vapid_private_key.expose()))
                .with_timeout(check_timeout(at, cfg.timeout_secs, DEFAULT_TIMEOUT)?),
        })
    }

    /// The VAPID `Authorization` value for a request to `endpoint`.
    fn vapid(&self, endpoint: &reqwest::Url) -> String {
        let claims = json!({
            "aud": endpoint.origin().ascii_serialization(),
            "exp": unix_now() + VAPID_LIFETIME,
            "sub": self.subject,
        });
        let jwt = es256::sign(&self.key, &json!({"typ": "JWT", "alg": "ES256"}), &claims);
        format!("vapid t={jwt}, k={}", self.public_b64)
    }
}

/// The VAPID public key (base64url, 65 bytes) of a `vapid_private_key` value: what a page
/// passes to `pushManager.subscribe({applicationServerKey})`. `None` when it is not a key.
pub fn vapid_public_key(vapid_private_key: &str) -> Option<String> {
    es256::parse_key(vapid_private_key).map(|k| b64url(&es256::public_point(&k)))
}

/// The payload a service worker receives.
fn payload(message: &Message) -> Vec<u8> {
    let mut out = Map::new();
    if let Some(title) = &message.subject {
        out.insert("title".into(), Value::String(title.clone()));
    }
    out.insert("body".into(), Value::String(message.text.clone()));
    if !message.data.is_null() {
        out.insert("data".into(), message.data.clone());
    }
    Value::Object(out).to_string().into_bytes()
}

#[async_trait]
impl Notifier for WebPush {
    fn name(&self) -> &str {
        &self.name
    }

    fn channel(&self) -> Channel {
        Channel::Push
    }

    fn rate_per_second(&self) -> Option<u32> {
        self.rate
    }

    async fn send(&self, message: &Message) -> std::result::Result<Sent, NotifyError> {
        let Recipient::WebPush { endpoint, p256dh, auth } = &message.to else {
            return Err(self
                .service
                .rejected("delivers to Web Push subscriptions; the recipient is not one"));
        };
        let refused = |why: &dyn std::fmt::Display| self.service.rejected(&why.to_string());
        let p256dh = b64url_decode(p256dh).ok_or_else(|| refused(&ece::EceError::BadP256dh))?;
        let auth = b64url_decode(auth).ok_or_else(|| refused(&ece::EceError::BadAuth))?;
        let body = ece::encrypt(&payload(message), &p256dh, &auth).map_err(|e| refused(&e))?;

        // The endpoint is the browser's: one the guard refuses will never do.
        let url = match self.outbound.check_url(endpoint) {
            Ok(url) => url,
            Err(e @ Refusal::Client(_)) => return Err(self.service.retry(&e.to_string(), None)),
            Err(e) => return Err(refused(&format!("the subscription's endpoint: {e}"))),
        };
        let vapid = self.vapid(&url);
        let service = self.service.with_secret(&vapid);
        let request = self.outbound.post(url.as_str()).map(|r| {
            let r = r
                .header(AUTHORIZATION, vapid.as_str())
                .header(CONTENT_ENCODING, "aes128gcm")
                .header(CONTENT_TYPE, "application/octet-stream")
                .header("TTL", self.ttl.to_string())
                .body(body);
            match self.urgency {
                Some(u) => r.header("Urgency", u.as_str()),
                None => r,
            }
        });
        let answer = service.exchange(request).await?;
        if matches!(answer.status.as_u16(), 404 | 410) {
            return Err(service.gone(&answer));
        }
        let answer = service.classify(answer)?;
        let provider_id = answer
            .headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Ok(Sent { provider_id })
    }
}
