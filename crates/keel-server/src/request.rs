//! Who is calling and from where: the `Caller` and `ClientOrigin` extractors, and
//! `request_info`, the `@request.*` context rules are evaluated against, from a request's parts.

use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, Uri};
use keel_data::{RequestInfo, RequestMap};
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::state::AppState;

/// The `Caller` extractor: the request's credential resolved by `keel_app::caller::resolve`
/// (kept in the request's extensions, so middleware that resolved it already is not repeated).
/// Derefs to [`keel_app::Caller`].
#[derive(Debug, Clone, Default)]
pub struct Caller(pub keel_app::Caller);

impl Deref for Caller {
    type Target = keel_app::Caller;

    fn deref(&self) -> &keel_app::Caller {
        &self.0
    }
}

/// The raw token of a request: `Authorization: <token>` or `Authorization: Bearer <token>`.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?.trim();
    let v = v
        .strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))
        .unwrap_or(v)
        .trim();
    (!v.is_empty()).then_some(v)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        // The rate limits may have resolved the credential already: taken, not copied (a copy
        // of a signed-in caller was ~2,700 instructions). Nothing reads it after the handler.
        let caller = match parts.extensions.remove::<keel_app::Caller>() {
            Some(c) => c,
            None => keel_app::caller::resolve(state, bearer(&parts.headers)).await?,
        };
        let ip = parts.extensions.get::<ClientIp>().map(|c| c.0.as_str()).unwrap_or("");
        keel_app::settings::check_superuser_ip(&state.settings.get(), &caller, ip)?;
        if let Some(seen) = parts.extensions.get::<AuthSeen>() {
            seen.note(&caller);
        }
        Ok(Caller(caller))
    }
}

/// Where the request log learns who called: the middleware puts one in a request's
/// extensions, the `Caller` extractor fills it with the caller's collection name and record
/// id (`_apiKeys` and the key's id for an API key) once it resolved the credential.
#[derive(Debug, Clone, Default)]
pub struct AuthSeen(Arc<OnceLock<(String, String)>>);

impl AuthSeen {
    fn note(&self, caller: &keel_app::Caller) {
        let who = caller.auth.as_ref().or(caller.key_principal.as_ref());
        if let Some(a) = who {
            let _ = self.0.set((a.collection.name.clone(), a.id().to_string()));
        }
    }

    /// The caller's collection name and id, if a credential was resolved.
    pub fn get(&self) -> Option<(String, String)> {
        self.0.get().cloned()
    }
}

/// The client address the rate-limit middleware resolved for the request (the trusted proxy
/// header, else the socket's peer; see `ratelimit`).
#[derive(Debug, Clone, Default)]
pub struct ClientIp(pub String);

/// Where a request came from, for the audit trail: the [`ClientIp`] and the user agent.
#[derive(Debug, Clone, Default)]
pub struct ClientOrigin(pub keel_app::Origin);

impl<S: Send + Sync> FromRequestParts<S> for ClientOrigin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientOrigin(origin_of(parts)))
    }
}

/// The [`ClientOrigin`] of a request's parts.
pub fn origin_of(parts: &Parts) -> keel_app::Origin {
    let ip = parts
        .extensions
        .get::<ClientIp>()
        .map(|c| c.0.clone())
        .unwrap_or_default();
    let user_agent = parts
        .headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
        .to_string();
    keel_app::Origin { ip, user_agent }
}

/// Builds the `@request.*` context for a rule check.
pub fn request_info(
    caller: &keel_app::Caller,
    method: &Method,
    uri: &Uri,
    headers: HeaderMap,
    body: Map<String, Value>,
) -> RequestInfo {
    // Made into `@request.query` and `@request.headers` only if a rule, a filter or an auth
    // flow reads them (most requests never do).
    let query = match uri.query() {
        Some(q) => {
            let q = q.to_owned();
            RequestMap::lazy(move || keel_app::caller::form_json(&q))
        }
        None => RequestMap::default(),
    };
    let headers = RequestMap::lazy(move || headers_json(&headers));
    caller.request_info(method.as_str(), query, headers, body)
}

/// `@request.headers`: every header but `Authorization` and `Cookie`, its name lower-cased
/// with `-` turned into `_`; values that are not visible ASCII are left out.
fn headers_json(headers: &HeaderMap) -> Map<String, Value> {
    headers
        .iter()
        .filter(|(name, _)| *name != axum::http::header::AUTHORIZATION && *name != axum::http::header::COOKIE)
        .filter_map(|(name, v)| {
            Some((
                name.as_str().to_ascii_lowercase().replace('-', "_"),
                Value::String(v.to_str().ok()?.to_string()),
            ))
        })
        .collect()
}

/// Decodes `application/x-www-form-urlencoded` pairs (query strings).
pub fn form_pairs(q: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}
