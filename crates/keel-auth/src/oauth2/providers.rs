//! The built-in providers' defaults, and a [`Provider`] resolved from a [`ProviderConfig`].

use reqwest::Url;

use super::oidc;
use super::{OAuth2Error, ProviderConfig};

/// Every provider name a config may use (the collection check refuses others).
pub const BUILTIN_PROVIDERS: &[&str] = keel_data::schema::OAUTH2_PROVIDERS;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Apple,
    Discord,
    Facebook,
    Github,
    Gitlab,
    Google,
    Linkedin,
    Microsoft,
    Oidc,
}

/// A provider's defaults. Empty strings mean "none".
struct Defaults {
    display: &'static str,
    auth: String,
    token: String,
    userinfo: &'static str,
    scopes: &'static [&'static str],
    pkce: bool,
    /// `(issuer, jwks URL)` when the provider's `id_token` is validated.
    id_token: Option<(&'static str, &'static str)>,
}

impl Kind {
    fn from_name(name: &str) -> Option<Kind> {
        Some(match name {
            "apple" => Kind::Apple,
            "discord" => Kind::Discord,
            "facebook" => Kind::Facebook,
            "github" => Kind::Github,
            "gitlab" => Kind::Gitlab,
            "google" => Kind::Google,
            "linkedin" => Kind::Linkedin,
            "microsoft" => Kind::Microsoft,
            "oidc" | "oidc2" | "oidc3" => Kind::Oidc,
            _ => return None,
        })
    }

    #[rustfmt::skip]
    fn defaults(self, config: &ProviderConfig) -> Defaults {
        let d = |display, auth: &str, token: &str, userinfo, scopes, pkce| Defaults {
            display,
            auth: auth.to_string(),
            token: token.to_string(),
            userinfo,
            scopes,
            pkce,
            id_token: None,
        };
        match self {
            Kind::Apple => Defaults {
                id_token: Some(("https://appleid.apple.com", "https://appleid.apple.com/auth/keys")),
                ..d("Apple", "https://appleid.apple.com/auth/authorize", "https://appleid.apple.com/auth/token", "", &["name", "email"], false)
            },
            Kind::Discord => d("Discord", "https://discord.com/api/oauth2/authorize", "https://discord.com/api/oauth2/token", "https://discord.com/api/users/@me", &["identify", "email"], true),
            Kind::Facebook => d("Facebook", "https://www.facebook.com/v21.0/dialog/oauth", "https://graph.facebook.com/v21.0/oauth/access_token", "https://graph.facebook.com/me?fields=name,email,picture.type(large)", &["email"], true),
            Kind::Github => d("GitHub", "https://github.com/login/oauth/authorize", "https://github.com/login/oauth/access_token", "https://api.github.com/user", &["read:user", "user:email"], true),
            Kind::Gitlab => d("GitLab", "https://gitlab.com/oauth/authorize", "https://gitlab.com/oauth/token", "https://gitlab.com/api/v4/user", &["read_user"], true),
            Kind::Google => Defaults {
                id_token: Some(("https://accounts.google.com", "https://www.googleapis.com/oauth2/v3/certs")),
                ..d("Google", "https://accounts.google.com/o/oauth2/v2/auth", "https://oauth2.googleapis.com/token", "https://openidconnect.googleapis.com/v1/userinfo", &["openid", "email", "profile"], true)
            },
            Kind::Linkedin => Defaults {
                id_token: Some(("https://www.linkedin.com/oauth", "https://www.linkedin.com/oauth/openid/jwks")),
                ..d("LinkedIn", "https://www.linkedin.com/oauth/v2/authorization", "https://www.linkedin.com/oauth/v2/accessToken", "https://api.linkedin.com/v2/userinfo", &["openid", "profile", "email"], false)
            },
            Kind::Microsoft => {
                let tenant = config.extra_str("tenant").unwrap_or("common");
                let base = format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0");
                d("Microsoft", &format!("{base}/authorize"), &format!("{base}/token"), "https://graph.microsoft.com/v1.0/me", &["User.Read"], true)
            }
            Kind::Oidc => d("OpenID Connect", "", "", "", &["openid", "email", "profile"], true),
        }
    }
}

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientAuth {
    /// `client_id` and `client_secret` in the form body.
    Post,
    /// HTTP Basic with the client id and secret.
    Basic,
}

/// The `id_token` checks of a provider: whose tokens, verified with which keys.
#[derive(Debug, Clone)]
pub(crate) struct IdTokenCheck {
    pub issuer: String,
    pub jwks_url: String,
}

/// A provider ready to use: its config merged with the built-in defaults (and, for OpenID
/// Connect, with the discovery document). Cheap to clone. `Debug` hides the client secret.
#[derive(Clone)]
pub struct Provider {
    pub(crate) kind: Kind,
    pub(crate) name: String,
    pub(crate) display_name: String,
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) auth_url: String,
    pub(crate) token_url: String,
    pub(crate) user_info_url: Option<String>,
    pub(crate) scopes: Vec<String>,
    pub(crate) pkce: bool,
    pub(crate) client_auth: ClientAuth,
    pub(crate) id_token: Option<IdTokenCheck>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("name", &self.name)
            .field("client_id", &self.client_id)
            .field("auth_url", &self.auth_url)
            .field("token_url", &self.token_url)
            .field("user_info_url", &self.user_info_url)
            .field("pkce", &self.pkce)
            .field("id_token", &self.id_token)
            .finish_non_exhaustive()
    }
}

fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

fn check_url(field: &str, url: &str) -> Result<(), OAuth2Error> {
    match Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(()),
        _ => Err(OAuth2Error::Config(format!("{field} {url:?} is not an http(s) URL"))),
    }
}

impl Provider {
    /// Resolves `config`: checks the name and the client id, fills empty URLs with the
    /// provider's defaults and, for `oidc*` configs missing an endpoint, with the discovery
    /// document of `extra.issuer` (or `extra.discoveryURL`), fetched once and cached.
    pub async fn resolve(config: &ProviderConfig, http: &reqwest::Client) -> Result<Provider, OAuth2Error> {
        let kind =
            Kind::from_name(config.name.trim()).ok_or_else(|| OAuth2Error::UnknownProvider(config.name.clone()))?;
        if config.client_id.trim().is_empty() {
            return Err(OAuth2Error::Config(format!("{}: clientId is required", config.name)));
        }
        let d = kind.defaults(config);
        let mut auth_url = non_empty(&config.auth_url).or(non_empty(&d.auth));
        let mut token_url = non_empty(&config.token_url).or(non_empty(&d.token));
        let mut user_info_url = non_empty(&config.user_info_url).or(non_empty(d.userinfo));
        let mut issuer = config
            .extra_str("issuer")
            .map(str::to_string)
            .or(d.id_token.map(|(i, _)| i.to_string()));
        let mut jwks_url = config
            .extra_str("jwksURL")
            .map(str::to_string)
            .or(d.id_token.map(|(_, j)| j.to_string()));
        let mut client_auth = ClientAuth::Post;

        let discovery_url = config.extra_str("discoveryURL").map(str::to_string).or_else(|| {
            issuer
                .as_ref()
                .map(|i| format!("{}/.well-known/openid-configuration", i.trim_end_matches('/')))
        });
        if kind == Kind::Oidc {
            let missing_endpoint = auth_url.is_none() || token_url.is_none();
            match discovery_url {
                Some(url) if missing_endpoint || jwks_url.is_none() => {
                    let doc = oidc::discover(http, &url, issuer.as_deref()).await?;
                    auth_url = auth_url.or(Some(doc.authorization_endpoint));
                    token_url = token_url.or(Some(doc.token_endpoint));
                    user_info_url = user_info_url.or(doc.userinfo_endpoint);
                    jwks_url = jwks_url.or(doc.jwks_uri);
                    issuer = Some(doc.issuer);
                    if doc.basic_auth_only {
                        client_auth = ClientAuth::Basic;
                    }
                }
                None if missing_endpoint => {
                    return Err(OAuth2Error::Config(format!(
                        "{}: set authURL and tokenURL, or extra.issuer for discovery",
                        config.name
                    )))
                }
                _ => {}
            }
        }
        let (auth_url, token_url) = match (auth_url, token_url) {
            (Some(a), Some(t)) => (a, t),
            _ => {
                return Err(OAuth2Error::Config(format!(
                    "{}: authURL and tokenURL are required",
                    config.name
                )))
            }
        };
        check_url("authURL", &auth_url)?;
        check_url("tokenURL", &token_url)?;
        if let Some(u) = &user_info_url {
            check_url("userInfoURL", u)?;
        }
        let id_token = match (issuer, jwks_url) {
            (Some(issuer), Some(jwks_url)) => {
                check_url("extra.jwksURL", &jwks_url)?;
                Some(IdTokenCheck { issuer, jwks_url })
            }
            _ => None,
        };
        if user_info_url.is_none() && id_token.is_none() {
            return Err(OAuth2Error::Config(format!(
                "{}: set userInfoURL, or extra.issuer and extra.jwksURL to read the user from the id_token",
                config.name
            )));
        }
        Ok(Provider {
            kind,
            name: config.name.trim().to_string(),
            display_name: non_empty(&config.display_name).unwrap_or_else(|| d.display.to_string()),
            client_id: config.client_id.trim().to_string(),
            client_secret: config.client_secret.clone(),
            auth_url,
            token_url,
            user_info_url,
            scopes: d.scopes.iter().map(|s| s.to_string()).collect(),
            pkce: config.pkce.unwrap_or(d.pkce),
            client_auth,
            id_token,
        })
    }

    /// The config's name (`google`, `oidc2`…).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name to show users: the config's `displayName`, or the provider's own.
    pub fn display_name(&self) -> &str {
        &self.display_name
    }

    /// Whether authorization requests carry a PKCE challenge and exchanges its verifier.
    pub fn pkce(&self) -> bool {
        self.pkce
    }

    /// The scopes requested.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// The authorization URL for `state`, ending with `&redirect_uri=` for the caller (or
    /// PocketBase's SDK) to append its redirect URL, as PocketBase's `auth-methods` answers.
    /// `code_challenge` (S256) is sent only when PKCE is on; `nonce` only when given.
    pub fn auth_url(&self, state: &str, code_challenge: Option<&str>, nonce: Option<&str>) -> String {
        let mut url = match Url::parse(&self.auth_url) {
            Ok(u) => u,
            // `resolve` checked it; keep the text rather than panic.
            Err(_) => return format!("{}?state={state}&redirect_uri=", self.auth_url),
        };
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_id", &self.client_id);
            if let Some(c) = code_challenge.filter(|_| self.pkce) {
                q.append_pair("code_challenge", c);
                q.append_pair("code_challenge_method", "S256");
            }
            if let Some(n) = nonce {
                q.append_pair("nonce", n);
            }
            if self.kind == Kind::Apple {
                // Apple posts the code (and the user's name) back when name/email are asked.
                q.append_pair("response_mode", "form_post");
            }
            q.append_pair("response_type", "code");
            q.append_pair("scope", &self.scopes.join(" "));
            q.append_pair("state", state);
        }
        format!("{url}&redirect_uri=")
    }
}
