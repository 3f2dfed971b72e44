//! The server's endpoints.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::keys::id_token;
use super::{lock, Grant, IdTokenMode, Inner, Shared};

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (status, Json(json!({"error": error, "error_description": description}))).into_response()
}

fn random_token() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), 40)
}

pub(super) async fn discovery(State(s): State<Shared>) -> Json<Value> {
    let url = lock(&s).url.clone();
    Json(json!({
        "issuer": url,
        "authorization_endpoint": format!("{url}/authorize"),
        "token_endpoint": format!("{url}/token"),
        "userinfo_endpoint": format!("{url}/userinfo"),
        "jwks_uri": format!("{url}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
    }))
}

pub(super) async fn jwks(State(s): State<Shared>) -> Json<Value> {
    let mut s = lock(&s);
    s.jwks_fetches += 1;
    Json(json!({ "keys": [s.rsa.jwk, s.ec.jwk] }))
}

pub(super) async fn authorize(State(s): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut s = lock(&s);
    let arg = |k: &str| q.get(k).filter(|v| !v.is_empty()).cloned();
    if arg("response_type").as_deref() != Some("code") {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_response_type", "expected code");
    }
    if arg("client_id").as_deref() != Some(s.opts.client_id.as_str()) {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_client", "unknown client_id");
    }
    let Some(redirect_uri) = arg("redirect_uri") else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "redirect_uri is required");
    };
    let Ok(mut target) = reqwest::Url::parse(&redirect_uri) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "bad redirect_uri");
    };
    let challenge = arg("code_challenge");
    if challenge.is_some() && arg("code_challenge_method").as_deref() != Some("S256") {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "only S256 is supported");
    }
    let code = random_token();
    target
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &arg("state").unwrap_or_default());
    let grant = Grant {
        redirect_uri,
        challenge,
        nonce: arg("nonce"),
        used: false,
    };
    s.codes.insert(code, grant);
    Redirect::to(target.as_str()).into_response()
}

/// The client id and secret from HTTP Basic or from the form.
fn client_credentials(headers: &HeaderMap, form: &HashMap<String, String>) -> (String, String) {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    match basic.as_deref().and_then(|b| b.split_once(':')) {
        Some((id, secret)) => (id.to_string(), secret.to_string()),
        None => {
            let get = |k: &str| form.get(k).cloned().unwrap_or_default();
            (get("client_id"), get("client_secret"))
        }
    }
}

pub(super) async fn token(
    State(s): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mut s = lock(&s);
    let (id, secret) = client_credentials(&headers, &form);
    if id != s.opts.client_id || secret != s.opts.client_secret {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "wrong client credentials");
    }
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    if field("grant_type") != "authorization_code" {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "expected authorization_code",
        );
    }
    let Some(grant) = s.codes.get_mut(&field("code")) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "unknown code");
    };
    if std::mem::replace(&mut grant.used, true) {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "code already used");
    }
    if grant.redirect_uri != field("redirect_uri") {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "redirect_uri mismatch");
    }
    if let Some(challenge) = &grant.challenge {
        let verifier = field("code_verifier");
        if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != *challenge {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "PKCE verification failed");
        }
    }
    let nonce = grant.nonce.clone();
    let access_token = random_token();
    s.tokens.push(access_token.clone());
    let mut body = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": 3600,
        "refresh_token": random_token(),
        "scope": "openid email profile",
    });
    if s.mode != IdTokenMode::Omitted {
        body["id_token"] = Value::String(id_token(&s, nonce));
    }
    Json(body).into_response()
}

/// The access token of a `Bearer` header, if the server issued it.
fn bearer_ok(s: &Inner, headers: &HeaderMap) -> bool {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "));
    token.is_some_and(|t| s.tokens.iter().any(|k| k == t))
}

pub(super) async fn userinfo(State(s): State<Shared>, headers: HeaderMap) -> Response {
    let s = lock(&s);
    if !bearer_ok(&s, &headers) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_token", "unknown access token");
    }
    let u = &s.opts.user;
    Json(
        json!({"sub": u.sub, "email": u.email, "email_verified": u.email_verified, "name": u.name,
        "picture": u.picture, "preferred_username": u.preferred_username}),
    )
    .into_response()
}

pub(super) async fn github_user(State(s): State<Shared>, headers: HeaderMap) -> Response {
    let s = lock(&s);
    if !bearer_ok(&s, &headers) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"message": "Bad credentials"}))).into_response();
    }
    let u = &s.opts.user;
    let id: Value = u
        .sub
        .parse::<u64>()
        .map(Value::from)
        .unwrap_or_else(|_| u.sub.clone().into());
    let email = if u.github_public_email {
        Value::from(u.email.clone())
    } else {
        Value::Null
    };
    Json(json!({"id": id, "login": u.preferred_username, "name": u.name, "email": email, "avatar_url": u.picture}))
        .into_response()
}

pub(super) async fn github_emails(State(s): State<Shared>, headers: HeaderMap) -> Response {
    let s = lock(&s);
    if !bearer_ok(&s, &headers) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"message": "Bad credentials"}))).into_response();
    }
    let u = &s.opts.user;
    Json(json!([
        {"email": format!("{}@users.noreply.github.com", u.preferred_username), "primary": false, "verified": true},
        {"email": u.email, "primary": true, "verified": u.email_verified},
    ]))
    .into_response()
}

pub(super) async fn avatar(State(s): State<Shared>) -> Response {
    let mut s = lock(&s);
    s.avatar_fetches += 1;
    let a = &s.avatar;
    let status = StatusCode::from_u16(a.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    // Streamed without a Content-Length: a client must cap the body while reading it.
    let chunk = axum::body::Bytes::from(a.body.clone());
    let body = axum::body::Body::from_stream(futures::stream::iter([Ok::<_, std::io::Error>(chunk)]));
    let mut resp = (status, [(header::CONTENT_TYPE, a.content_type.clone())], body).into_response();
    if let Some(value) = a
        .location
        .as_deref()
        .and_then(|l| header::HeaderValue::from_str(l).ok())
    {
        resp.headers_mut().insert(header::LOCATION, value);
    }
    resp
}
