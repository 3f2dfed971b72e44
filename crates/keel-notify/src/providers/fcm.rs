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
//! 401 the access token was refused (dropped, retry); 429, 5xx retry after `Retry-After`;
//! other 4xx (400 `INVALID_ARGUMENT`, 403 `SENDER_ID_MISMATCH`) refused.

mod token;

use std::time::Duration;

use async_trait::async_trait;
use keel_core::notify::{Channel, Message, Notifier, NotifyError, Recipient, Sent};
use keel_core::outbound::OutboundGuard;
use keel_core::Result;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::{json, Map, Value};

use super::push_common::{refused, send, Keys};
use token::TokenSource;

const SERVICE: &str = "FCM";
const DEFAULT_BASE: &str = "https://fcm.googleapis.com";

/// The FCM provider.
pub struct Fcm {
    name: String,
    send_url: String,
    tokens: TokenSource,
    rate: Option<u32>,
    timeout: Duration,
    outbound: OutboundGuard,
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
        let keys = Keys::new(at, table);
        keys.only(&["service_account", "project_id", "token_url"])?;
        let name = keys.name()?;
        let raw = keys.req("service_account")?;
        let text = if raw.starts_with('{') {
            raw
        } else {
            std::fs::read_to_string(&raw).map_err(|e| {
                keys.invalid(
                    "service_account",
                    format!("cannot read the service account key file: {}", e.kind()),
                )
            })?
        };
        let account: Value = serde_json::from_str(&text)
            .map_err(|_| keys.invalid("service_account", "is not a service account JSON key"))?;
        let field = |k: &str| account.get(k).and_then(Value::as_str).map(str::to_string);
        let (Some(client_email), Some(private_key)) = (field("client_email"), field("private_key")) else {
            return Err(keys.invalid(
                "service_account",
                "the key has no client_email or private_key (download a key of type JSON)",
            ));
        };
        let project = match keys.opt("project_id")?.or_else(|| field("project_id")) {
            Some(p)
                if p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':' || c == '.') =>
            {
                p
            }
            Some(_) => return Err(keys.invalid("project_id", "is not a Firebase project id")),
            None => return Err(keys.invalid("project_id", "is required when the service account key has none")),
        };
        let token_url = keys
            .opt("token_url")?
            .or_else(|| field("token_uri"))
            .unwrap_or_else(|| "https://oauth2.googleapis.com/token".into());
        if !reqwest::Url::parse(&token_url).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
            return Err(keys.invalid("token_url", "must be an http:// or https:// URL"));
        }
        let signing = jsonwebtoken::EncodingKey::from_rsa_pem(private_key.as_bytes())
            .map_err(|_| keys.invalid("service_account", "the key's private_key is not an RSA key in PEM"))?;
        let base = keys.base_url(DEFAULT_BASE)?;
        Ok(Fcm {
            name,
            send_url: format!("{base}/v1/projects/{project}/messages:send"),
            tokens: TokenSource::new(client_email, token_url, signing),
            rate: keys.rate()?,
            timeout: keys.timeout()?,
            outbound: outbound.clone(),
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
fn error_code(answer: &Value) -> Option<String> {
    let error = answer.get("error")?;
    error
        .get("details")
        .and_then(Value::as_array)
        .and_then(|d| d.iter().find_map(|x| x.get("errorCode").and_then(Value::as_str)))
        .or_else(|| error.get("status").and_then(Value::as_str))
        .map(str::to_string)
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
        let Recipient::Device { token } = &message.to else {
            return Err(NotifyError::Rejected(format!(
                "provider {} sends to device tokens only",
                self.name
            )));
        };
        let access = self.tokens.get(&self.outbound, self.timeout).await?;
        let request = self
            .outbound
            .post(&self.send_url)
            .map_err(|e| refused(SERVICE, e))?
            .timeout(self.timeout)
            .header(AUTHORIZATION, format!("Bearer {access}"))
            .header(CONTENT_TYPE, "application/json")
            .body(body(token, message).to_string());
        let answer = send(SERVICE, request).await?;
        let json = answer.json();
        if answer.status.is_success() {
            let provider_id = json.get("name").and_then(Value::as_str).map(str::to_string);
            return Ok(Sent { provider_id });
        }
        let code = error_code(&json);
        Err(match (answer.status.as_u16(), code.as_deref()) {
            (_, Some("UNREGISTERED")) | (404, _) => NotifyError::Gone(answer.describe(SERVICE)),
            (401, _) => {
                self.tokens.forget().await;
                NotifyError::Retry {
                    message: answer.describe(SERVICE),
                    after: None,
                }
            }
            _ => answer.default_error(SERVICE),
        })
    }
}
