//! Firebase Cloud Messaging, HTTP v1 API (kind `fcm`): a notification to one device token.
//!
//! Config keys: `service_account` (the path of the service account's JSON key file, or the
//! JSON itself), optionally `project_id` (default: the key's), `token_url` (default: the key's
//! `token_uri`), `base_url` (default `https://fcm.googleapis.com`), `rate_per_second`,
//! `timeout_secs`.
//!
//! Keel signs an RS256 JWT with the key (`iss` its `client_email`, `scope` firebase.messaging,
//! `aud` the token URL), exchanges it for an OAuth2 access token (grant type jwt-bearer) and
//! keeps that token until a minute before it expires (`fcm/token.rs`). Each send is
//! `POST {base}/v1/projects/{project}/messages:send` with `{"message": {"token",
//! "notification": {"title", "body"}, "data"}}` (`data` values as strings, as FCM requires).
//!
//! Answers: 200 accepted (its `name` is the id); 404 or `UNREGISTERED` the token is gone;
//! 401 the access token was refused (dropped, retry); the rest as `http.rs` classifies them
//! (429, 5xx retry after `Retry-After`; other 4xx, 400 `INVALID_ARGUMENT`, 403
//! `SENDER_ID_MISMATCH`, refused). Errors never show the service account's private key, the
//! signed assertion or an access token.

mod token;

use async_trait::async_trait;
use keel_core::notify::{Channel, Message, Notifier, NotifyError, Sent};
use keel_core::outbound::OutboundGuard;
use keel_core::{Error, Result};
use reqwest::header::CONTENT_TYPE;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::config::{check_rate, check_timeout, nonblank, parse, require, Secret};
use super::http::{check_url, Service};
use super::push_common::{key_secrets, DEFAULT_TIMEOUT};
use token::TokenSource;

const DEFAULT_BASE: &str = "https://fcm.googleapis.com";
const DEFAULT_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FcmConfig {
    name: String,
    #[allow(dead_code)]
    kind: String,
    #[serde(default)]
    rate_per_second: Option<u32>,
    #[serde(default)]
    timeout_secs: Option<u32>,
    #[serde(default)]
    base_url: Option<String>,
    /// The JSON key, or the path of its file.
    service_account: Secret,
    #[serde(default)]
    project_id: Option<String>,
    #[serde(default)]
    token_url: Option<String>,
}

/// The FCM provider.
pub struct Fcm {
    name: String,
    send_url: String,
    tokens: TokenSource,
    rate: Option<u32>,
    outbound: OutboundGuard,
    service: Service,
}

impl std::fmt::Debug for Fcm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fcm")
            .field("name", &self.name)
            .field("send_url", &self.send_url)
            .finish_non_exhaustive()
    }
}

impl Fcm {
    /// From its `[[notify.providers]]` table.
    pub(crate) fn from_config(at: &str, table: &Map<String, Value>, outbound: &OutboundGuard) -> Result<Fcm> {
        let cfg: FcmConfig = parse(at, table)?;
        require(
            at,
            &[("name", &cfg.name), ("service_account", cfg.service_account.expose())],
        )?;
        let invalid =
            |key: &str, message: String| Error::field(format!("{at}.{key}"), "validation_invalid_value", message);
        let raw = cfg.service_account.expose().trim();
        let text = if raw.starts_with('{') {
            raw.to_string()
        } else {
            std::fs::read_to_string(raw).map_err(|e| {
                invalid(
                    "service_account",
                    format!("cannot read the service account key file: {}", e.kind()),
                )
            })?
        };
        let account: Value = serde_json::from_str(&text)
            .map_err(|_| invalid("service_account", "is not a service account JSON key".into()))?;
        let field = |k: &str| account.get(k).and_then(Value::as_str).map(str::to_string);
        let (Some(client_email), Some(private_key)) = (field("client_email"), field("private_key")) else {
            return Err(invalid(
                "service_account",
                "the key has no client_email or private_key (download a key of type JSON)".into(),
            ));
        };
        let project = match nonblank(&cfg.project_id).or_else(|| field("project_id")) {
            Some(p)
                if p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':' || c == '.') =>
            {
                p
            }
            Some(_) => return Err(invalid("project_id", "is not a Firebase project id".into())),
            None => {
                return Err(invalid(
                    "project_id",
                    "is required when the service account key has none".into(),
                ))
            }
        };
        let token_url = nonblank(&cfg.token_url)
            .or_else(|| field("token_uri"))
            .unwrap_or_else(|| DEFAULT_TOKEN_URL.into());
        let token_url = check_url(outbound, at, "token_url", &token_url)?;
        let signing = jsonwebtoken::EncodingKey::from_rsa_pem(private_key.as_bytes()).map_err(|_| {
            invalid(
                "service_account",
                "the key's private_key is not an RSA key in PEM".into(),
            )
        })?;
        let base = check_url(
            outbound,
            at,
            "base_url",
            cfg.base_url.as_deref().unwrap_or(DEFAULT_BASE),
        )?;
        let timeout = check_timeout(at, cfg.timeout_secs, DEFAULT_TIMEOUT)?;
        let secrets = key_secrets(&private_key);
        Ok(Fcm {
            name: cfg.name.trim().to_string(),
            send_url: format!("{base}/v1/projects/{project}/messages:send"),
            tokens: TokenSource::new(
                client_email,
                token_url,
                signing,
                Service::new("FCM token endpoint", secrets.clone()).with_timeout(timeout),
            ),
            rate: check_rate(at, cfg.rate_per_second)?,
            outbound: outbound.clone(),
            service: Service::new("FCM", secrets).with_timeout(timeout),
        })
    }
}

/// The request body for `token`.
fn body(token: &str, message: &Message) -> Value {
    let mut notification = Map::new();
    if let Some(title) = &message.subject {
        notification.insert("title".into(), Value::String(title.clone()));
    }
    notification.insert("body".into(), Value::String(message.text.clone()));
    let mut out = json!({ "token": token, "notification": notification });
    if let Value::Object(data) = &message.data {
        // FCM's `data` is a map of strings: other JSON values go as their JSON text.
        let strings: Map<String, Value> = data
            .iter()
            .map(|(k, v)| {
                let s = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), Value::String(s))
            })
            .collect();
        if !strings.is_empty() {
            out["data"] = Value::Object(strings);
        }
    }
    json!({ "message": out })
}

/// FCM's error code (`details[].errorCode`, else `error.status`).
fn error_code(answer: &Value) -> Option<&str> {
    let error = answer.get("error")?;
    error
        .get("details")
        .and_then(Value::as_array)
        .and_then(|d| d.iter().find_map(|x| x.get("errorCode").and_then(Value::as_str)))
        .or_else(|| error.get("status").and_then(Value::as_str))
}

#[async_trait]
impl Notifier for Fcm {
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
        let access = self.tokens.get(&self.outbound).await?;
        let service = self.service.with_secret(&access);
        let request = self.outbound.post(&self.send_url).map(|r| {
            r.bearer_auth(&access)
                .header(CONTENT_TYPE, "application/json")
                .body(body(token, message).to_string())
        });
        let answer = service.exchange(request).await?;
        if !answer.status.is_success() {
            let json = answer.json().unwrap_or_default();
            if answer.status.as_u16() == 404 || error_code(&json) == Some("UNREGISTERED") {
                return Err(service.gone(&answer));
            }
            if answer.status.as_u16() == 401 {
                self.tokens.forget().await;
                return Err(service.retry(&service.answered(&answer), None));
            }
        }
        let answer = service.classify(answer)?;
        let provider_id = answer
            .json()
            .and_then(|v| v.get("name").and_then(Value::as_str).map(str::to_string));
        Ok(Sent { provider_id })
    }
}
