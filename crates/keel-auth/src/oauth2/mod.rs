//! OAuth2 / OpenID Connect client for PocketBase's `auth-with-oauth2` flow (authorization
//! code + PKCE): provider configs as PocketBase stores them, built-in provider defaults,
//! authorization URLs, the code exchange, `id_token` validation against a JWKS, and the mapping
//! of each provider's user data to one [`OAuth2User`].
//!
//! The flow, as the routes use it:
//! 1. `auth-methods`: [`Provider::resolve`] each configured provider, make a [`pkce::new`] pair
//!    and a [`new_state`], answer [`Provider::auth_url`] (it ends with `&redirect_uri=`, which
//!    PocketBase's SDK completes) with the state and the verifier.
//! 2. `auth-with-oauth2`: [`Provider::exchange`] the code with the verifier and redirect URL the
//!    SDK sends back; a nonce derived with [`pkce::nonce_for`] from the verifier lets the
//!    `id_token`'s nonce be checked without storing anything between the two requests.
//!
//! The `reqwest::Client` is the caller's: it must be built with a TLS feature to reach real
//! providers, and should have timeouts. Secrets and tokens never appear in an error message.

mod config;
mod exchange;
mod oidc;
pub mod pkce;
mod providers;
mod user;

pub use config::ProviderConfig;
pub use providers::{Provider, BUILTIN_PROVIDERS};

use rand::distr::{Alphanumeric, SampleString};

/// The user an OAuth2 provider vouched for, in PocketBase's `OAuth2User` shape.
#[derive(Clone, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuth2User {
    /// The provider's stable id of the user (`sub` for OpenID Connect providers).
    pub id: String,
    /// The display name, empty when the provider gave none.
    pub name: String,
    /// The provider's user name (`login`, `preferred_username`…), empty when none.
    pub username: String,
    /// The email, empty when the provider gave none.
    pub email: String,
    /// The avatar's URL, empty when none.
    #[serde(rename = "avatarURL")]
    pub avatar_url: String,
    /// Whether the provider says it verified `email` (false when it does not say).
    pub is_email_verified: bool,
    /// The provider's access token.
    pub access_token: String,
    /// The provider's refresh token, empty when none was issued.
    pub refresh_token: String,
    /// When `access_token` expires, as PocketBase writes dates (`2006-01-02 15:04:05.000Z`).
    pub expiry: Option<String>,
    /// The provider's user data as received (userinfo JSON or `id_token` claims).
    #[serde(rename = "rawUser")]
    pub raw: serde_json::Value,
}

impl std::fmt::Debug for OAuth2User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth2User")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("username", &self.username)
            .field("email", &self.email)
            .field("avatar_url", &self.avatar_url)
            .field("is_email_verified", &self.is_email_verified)
            .field("access_token", &"<hidden>")
            .field("refresh_token", &"<hidden>")
            .field("expiry", &self.expiry)
            .finish_non_exhaustive()
    }
}

/// Why an `id_token` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdTokenError {
    /// Not a well-formed JWT (three base64url parts, JSON header and claims).
    #[error("it is not a well-formed JWT")]
    Malformed,
    /// The `alg` is not an asymmetric algorithm we verify (`none` and `HS*` are always refused).
    #[error("its algorithm {0:?} is not accepted")]
    UnsupportedAlgorithm(String),
    /// No key of the provider's JWKS has the token's `kid`, even after refetching the JWKS.
    #[error("it is signed by a key the provider does not publish")]
    UnknownKey,
    /// The published key's type does not fit the token's `alg`.
    #[error("its key type does not match its algorithm")]
    KeyMismatch,
    /// The signature does not verify with the provider's key.
    #[error("its signature is invalid")]
    BadSignature,
    /// `iss` is not the provider's issuer.
    #[error("it was issued by another issuer")]
    WrongIssuer,
    /// `aud` does not contain the client id.
    #[error("it was issued for another client")]
    WrongAudience,
    /// `exp` is in the past.
    #[error("it has expired")]
    Expired,
    /// The `nonce` is missing or is not the one sent with the authorization request.
    #[error("its nonce does not match")]
    NonceMismatch,
    /// A required claim is missing.
    #[error("it has no {0:?} claim")]
    MissingClaim(String),
}

/// What went wrong in an OAuth2 step. Every variant is the caller's or the provider's doing,
/// answered with a 400; none carries a secret or a token.
#[derive(Debug, thiserror::Error)]
pub enum OAuth2Error {
    /// The provider name is none of [`BUILTIN_PROVIDERS`].
    #[error("unknown OAuth2 provider {0:?}")]
    UnknownProvider(String),
    /// The provider's configuration is incomplete or invalid.
    #[error("invalid OAuth2 provider config: {0}")]
    Config(String),
    /// The OpenID Connect discovery document or the JWKS could not be used.
    #[error("OpenID Connect discovery failed: {0}")]
    Discovery(String),
    /// The token endpoint refused the code (expired, reused, wrong verifier or redirect URL…).
    #[error("the OAuth2 provider refused the authorization code: {error}{}", description_suffix(.description))]
    Refused {
        /// The OAuth2 error code (`invalid_grant`…) or the HTTP status.
        error: String,
        /// The provider's description, when it sent one.
        description: String,
    },
    /// The `id_token` was refused.
    #[error("invalid id_token: {0}")]
    InvalidIdToken(#[from] IdTokenError),
    /// The user data could not be fetched or was unusable.
    #[error("failed to fetch the OAuth2 user: {0}")]
    UserInfo(String),
    /// The provider could not be reached or answered something that is not JSON.
    #[error("OAuth2 provider request failed: {0}")]
    Network(String),
}

fn description_suffix(description: &str) -> String {
    if description.is_empty() {
        String::new()
    } else {
        format!(" ({description})")
    }
}

impl From<reqwest::Error> for OAuth2Error {
    fn from(e: reqwest::Error) -> Self {
        // Without the URL: a userinfo URL may carry a query the provider considers private.
        OAuth2Error::Network(e.without_url().to_string())
    }
}

impl From<OAuth2Error> for keel_core::Error {
    fn from(e: OAuth2Error) -> Self {
        match e {
            OAuth2Error::UnknownProvider(_) => {
                keel_core::Error::field("provider", "validation_invalid_value", e.to_string())
            }
            other => keel_core::Error::bad_request(other.to_string()),
        }
    }
}

/// A random `state` for an authorization request: 32 characters of `[A-Za-z0-9]`.
pub fn new_state() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 32)
}
