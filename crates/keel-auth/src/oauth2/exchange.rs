//! The code exchange: token request, `id_token` validation, userinfo, mapping.

use serde::Deserialize;
use serde_json::Value;

use super::providers::{ClientAuth, Kind, Provider};
use super::{oidc, user, OAuth2Error, OAuth2User};

/// GitHub's API refuses requests without a User-Agent.
const USER_AGENT: &str = "keel-oauth2";
/// The longest provider text quoted in an error.
const MAX_QUOTE: usize = 200;

#[derive(Deserialize, Default)]
#[serde(default)]
struct TokenResponse {
    access_token: String,
    refresh_token: String,
    expires_in: Option<Value>,
    id_token: Option<String>,
    error: String,
    error_description: String,
}

fn quote(text: &str) -> String {
    text.chars().take(MAX_QUOTE).collect()
}

impl Provider {
    /// Exchanges an authorization `code` for the user it identifies.
    ///
    /// `code_verifier` is sent when PKCE is on; `redirect_url` must be the one the authorization
    /// request carried. When the provider's `id_token` is checked (OpenID Connect providers,
    /// Google, LinkedIn, Apple) and the token response has one, it is validated first: its
    /// signature against the issuer's JWKS, `iss`, `aud`, `exp`, and `nonce` when `nonce` is
    /// given (see [`pkce::nonce_for`](super::pkce::nonce_for)). The user comes from the userinfo
    /// endpoint, or from the `id_token` when there is none (Apple).
    pub async fn exchange(
        &self,
        http: &reqwest::Client,
        code: &str,
        code_verifier: Option<&str>,
        redirect_url: &str,
        nonce: Option<&str>,
    ) -> Result<OAuth2User, OAuth2Error> {
        if code.is_empty() {
            return Err(OAuth2Error::Refused {
                error: "missing code".into(),
                description: String::new(),
            });
        }
        let token = self.request_token(http, code, code_verifier, redirect_url).await?;
        let claims = match (&self.id_token, &token.id_token) {
            (Some(check), Some(id_token)) => {
                Some(oidc::validate_id_token(http, check, &self.client_id, id_token, nonce).await?)
            }
            _ => None,
        };
        let raw = match (&self.user_info_url, claims) {
            (Some(url), claims) => {
                let raw = self.get_user_json(http, url, &token.access_token).await?;
                let sub = |v: &Value| v.get("sub").and_then(Value::as_str).map(str::to_string);
                if let (Some(claims), Some(info_sub)) = (&claims, sub(&raw)) {
                    if sub(claims) != Some(info_sub) {
                        return Err(OAuth2Error::UserInfo(
                            "the userinfo subject is not the id_token's".into(),
                        ));
                    }
                }
                raw
            }
            (None, Some(claims)) => claims,
            (None, None) => {
                return Err(OAuth2Error::UserInfo(
                    "the provider answered no id_token to read the user from".into(),
                ))
            }
        };
        let mut u = match (self.kind, &self.user_info_url) {
            (Kind::Github, Some(url)) => {
                // The emails list may be refused (no `user:email` scope): then go without it.
                let emails_url = format!("{}/emails", url.trim_end_matches('/'));
                let emails = self.get_user_json(http, &emails_url, &token.access_token).await.ok();
                user::github(raw, emails.as_ref())
            }
            _ => self.map_user(raw),
        };
        if u.id.is_empty() {
            return Err(OAuth2Error::UserInfo("the provider answered no user id".into()));
        }
        u.access_token = token.access_token;
        u.refresh_token = token.refresh_token;
        u.expiry = token.expires_in.as_ref().and_then(expiry);
        Ok(u)
    }

    /// Maps a provider's user JSON (userinfo answer or `id_token` claims) to an [`OAuth2User`]
    /// without tokens. For GitHub, the email comes from `/user` only (the exchange also reads
    /// `/user/emails`).
    pub fn map_user(&self, raw: Value) -> OAuth2User {
        match self.kind {
            Kind::Github => user::github(raw, None),
            kind => user::map(kind, raw),
        }
    }

    async fn request_token(
        &self,
        http: &reqwest::Client,
        code: &str,
        code_verifier: Option<&str>,
        redirect_url: &str,
    ) -> Result<TokenResponse, OAuth2Error> {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_url),
        ];
        if let Some(v) = code_verifier.filter(|_| self.pkce) {
            form.push(("code_verifier", v));
        }
        let mut req = http
            .post(&self.token_url)
            .header(reqwest::header::ACCEPT, "application/json")
            .header(reqwest::header::USER_AGENT, USER_AGENT);
        match self.client_auth {
            ClientAuth::Post => {
                form.push(("client_id", self.client_id.as_str()));
                form.push(("client_secret", self.client_secret.as_str()));
            }
            ClientAuth::Basic => {
                req = req.basic_auth(&self.client_id, Some(&self.client_secret));
            }
        }
        let resp = req.form(&form).send().await?;
        let status = resp.status();
        let body = resp.text().await?;
        let token: TokenResponse = serde_json::from_str(&body).unwrap_or_default();
        // GitHub answers refusals with a 200 and an `error` field.
        if !status.is_success() || !token.error.is_empty() || token.access_token.is_empty() {
            let error = if !token.error.is_empty() {
                quote(&token.error)
            } else if !status.is_success() {
                format!("HTTP {}", status.as_u16())
            } else {
                "no access_token in the answer".to_string()
            };
            return Err(OAuth2Error::Refused {
                error,
                description: quote(&token.error_description),
            });
        }
        Ok(token)
    }

    async fn get_user_json(&self, http: &reqwest::Client, url: &str, access_token: &str) -> Result<Value, OAuth2Error> {
        let resp = http
            .get(url)
            .bearer_auth(access_token)
            .header(reqwest::header::ACCEPT, "application/json")
            .header(reqwest::header::USER_AGENT, USER_AGENT)
            .send()
            .await?;
        let status = resp.status();
        if !status.is_success() {
            return Err(OAuth2Error::UserInfo(format!(
                "the user endpoint answered HTTP {}",
                status.as_u16()
            )));
        }
        resp.json()
            .await
            .map_err(|_| OAuth2Error::UserInfo("the user endpoint answered no JSON".into()))
    }
}

/// `expires_in` (seconds, a number or a numeric string) as a PocketBase date.
fn expiry(expires_in: &Value) -> Option<String> {
    let secs = match expires_in {
        Value::Number(n) => n.as_i64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    let at = chrono::Utc::now() + chrono::Duration::try_seconds(secs.clamp(0, 10 * 365 * 86_400))?;
    Some(at.format("%Y-%m-%d %H:%M:%S%.3fZ").to_string())
}
