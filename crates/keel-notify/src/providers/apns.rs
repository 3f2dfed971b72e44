//! Apple Push Notification service (kind `apns`): an alert to one device token, over HTTP/2
//! (APNs takes nothing else).
//!
//! Config keys: `team_id`, `key_id`, `private_key` (the `.p8` key's PEM, or its path),
//! `topic` (the app's bundle id), optionally `environment` (`production`, the default, or
//! `sandbox`: picks the default base URL), `base_url` (default `https://api.push.apple.com`,
//! sandbox `https://api.sandbox.push.apple.com`), `priority` (10 send now, the default; 5
//! power-considerate), `ttl_secs` (sets `apns-expiration`; default 4 weeks; 0: at once or never),
//! `rate_per_second`, `timeout_secs`.
//!
//! Each send is `POST {base}/3/device/{token}` with the provider token `authorization: bearer
//! <ES256 JWT {iss: team_id, iat}, kid key_id>` (made once and reused for 50 minutes; Apple
//! refuses one older than an hour), `apns-topic`, `apns-push-type: alert`, `apns-priority`,
//! `apns-expiration`, and the body `{"aps": {"alert": {"title", "body"}}, ...data}`. Over
//! `https://` HTTP/2 is agreed by ALPN; over `http://` (a local stand-in or relay) Keel speaks
//! HTTP/2 with prior knowledge ([`OutboundGuard::http2`]).
//!
//! Answers: 200 accepted (the `apns-id` header is the id); 410 (`Unregistered`) and 400
//! `BadDeviceToken` the token is gone; 403 `ExpiredProviderToken` drops the provider token and
//! retries; the rest as `http.rs` classifies them (429 and 5xx retry; other 4xx refused, with
//! Apple's `reason`). Errors never show the `.p8` key or the provider token.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use keel_core::notify::{Channel, Message, Notifier, NotifyError, Sent};
use keel_core::outbound::OutboundGuard;
use keel_core::{Error, Result};
use p256::SecretKey;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tokio::sync::Mutex;

use super::config::{check_rate, check_timeout, parse, require, Secret};
use super::es256;
use super::http::{check_url, Service};
use super::push_common::{key_secrets, unix_now, DEFAULT_TIMEOUT};

const PRODUCTION: &str = "https://api.push.apple.com";
const SANDBOX: &str = "https://api.sandbox.push.apple.com";
/// How long a provider token is reused (Apple: refresh at most every 20 minutes and before 60).
const TOKEN_REUSE: Duration = Duration::from_secs(50 * 60);
const DEFAULT_TTL: u32 = 28 * 24 * 3600;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApnsConfig {
    name: String,
    #[allow(dead_code)]
    kind: String,
    #[serde(default)]
    rate_per_second: Option<u32>,
    #[serde(default)]
    timeout_secs: Option<u32>,
    #[serde(default)]
    base_url: Option<String>,
    team_id: String,
    key_id: String,
    /// The `.p8` PEM, or its path.
    private_key: Secret,
    topic: String,
    #[serde(default)]
    environment: Option<Environment>,
    #[serde(default)]
    priority: Option<u32>,
    #[serde(default)]
    ttl_secs: Option<u32>,
}

/// Which of Apple's services the default base URL is.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Environment {
    Production,
    Sandbox,
}

/// The APNs provider.
pub struct Apns {
    name: String,
    base: String,
    team_id: String,
    key_id: String,
    key: SecretKey,
    topic: String,
    priority: u32,
    ttl: u32,
    rate: Option<u32>,
    outbound: OutboundGuard,
    service: Service,
    token: Mutex<Option<(String, Instant)>>,
}

impl std::fmt::Debug for Apns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Apns")
            .field("name", &self.name)
            .field("base", &self.base)
            .field("team_id", &self.team_id)
            .field("key_id", &self.key_id)
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl Apns {
    /// From its `[[notify.providers]]` table.
    pub(crate) fn from_config(at: &str, table: &Map<String, Value>, outbound: &OutboundGuard) -> Result<Apns> {
        let cfg: ApnsConfig = parse(at, table)?;
        require(
            at,
            &[
                ("name", &cfg.name),
                ("team_id", &cfg.team_id),
                ("key_id", &cfg.key_id),
                ("private_key", cfg.private_key.expose()),
                ("topic", &cfg.topic),
            ],
        )?;
        let invalid =
            |key: &str, message: String| Error::field(format!("{at}.{key}"), "validation_invalid_value", message);
        let raw = cfg.private_key.expose().trim();
        let pem = if raw.contains("-----BEGIN") {
            raw.to_string()
        } else {
            std::fs::read_to_string(raw)
                .map_err(|e| invalid("private_key", format!("cannot read the key file: {}", e.kind())))?
        };
        let key = es256::parse_key(&pem).ok_or_else(|| {
            invalid(
                "private_key",
                "must be the PEM of an APNs .p8 key (P-256), or its path".into(),
            )
        })?;
        let priority = match cfg.priority {
            None => 10,
            Some(p @ (1 | 5 | 10)) => p,
            Some(_) => return Err(invalid("priority", "must be 10, 5 or 1".into())),
        };
        let ttl = match cfg.ttl_secs {
            None => DEFAULT_TTL,
            Some(t) if t <= DEFAULT_TTL => t,
            Some(_) => {
                return Err(invalid(
                    "ttl_secs",
                    "must be a whole number from 0 to 2419200 (4 weeks)".into(),
                ))
            }
        };
        let topic = cfg.topic.trim().to_string();
        if topic.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(invalid("topic", "must be the app's bundle id".into()));
        }
        let default_base = match cfg.environment {
            None | Some(Environment::Production) => PRODUCTION,
            Some(Environment::Sandbox) => SANDBOX,
        };
        let base = check_url(
            outbound,
            at,
            "base_url",
            cfg.base_url.as_deref().unwrap_or(default_base),
        )?;
        Ok(Apns {
            name: cfg.name.trim().to_string(),
            team_id: cfg.team_id.trim().to_string(),
            key_id: cfg.key_id.trim().to_string(),
            key,
            topic,
            priority,
            ttl,
            rate: check_rate(at, cfg.rate_per_second)?,
            outbound: if base.starts_with("http://") {
                outbound.http2()
            } else {
                outbound.clone()
            },
            service: Service::new("APNs", key_secrets(&pem)).with_timeout(check_timeout(
                at,
                cfg.timeout_secs,
                DEFAULT_TIMEOUT,
            )?),
            base,
            token: Mutex::new(None),
        })
    }

    /// The provider token: the one made less than 50 minutes ago, or a new one.
    async fn provider_token(&self) -> String {
        self.provider_token_at(Instant::now(), unix_now()).await
    }

    /// [`provider_token`](Self::provider_token) at `now`, a new one issued at `iat`.
    async fn provider_token_at(&self, now: Instant, iat: u64) -> String {
        let mut cached = self.token.lock().await;
        if let Some((token, made)) = cached.as_ref() {
            if now.saturating_duration_since(*made) < TOKEN_REUSE {
                return token.clone();
            }
        }
        let token = es256::sign(
            &self.key,
            &json!({"alg": "ES256", "kid": self.key_id}),
            &json!({"iss": self.team_id, "iat": iat}),
        );
        *cached = Some((token.clone(), now));
        token
    }

    /// `apns-expiration`: `0` (deliver at once or never) for a TTL of 0, else now + the TTL.
    fn expiration(&self) -> u64 {
        match self.ttl {
            0 => 0,
            ttl => unix_now() + u64::from(ttl),
        }
    }
}

/// The body: `aps.alert` and the message's data beside it.
fn body(message: &Message) -> Value {
    let mut alert = Map::new();
    if let Some(title) = &message.subject {
        alert.insert("title".into(), Value::String(title.clone()));
    }
    alert.insert("body".into(), Value::String(message.text.clone()));
    let mut out = Map::new();
    if let Value::Object(data) = &message.data {
        for (k, v) in data {
            if k != "aps" {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out.insert("aps".into(), json!({ "alert": alert }));
    Value::Object(out)
}

#[async_trait]
impl Notifier for Apns {
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
        let token = self.service.device_of(message)?;
        if !token.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(NotifyError::Gone("APNs: not an APNs device token".into()));
        }
        let bearer = self.provider_token().await;
        let service = self.service.with_secret(&bearer);
        let request = self.outbound.post(&format!("{}/3/device/{token}", self.base)).map(|r| {
            r.header(AUTHORIZATION, format!("bearer {bearer}"))
                .header("apns-topic", self.topic.as_str())
                .header("apns-push-type", "alert")
                .header("apns-priority", self.priority.to_string())
                .header("apns-expiration", self.expiration().to_string())
                .header(CONTENT_TYPE, "application/json")
                .body(body(message).to_string())
        });
        let answer = service.exchange(request).await?;
        if !answer.status.is_success() {
            let json = answer.json().unwrap_or_default();
            let reason = json.get("reason").and_then(Value::as_str).unwrap_or_default();
            match (answer.status.as_u16(), reason) {
                (410, _) | (400, "BadDeviceToken") => return Err(service.gone(&answer)),
                (403, "ExpiredProviderToken") => {
                    *self.token.lock().await = None;
                    return Err(service.retry(&service.answered(&answer), None));
                }
                _ => {}
            }
        }
        let answer = service.classify(answer)?;
        let provider_id = answer
            .headers
            .get("apns-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Ok(Sent { provider_id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::pkcs8::{EncodePrivateKey, LineEnding};

    #[tokio::test]
    async fn the_provider_token_is_reused_for_50_minutes_then_replaced() {
        let key = SecretKey::from_slice(&[7u8; 32]).unwrap();
        let pem = key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
        let table = json!({"name": "apns", "kind": "apns", "team_id": "T", "key_id": "K",
                           "private_key": pem, "topic": "com.example.app"});
        let apns = Apns::from_config("p", table.as_object().unwrap(), &OutboundGuard::default()).unwrap();
        let t0 = Instant::now();
        let first = apns.provider_token_at(t0, 1_000).await;
        let later = apns.provider_token_at(t0 + Duration::from_secs(49 * 60), 3_940).await;
        assert_eq!(first, later, "reused within 50 minutes");
        let renewed = apns.provider_token_at(t0 + Duration::from_secs(50 * 60), 4_000).await;
        assert_ne!(first, renewed, "a new token from 50 minutes on");
        let claims = renewed.split('.').nth(1).unwrap();
        let claims: Value = serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, claims).unwrap(),
        )
        .unwrap();
        assert_eq!(claims, json!({"iss": "T", "iat": 4_000}));
    }
}
