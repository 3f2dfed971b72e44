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

use crate::providers::http::Service;
use crate::providers::push_common::unix_now;

const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// A token is dropped this long before its `expires_in` runs out.
const MARGIN: Duration = Duration::from_secs(60);

pub(super) struct TokenSource {
    client_email: String,
    token_url: String,
    key: EncodingKey,
    /// The token endpoint as errors name it, scrubbing the service account's key.
    service: Service,
    cached: Mutex<Option<(String, Instant)>>,
}

impl TokenSource {
    pub(super) fn new(client_email: String, token_url: String, key: EncodingKey, service: Service) -> TokenSource {
        TokenSource {
            client_email,
            token_url,
            key,
            service,
            cached: Mutex::new(None),
        }
    }

    /// A valid access token: the cached one, or a new one.
    pub(super) async fn get(&self, outbound: &OutboundGuard) -> Result<String, NotifyError> {
        let mut cached = self.cached.lock().await;
        if let Some((token, until)) = cached.as_ref() {
            if Instant::now() < *until {
                return Ok(token.clone());
            }
        }
        let (token, lifetime) = self.exchange(outbound).await?;
        *cached = Some((token.clone(), Instant::now() + lifetime.saturating_sub(MARGIN)));
        Ok(token)
    }

    /// Drops the cached token (FCM refused it).
    pub(super) async fn forget(&self) {
        *self.cached.lock().await = None;
    }

    async fn exchange(&self, outbound: &OutboundGuard) -> Result<(String, Duration), NotifyError> {
        let now = unix_now();
        let claims = json!({
            "iss": self.client_email,
            "scope": SCOPE,
            "aud": self.token_url,
            "iat": now,
            "exp": now + 3600,
        });
        let assertion = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key)
            .map_err(|_| self.service.rejected("cannot sign with the service account key"))?;
        // The assertion can be exchanged for a token: no error shows it either.
        let service = self.service.with_secret(&assertion);
        // The JWT is base64url and dots: nothing to escape in a form body.
        let form = format!("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}");
        let request = outbound
            .post(&self.token_url)
            .map(|r| r.header(CONTENT_TYPE, "application/x-www-form-urlencoded").body(form));
        let answer = service.classify(service.exchange(request).await?)?;
        let json = answer.json().unwrap_or_default();
        let Some(token) = json.get("access_token").and_then(Value::as_str) else {
            return Err(service.retry(
                &format!("answered {} without an access_token", answer.status.as_u16()),
                None,
            ));
        };
        let lifetime = json.get("expires_in").and_then(Value::as_u64).unwrap_or(3600);
        Ok((token.to_string(), Duration::from_secs(lifetime)))
    }
}
