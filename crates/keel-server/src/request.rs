//! Who is calling: the `Caller` extractor reads the auth token, and `request_info` builds the
//! `@request.*` context rules are evaluated against.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, Uri};
use keel_auth::token::{self, TokenKind};
use keel_data::{Access, AuthRecord, RequestInfo};
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::state::AppState;

/// The authenticated auth record behind the request's token, if any. A token that is
/// present but invalid (forged, expired, revoked, unknown record) is a 401.
#[derive(Debug, Clone, Default)]
pub struct Caller(pub Option<AuthRecord>);

impl Caller {
    pub fn is_superuser(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|a| a.collection.id == keel_data::schema::SUPERUSERS_ID)
    }

    /// 401 for guests, 403 for non-superusers.
    pub fn require_superuser(&self) -> Result<(), ApiError> {
        match &self.0 {
            None => Err(ApiError::unauthorized(
                "The request requires valid record authorization token.",
            )),
            Some(_) if !self.is_superuser() => Err(ApiError::superusers_only()),
            Some(_) => Ok(()),
        }
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

/// Resolves an auth token of `kind` to its record, checking signature, expiry and token key.
pub async fn authenticate(state: &AppState, raw: &str, kind: TokenKind) -> Result<AuthRecord, ApiError> {
    let invalid = || ApiError::unauthorized("The request requires valid record authorization token.");
    let claims = token::peek(raw).map_err(|_| invalid())?;
    let collection = state.store.collection(&claims.collection_id).map_err(|_| invalid())?;
    let auth = collection.auth.as_ref().ok_or_else(invalid)?;
    let secret = match kind {
        TokenKind::Auth => &auth.auth_token.secret,
        TokenKind::File => &auth.file_token.secret,
        TokenKind::Verification => &auth.verification_token.secret,
        TokenKind::PasswordReset => &auth.password_reset_token.secret,
        TokenKind::EmailChange => &auth.email_change_token.secret,
    };
    let record = state
        .store
        .get_record(&collection, &claims.id, &RequestInfo::default(), Access::Superuser)
        .await
        .map_err(|_| invalid())?;
    let token_key = record.data.get("tokenKey").and_then(Value::as_str).unwrap_or("");
    token::verify(raw, kind, secret, token_key).map_err(|_| invalid())?;
    Ok(AuthRecord {
        collection,
        record: record.data,
    })
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(c) = parts.extensions.get::<Caller>() {
            return Ok(c.clone());
        }
        let caller = match bearer(&parts.headers) {
            None => Caller(None),
            Some(raw) => Caller(Some(authenticate(state, raw, TokenKind::Auth).await?)),
        };
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}

/// Builds the `@request.*` context for a rule check.
pub fn request_info(
    caller: &Caller,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Map<String, Value>,
) -> RequestInfo {
    let query = uri
        .query()
        .map(|q| {
            form_pairs(q)
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect::<Map<String, Value>>()
        })
        .unwrap_or_default();
    let headers = headers
        .iter()
        .filter(|(name, _)| *name != axum::http::header::AUTHORIZATION && *name != axum::http::header::COOKIE)
        .filter_map(|(name, v)| {
            Some((
                name.as_str().to_ascii_lowercase().replace('-', "_"),
                Value::String(v.to_str().ok()?.to_string()),
            ))
        })
        .collect();
    RequestInfo {
        auth: caller.0.clone(),
        method: method.as_str().to_ascii_uppercase(),
        query,
        headers,
        body,
        context: "default".into(),
    }
}

/// Decodes `application/x-www-form-urlencoded` pairs (query strings).
pub fn form_pairs(q: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}
