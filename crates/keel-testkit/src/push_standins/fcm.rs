//! FCM HTTP v1 with its OAuth2 token endpoint: a service account with a fresh RSA key, the
//! jwt-bearer exchange verified with the public key, and `messages:send` checked for the
//! bearer and the message's shape.

use std::ops::Deref;
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::Response;
use axum::routing::post;
use axum::Router;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};

use super::{answer, bind, header_list, is_http2, now, spawn, PushRequest, Recorder};

const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
const CLIENT_EMAIL: &str = "keel-test@keel-test.iam.gserviceaccount.com";
/// The project of the service account.
pub const FCM_PROJECT: &str = "keel-test";

#[derive(Clone)]
struct Shared {
    rec: Recorder,
    token_uri: String,
    public_pem: String,
    /// Access tokens issued, in order.
    tokens: Arc<Mutex<Vec<String>>>,
    /// `expires_in` of the next tokens.
    lifetime: Arc<Mutex<u64>>,
}

/// The FCM stand-in.
pub struct FcmService {
    url: String,
    private_pem: String,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FcmService {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Deref for FcmService {
    type Target = Recorder;
    fn deref(&self) -> &Recorder {
        &self.shared.rec
    }
}

/// One 2048-bit RSA key pair (private PKCS#8 PEM, public SPKI PEM) per test process: key
/// generation takes seconds in a debug build.
fn rsa_pems() -> std::io::Result<&'static (String, String)> {
    static KEYS: OnceLock<Result<(String, String), String>> = OnceLock::new();
    KEYS.get_or_init(|| {
        use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
        let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).map_err(|e| e.to_string())?;
        let private = key.to_pkcs8_pem(LineEnding::LF).map_err(|e| e.to_string())?.to_string();
        let public = key
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| e.to_string())?;
        Ok((private, public))
    })
    .as_ref()
    .map_err(|e| std::io::Error::other(e.clone()))
}

impl FcmService {
    /// Starts the service (token endpoint at `/token`, API at `/v1/…`).
    pub async fn start() -> std::io::Result<FcmService> {
        let (private_pem, public_pem) = rsa_pems()?.clone();
        let (listener, url) = bind().await?;
        let shared = Shared {
            rec: Recorder::default(),
            token_uri: format!("{url}/token"),
            public_pem,
            tokens: Arc::default(),
            lifetime: Arc::new(Mutex::new(3600)),
        };
        let app = Router::new()
            .route("/token", post(token))
            .route("/v1/projects/{project}/{action}", post(send))
            .with_state(shared.clone());
        let task = spawn(listener, app);
        Ok(FcmService {
            url,
            private_pem,
            shared,
            task,
        })
    }

    /// The base URL of the API (`base_url`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The service account's JSON key, as the Firebase console downloads it (its `token_uri`
    /// is this stand-in's `/token`).
    pub fn service_account_json(&self) -> String {
        json!({
            "type": "service_account",
            "project_id": FCM_PROJECT,
            "private_key_id": "0123456789abcdef",
            "private_key": self.private_pem,
            "client_email": CLIENT_EMAIL,
            "client_id": "1234567890",
            "token_uri": self.shared.token_uri,
        })
        .to_string()
    }

    /// How many access tokens `/token` has issued.
    pub fn tokens_issued(&self) -> usize {
        self.shared.tokens.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// The `expires_in` of tokens issued from now on.
    pub fn set_token_lifetime(&self, secs: u64) {
        *self.shared.lifetime.lock().unwrap_or_else(|p| p.into_inner()) = secs;
    }
}

/// `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<RS256 JWT>`.
async fn token(State(shared): State<Shared>, req: Request) -> Response<Body> {
    let rec = &shared.rec;
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return rec.problem("token request is not a form");
    }
    let Ok(body) = axum::body::to_bytes(req.into_body(), 64 * 1024).await else {
        return rec.problem("token request body too large");
    };
    let body = String::from_utf8_lossy(&body).into_owned();
    let field = |name: &str| {
        body.split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .unwrap_or_default()
            .to_string()
    };
    if field("grant_type") != "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer" {
        return rec.problem("grant_type is not the jwt-bearer grant");
    }
    let Ok(key) = DecodingKey::from_rsa_pem(shared.public_pem.as_bytes()) else {
        return rec.problem("stand-in key");
    };
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[shared.token_uri.as_str()]);
    validation.set_issuer(&[CLIENT_EMAIL]);
    validation.set_required_spec_claims(&["exp", "aud", "iss"]);
    let claims = match jsonwebtoken::decode::<Value>(&field("assertion"), &key, &validation) {
        Ok(data) => data.claims,
        Err(e) => {
            return answer(
                400,
                &[],
                &json!({"error": "invalid_grant", "error_description": e.to_string()}).to_string(),
            )
        }
    };
    if claims.get("scope").and_then(Value::as_str) != Some(SCOPE) {
        return rec.problem("assertion scope is not firebase.messaging");
    }
    let iat = claims.get("iat").and_then(Value::as_u64).unwrap_or(0);
    if iat > now() + 60 {
        return rec.problem("assertion iat is in the future");
    }
    let access = format!("ya29.{}", crate::random_name());
    shared
        .tokens
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(access.clone());
    let lifetime = *shared.lifetime.lock().unwrap_or_else(|p| p.into_inner());
    answer(
        200,
        &[("content-type", "application/json")],
        &json!({"access_token": access, "expires_in": lifetime, "token_type": "Bearer"}).to_string(),
    )
}

/// `POST /v1/projects/{project}/messages:send` with a bearer `/token` issued.
async fn send(
    State(shared): State<Shared>,
    Path((project, action)): Path<(String, String)>,
    req: Request,
) -> Response<Body> {
    let rec = &shared.rec;
    if action != "messages:send" {
        return answer(404, &[], "no such method");
    }
    if project != FCM_PROJECT {
        return answer(
            404,
            &[],
            &json!({"error": {"code": 404, "status": "NOT_FOUND", "message": "no such project"}}).to_string(),
        );
    }
    let http2 = is_http2(req.version());
    let headers = header_list(req.headers());
    let path = req.uri().path().to_string();
    let bearer = headers
        .iter()
        .find(|(n, _)| n == "authorization")
        .and_then(|(_, v)| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string();
    if !shared
        .tokens
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .contains(&bearer)
    {
        return rec.problem("the bearer is not an access token /token issued");
    }
    let Ok(body) = axum::body::to_bytes(req.into_body(), 64 * 1024).await else {
        return rec.problem("body too large");
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return rec.problem("body is not JSON");
    };
    let message = &body["message"];
    if !message["token"].is_string() {
        return rec.problem("message.token is not a string");
    }
    if !message["notification"]["body"].is_string() {
        return rec.problem("message.notification.body is not a string");
    }
    if let Some(data) = message.get("data") {
        if !data.as_object().is_some_and(|d| d.values().all(Value::is_string)) {
            return rec.problem("message.data is not a map of strings");
        }
    }
    rec.accept(
        PushRequest {
            path,
            headers,
            http2,
            body,
        },
        |n| {
            answer(
                200,
                &[("content-type", "application/json")],
                &json!({ "name": format!("projects/{project}/messages/{n}") }).to_string(),
            )
        },
    )
}
