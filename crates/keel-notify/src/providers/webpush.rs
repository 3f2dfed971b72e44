//! Web Push (kind `webpush`): a message to a browser's push subscription, encrypted for it
//! (RFC 8291, see [`ece`]) and signed by the application server's VAPID key (RFC 8292), sent to
//! the subscription's endpoint (the browser vendor's push service) through the outbound guard.
//!
//! Config keys: `vapid_private_key` (the raw 32-byte P-256 scalar in base64url, as `npx
//! web-push generate-vapid-keys` prints it, or a PEM), `subject` (`mailto:` or `https:` URL
//! the push service may contact), optionally `ttl_secs` (how long the push service keeps an
//! undelivered message; default 4 weeks), `urgency` (`very-low`, `low`, `normal`, `high`),
//! `rate_per_second`, `timeout_secs`.
//!
//! The encrypted payload is the JSON `{"title", "body", "data"}` (`title` and `data` only when
//! the message has them): a service worker reads it with `event.data.json()`.
//!
//! Answers: 2xx (201 Created, 202) accepted (the `Location` of the message is its id);
//! 404/410 the subscription is gone; 413 too large (refused); 429 and 5xx retry; any other
//! status refused.

pub mod ece;

use std::time::Duration;

use async_trait::async_trait;
use keel_core::notify::{Channel, Message, Notifier, NotifyError, Recipient, Sent};
use keel_core::outbound::{OutboundGuard, Refusal};
use keel_core::Result;
use p256::SecretKey;
use reqwest::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, LOCATION};
use serde_json::{json, Map, Value};

use super::es256;
use super::push_common::{b64url, b64url_decode, refused, send, unix_now, Keys};

const SERVICE: &str = "web push service";
/// How long the push service keeps a message it cannot deliver yet, unless `ttl_secs` says.
const DEFAULT_TTL: u32 = 28 * 24 * 3600;
/// How long a VAPID token is valid (RFC 8292 allows up to 24 h).
const VAPID_LIFETIME: u64 = 12 * 3600;

/// The Web Push provider.
pub struct WebPush {
    name: String,
    key: SecretKey,
    /// Our public key, base64url (the `k=` of the Authorization header).
    public_b64: String,
    subject: String,
    ttl: u32,
    urgency: Option<String>,
    rate: Option<u32>,
    timeout: Duration,
    outbound: OutboundGuard,
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
        let keys = Keys::new(at, table);
        keys.only(&["vapid_private_key", "subject", "ttl_secs", "urgency"])?;
        let name = keys.name()?;
        let key = es256::parse_key(&keys.req("vapid_private_key")?).ok_or_else(|| {
            keys.invalid(
                "vapid_private_key",
                "must be a P-256 private key: 32 bytes in base64url (web-push generate-vapid-keys) or a PEM",
            )
        })?;
        let subject = keys.req("subject")?;
        if !(subject.starts_with("mailto:") || subject.starts_with("https://")) {
            return Err(keys.invalid("subject", "must be a mailto: address or an https:// URL"));
        }
        let urgency = keys.opt("urgency")?;
        if let Some(u) = &urgency {
            if !["very-low", "low", "normal", "high"].contains(&u.as_str()) {
                return Err(keys.invalid("urgency", "must be one of very-low, low, normal, high"));
            }
        }
        Ok(WebPush {
            name,
            public_b64: b64url(&es256::public_point(&key)),
            key,
            subject,
            ttl: keys.opt_u32_in("ttl_secs", 0, DEFAULT_TTL)?.unwrap_or(DEFAULT_TTL),
            urgency,
            rate: keys.rate()?,
            timeout: keys.timeout()?,
            outbound: outbound.clone(),
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

/// An endpoint the guard refuses: one that is not a URL or names an internal address is
/// refused for good (a subscription's endpoint is the browser's, not the operator's); a client
/// that could not be built is worth retrying.
fn endpoint_refused(e: Refusal) -> NotifyError {
    match e {
        Refusal::Client(_) => refused(SERVICE, e),
        e => NotifyError::Rejected(format!("the subscription's endpoint: {e}")),
    }
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
            return Err(NotifyError::Rejected(format!(
                "provider {} sends to Web Push subscriptions only",
                self.name
            )));
        };
        let p256dh =
            b64url_decode(p256dh).ok_or_else(|| NotifyError::Rejected(ece::EceError::BadP256dh.to_string()))?;
        let auth = b64url_decode(auth).ok_or_else(|| NotifyError::Rejected(ece::EceError::BadAuth.to_string()))?;
        let body = ece::encrypt(&payload(message), &p256dh, &auth).map_err(|e| NotifyError::Rejected(e.to_string()))?;

        let url = self.outbound.check_url(endpoint).map_err(endpoint_refused)?;
        let mut request = self
            .outbound
            .post(url.as_str())
            .map_err(endpoint_refused)?
            .timeout(self.timeout)
            .header(AUTHORIZATION, self.vapid(&url))
            .header(CONTENT_ENCODING, "aes128gcm")
            .header(CONTENT_TYPE, "application/octet-stream")
            .header("TTL", self.ttl.to_string())
            .body(body);
        if let Some(urgency) = &self.urgency {
            request = request.header("Urgency", urgency.as_str());
        }
        let answer = send(SERVICE, request).await?;
        if answer.status.is_success() {
            let provider_id = answer
                .headers
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            return Ok(Sent { provider_id });
        }
        Err(match answer.status.as_u16() {
            404 | 410 => NotifyError::Gone(answer.describe(SERVICE)),
            413 => NotifyError::Rejected(answer.describe(SERVICE)),
            _ => answer.default_error(SERVICE),
        })
    }
}
