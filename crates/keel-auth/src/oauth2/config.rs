//! One entry of an auth collection's `oauth2.providers[]`, as PocketBase stores it.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// A provider's configuration, in PocketBase's JSON shape:
/// `{"name":"google","clientId":"…","clientSecret":"…","authURL":"","tokenURL":"",
/// "userInfoURL":"","displayName":"","pkce":null,"extra":{}}`.
///
/// An empty URL means the provider's default. `extra` holds provider options: `tenant`
/// (microsoft), and for OpenID Connect `issuer`, `discoveryURL` and `jwksURL` (all providers
/// accept `issuer` and `jwksURL` overrides, so tests can point them at a local server).
/// `Debug` hides `clientSecret`.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProviderConfig {
    /// The provider's name: one of [`BUILTIN_PROVIDERS`](super::BUILTIN_PROVIDERS).
    pub name: String,
    /// The OAuth2 client id.
    pub client_id: String,
    /// The OAuth2 client secret (for Apple, the client secret JWT).
    pub client_secret: String,
    /// The authorization endpoint; empty for the default.
    #[serde(rename = "authURL")]
    pub auth_url: String,
    /// The token endpoint; empty for the default.
    #[serde(rename = "tokenURL")]
    pub token_url: String,
    /// The userinfo endpoint; empty for the default.
    #[serde(rename = "userInfoURL")]
    pub user_info_url: String,
    /// The name shown to users; empty for the provider's own.
    pub display_name: String,
    /// `Some(false)` turns PKCE off, `Some(true)` on; `None` keeps the provider's default.
    pub pkce: Option<bool>,
    /// Provider-specific options (a JSON `null` reads as empty).
    #[serde(deserialize_with = "null_as_empty")]
    pub extra: Map<String, Value>,
}

impl ProviderConfig {
    /// `extra[key]` when it is a non-empty string.
    pub fn extra_str(&self, key: &str) -> Option<&str> {
        self.extra
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }
}

fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Map<String, Value>, D::Error> {
    Ok(Option::<Map<String, Value>>::deserialize(d)?.unwrap_or_default())
}

impl std::fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = if self.client_secret.is_empty() { "" } else { "<hidden>" };
        f.debug_struct("ProviderConfig")
            .field("name", &self.name)
            .field("client_id", &self.client_id)
            .field("client_secret", &secret)
            .field("auth_url", &self.auth_url)
            .field("token_url", &self.token_url)
            .field("user_info_url", &self.user_info_url)
            .field("display_name", &self.display_name)
            .field("pkce", &self.pkce)
            .field("extra", &self.extra)
            .finish()
    }
}
