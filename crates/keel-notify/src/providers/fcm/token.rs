//! FCM's OAuth2 access tokens: a service account's signed JWT exchanged at the token URL
//! (RFC 7523 jwt-bearer grant), kept until a minute before it expires. Concurrent sends wait
//! for the one exchange in flight instead of each making their own.

use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use keel_core::notify::NotifyError;
use keel_core::outbound::OutboundGuard;
use reqwest::header::CONTENT_TYPE;
use serde_json::{json, Value};
use tokio::sync::Mutex;

use crate::providers::push_common::{refused, send, unix_now};

const SERVICE: &str = "FCM token endpoint";
const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// A token is dropped this long before its `expires_in` runs out.
const MARGIN: Duration = Duration::from_secs(60);

pub(super) struct TokenSource {
    client_email: String,
    token_url: String,
    key: EncodingKey,
    cached: Mutex<Option<(String, Instant)>>,
}

impl TokenSource {
    pub(super) fn new(client_email: String, token_url: String, key: EncodingKey) -> TokenSource {
        TokenSource {
            client_email,
            token_url,
            key,
            cached: Mutex::new(None),
        }
    }

    /// A valid access token: the cached one, or a new one.
    pub(super) async fn get(&self, outbound: &OutboundGuard, timeout: Duration) -> Result<String, NotifyError> {
        let mut cached = self.cached.lock().await;
        if let Some((token, until)) = cached.as_ref() {
            if Instant::now() < *until {
                return Ok(token.clone());
            }
        }
        let (token, lifetime) = self.exchange(outbound, timeout).await?;
        *cached = Some((token.clone(), Instant::now() + lifetime.saturating_sub(MARGIN)));
        Ok(token)
    }

    /// Drops the cached token (FCM refused it).
    pub(super) async fn forget(&self) {
        *self.cached.lock().await = None;
    }

    async fn exchange(&self, outbound: &OutboundGuard, timeout: Duration) -> Result<(String, Duration), NotifyError> {
        let now = unix_now();
        let claims = json!({
            "iss": self.client_email,
            "scope": SCOPE,
            "aud": self.token_url,
            "iat": now,
            "exp": now + 3600,
        });
        let assertion = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key)
            .map_err(|_| NotifyError::Rejected("FCM: cannot sign with the service account key".into()))?;
        // The JWT is base64url and dots: nothing to escape in a form body.
        let form = format!("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}");
        let request = outbound
            .post(&self.token_url)
            .map_err(|e| refused(SERVICE, e))?
            .timeout(timeout)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form);
        let answer = send(SERVICE, request).await?;
        if !answer.status.is_success() {
            return Err(answer.default_error(SERVICE));
        }
        let json = answer.json();
        let Some(token) = json.get("access_token").and_then(Value::as_str) else {
            return Err(NotifyError::Retry {
                message: format!("{SERVICE} answered {} without an access_token", answer.status),
                after: None,
            });
        };
        let lifetime = json.get("expires_in").and_then(Value::as_u64).unwrap_or(3600);
        Ok((token.to_string(), Duration::from_secs(lifetime)))
    }
}
