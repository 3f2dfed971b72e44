//! A local OAuth2 / OpenID Connect authorization server for browser-less tests of the code
//! flow: discovery, JWKS (keys generated at start, never stored), `/authorize` that answers at
//! once with a code for the test's user, `/token` (client secret, single-use codes, redirect URI,
//! PKCE S256), `/userinfo`, GitHub-shaped `/user` and `/user/emails`, an `/avatar` picture the
//! test chooses (404 until [`OAuthServer::set_avatar`]), and knobs that make it issue bad
//! `id_token`s.

mod keys;
mod routes;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::header;
use axum::routing::{get, post};
use axum::Router;
use jsonwebtoken::{Algorithm, EncodingKey};

use keys::{ec_key, rsa_ders, Key};

/// The user the server signs in, with the claims a test chooses.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub sub: String,
    pub email: String,
    pub email_verified: bool,
    pub name: String,
    /// The `picture` claim (GitHub's `avatar_url`); empty (the default) is the server's own
    /// [`OAuthServer::avatar_url`].
    pub picture: String,
    pub preferred_username: String,
    /// Whether GitHub's `/user` shows the email (else only `/user/emails` has it).
    pub github_public_email: bool,
}

impl Default for TestUser {
    fn default() -> Self {
        TestUser {
            sub: "4242".into(),
            email: "ada@example.com".into(),
            email_verified: true,
            name: "Ada Lovelace".into(),
            picture: String::new(),
            preferred_username: "ada".into(),
            github_public_email: false,
        }
    }
}

/// The server's client registration and user.
#[derive(Debug, Clone)]
pub struct OAuthServerOptions {
    pub client_id: String,
    pub client_secret: String,
    pub user: TestUser,
}

impl Default for OAuthServerOptions {
    fn default() -> Self {
        OAuthServerOptions {
            client_id: "keel-test-client".into(),
            client_secret: "keel-test-secret".into(),
            user: TestUser::default(),
        }
    }
}

/// What `/token` puts in `id_token`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdTokenMode {
    /// A valid token.
    Valid,
    /// Signed by a key the JWKS does not publish, under the published key's `kid`.
    Forged,
    /// A valid token whose claims were changed after signing.
    Tampered,
    /// `aud` is another client.
    WrongAudience,
    /// `iss` is another issuer.
    WrongIssuer,
    /// `exp` an hour ago.
    Expired,
    /// A `nonce` other than the authorization request's.
    WrongNonce,
    /// `alg: none`, no signature.
    AlgNone,
    /// `HS256` keyed with the published RSA key's modulus (the key-confusion attack).
    HmacWithPublicKey,
    /// No `id_token` at all.
    Omitted,
}

/// Which key signs `id_token`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlg {
    Rs256,
    Es256,
}

struct Grant {
    redirect_uri: String,
    challenge: Option<String>,
    nonce: Option<String>,
    used: bool,
}

/// What `/avatar` answers.
struct AvatarReply {
    status: u16,
    content_type: String,
    body: Vec<u8>,
    /// A `Location` header (a redirect).
    location: Option<String>,
}

struct Inner {
    opts: OAuthServerOptions,
    url: String,
    mode: IdTokenMode,
    signing: SigningAlg,
    rsa: Key,
    rsa_forger: Key,
    ec: Key,
    ec_forger: Key,
    codes: HashMap<String, Grant>,
    tokens: Vec<String>,
    jwks_fetches: usize,
    avatar: AvatarReply,
    avatar_fetches: usize,
}

type Shared = Arc<Mutex<Inner>>;

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, Inner> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

fn avatar_url(base: &str) -> String {
    format!("{base}/avatar?size=96&sig=not-for-logs")
}

/// A running authorization server; stopped when dropped.
pub struct OAuthServer {
    /// `http://127.0.0.1:PORT`, also the issuer.
    pub url: String,
    state: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for OAuthServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl OAuthServer {
    /// Starts a server on an ephemeral port of 127.0.0.1.
    pub async fn start(mut opts: OAuthServerOptions) -> std::io::Result<OAuthServer> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        if opts.user.picture.is_empty() {
            opts.user.picture = avatar_url(&url);
        }
        let [published, forger] = rsa_ders()?;
        // Key ids unique to this server: a client's JWKS cache never mistakes another server's
        // key (an earlier server of the same test process may have had the same port).
        let (rsa_kid, ec_kid) = (
            format!("rsa-{}", crate::random_name()),
            format!("ec-{}", crate::random_name()),
        );
        let inner = Inner {
            opts,
            url: url.clone(),
            mode: IdTokenMode::Valid,
            signing: SigningAlg::Rs256,
            rsa: Key::new(&rsa_kid, Algorithm::RS256, EncodingKey::from_rsa_der(published))?,
            rsa_forger: Key::new(&rsa_kid, Algorithm::RS256, EncodingKey::from_rsa_der(forger))?,
            ec: ec_key(&ec_kid)?,
            ec_forger: ec_key(&ec_kid)?,
            codes: HashMap::new(),
            tokens: Vec::new(),
            jwks_fetches: 0,
            avatar: AvatarReply {
                status: 404,
                content_type: "text/plain".into(),
                body: b"no avatar".to_vec(),
                location: None,
            },
            avatar_fetches: 0,
        };
        let state: Shared = Arc::new(Mutex::new(inner));
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(routes::discovery))
            .route("/jwks", get(routes::jwks))
            .route("/authorize", get(routes::authorize))
            .route("/token", post(routes::token))
            .route("/userinfo", get(routes::userinfo))
            .route("/user", get(routes::github_user))
            .route("/user/emails", get(routes::github_emails))
            .route("/avatar", get(routes::avatar))
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(OAuthServer { url, state, task })
    }

    /// Chooses what the next `/token` answers put in `id_token`.
    pub fn set_id_token_mode(&self, mode: IdTokenMode) {
        lock(&self.state).mode = mode;
    }

    /// Chooses the signing key (both are always published).
    pub fn set_signing_alg(&self, alg: SigningAlg) {
        lock(&self.state).signing = alg;
    }

    /// Replaces the EC key with a fresh one under a new `kid` (clients must refetch the JWKS).
    pub fn rotate_ec_key(&self) -> std::io::Result<()> {
        let mut s = lock(&self.state);
        let kid = format!("ec-{}", crate::random_name());
        s.ec = ec_key(&kid)?;
        s.ec_forger = ec_key(&kid)?;
        Ok(())
    }

    /// The URL of the server's `/avatar` picture (with a query string a client must not log).
    pub fn avatar_url(&self) -> String {
        avatar_url(&self.url)
    }

    /// Chooses what `/avatar` answers from now on: `status`, `Content-Type` and body (sent
    /// chunked, without a `Content-Length`).
    pub fn set_avatar(&self, status: u16, content_type: &str, body: &[u8]) {
        lock(&self.state).avatar = AvatarReply {
            status,
            content_type: content_type.into(),
            body: body.to_vec(),
            location: None,
        };
    }

    /// Makes `/avatar` answer `302 Found` with `Location: location` from now on.
    pub fn set_avatar_redirect(&self, location: &str) {
        lock(&self.state).avatar = AvatarReply {
            status: 302,
            content_type: "text/plain".into(),
            body: Vec::new(),
            location: Some(location.into()),
        };
    }

    /// How many times `/avatar` was fetched.
    pub fn avatar_fetches(&self) -> usize {
        lock(&self.state).avatar_fetches
    }

    /// How many times `/jwks` was fetched.
    pub fn jwks_fetches(&self) -> usize {
        lock(&self.state).jwks_fetches
    }

    /// Plays the browser: GETs `auth_url` (which must carry `redirect_uri`) without following
    /// the redirect and answers the `code` and `state` of the `Location` it points to.
    pub async fn follow_authorize(&self, auth_url: &str) -> (String, String) {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        let resp = client
            .get(auth_url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {auth_url}: {e}"));
        let location = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .unwrap_or_else(|| panic!("/authorize answered {} without a Location", resp.status()));
        let url = reqwest::Url::parse(location).unwrap_or_else(|e| panic!("Location {location:?}: {e}"));
        let param = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
        let code = param("code").unwrap_or_else(|| panic!("no code in {location}"));
        (code, param("state").unwrap_or_default())
    }
}
