//! `POST /api/collections/{c}/auth-with-oauth2`: `{provider, code, codeVerifier, redirectURL,
//! createData?, mfaId?}` → `{"token", "record", "meta"}`, PocketBase's OAuth2 sign-in (the JS
//! SDK's `authWithOAuth2Code`, and the last step of its realtime `authWithOAuth2`).
//!
//! The code is exchanged only when the provider is configured, the `redirectURL` points at
//! an allowed host and the `codeVerifier` is one `auth-methods` issued and nobody used.
//!
//! A new record gets the OAuth2 user's attributes under the collection's
//! `oauth2.mappedFields`; an `avatarURL` mapped to a file field is downloaded into it
//! (`avatar.rs`), only when the record is created, never on later sign-ins.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use keel_auth::oauth2::{pkce, OAuth2User, Provider};
use keel_core::{FieldError, FieldErrors};
use keel_data::{Access, Collection, FieldKind, Record, RequestInfo};
use serde_json::{Map, Value};

use super::avatar::AvatarSource;
use super::external::{self, map_into, ExternalUser};
use super::login::{complete, failed, Login, Origin};
use super::{auth_collection, oauth2_flow, ShapeParams};
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::request::{request_info, Caller};
use crate::state::AppState;

#[utoipa::path(
    post, path = "/api/collections/{collection}/auth-with-oauth2", operation_id = "authWithOAuth2", tag = "auth",
    params(crate::openapi::params::RecordQuery), request_body = crate::openapi::auth::OAuth2Auth, responses((status = 200, body = crate::openapi::schemas::AuthResponse), (status = 401, description = "MFA: sign in again with another method and this `mfaId`", body = crate::openapi::schemas::MfaRequired))
)]
pub(super) async fn handler(
    State(state): State<AppState>,
    caller: Caller,
    Path(collection): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    JsonBody(mut form): JsonBody<Map<String, Value>>,
) -> ApiResult<Response> {
    let collection = auth_collection(&state, &collection)?;
    if !oauth2_flow::enabled(&collection) {
        return Err(ApiError::forbidden(
            "The collection is not configured to allow OAuth2 authentication.",
        ));
    }
    let text = |k: &str| form.get(k).and_then(Value::as_str).unwrap_or("").trim().to_string();
    let (provider_name, code, verifier) = (text("provider"), text("code"), text("codeVerifier"));
    let redirect_url = Some(text("redirectURL"))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| text("redirectUrl"));
    let mfa_id = Some(text("mfaId")).filter(|s| !s.is_empty());
    let create_data = match form.remove("createData") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => {
            return Err(ApiError::field(
                "createData",
                "validation_invalid_value",
                "Must be an object.",
            ))
        }
    };

    let mut errors = FieldErrors::new();
    for (name, value) in [
        ("provider", &provider_name),
        ("code", &code),
        ("redirectURL", &redirect_url),
    ] {
        if value.is_empty() {
            errors.insert(
                name.into(),
                FieldError::new("validation_required", "Missing required value."),
            );
        }
    }
    if !errors.is_empty() {
        return Err(ApiError(keel_core::Error::fields(errors)));
    }
    let Some(config) = oauth2_flow::providers(&collection)
        .into_iter()
        .find(|p| p.name == provider_name)
    else {
        return Err(ApiError::field(
            "provider",
            "validation_invalid_provider",
            format!("Provider with name {provider_name:?} is missing or is not enabled."),
        ));
    };
    if !oauth2_flow::redirect_allowed(&state, &redirect_url) {
        return Err(ApiError::field(
            "redirectURL",
            "validation_invalid_redirect_url",
            "The redirectURL must point at the app's host (settings meta.appURL), a loopback host or one of [auth] redirect_hosts.",
        ));
    }
    oauth2_flow::claim(&state, &collection.id, &provider_name, &verifier).await?;

    let origin = Origin::from_headers(&headers);
    let http = oauth2_flow::http()?;
    let nonce = pkce::nonce_for(&verifier);
    let user = match Provider::resolve(&config, http).await {
        Ok(p) => {
            p.exchange(http, &code, Some(&verifier), &redirect_url, Some(&nonce))
                .await
        }
        Err(e) => Err(e),
    };
    let user = match user {
        Ok(u) => u,
        Err(e) => {
            failed(&state, &collection, "oauth2", "", &origin).await;
            return Err(ApiError::bad_request(format!(
                "Failed to authenticate with {provider_name}: {e}."
            )));
        }
    };

    for k in ["code", "codeVerifier", "password"] {
        form.remove(k);
    }
    let mut req = request_info(&caller, &method, &uri, &headers, form);
    req.context = "oauth2".into();
    let create = new_record_data(&state, &collection, &user, create_data).await?;
    let avatar = oauth2_flow::mapped_field(&collection, "avatarURL")
        .filter(|f| !create.contains_key(f))
        .and_then(|f| AvatarSource::for_field(&collection, f, &user.avatar_url));
    let ext = ExternalUser {
        provider: &provider_name,
        provider_id: &user.id,
        email: &user.email,
        email_verified: user.is_email_verified,
        create,
        avatar,
    };
    let (record, is_new) = external::resolve(&state, &collection, ext, &caller, &req).await?;
    let record = mark_verified(&state, &collection, record, &user, &req).await?;

    let mut meta = serde_json::to_value(&user).map_err(keel_core::Error::internal)?;
    if let Value::Object(m) = &mut meta {
        m.insert("isNew".into(), Value::Bool(is_new));
    }
    let login = Login {
        collection: &collection,
        record,
        method: "oauth2",
        mfa_id,
        req,
        shape: ShapeParams::from_query(uri.query()),
        origin,
        extra: Some(("meta".into(), meta)),
    };
    complete(&state, login).await
}

/// `createData` with the OAuth2 user's attributes under the collection's `mappedFields`
/// (`id`, `name`, `username`, `avatarURL`), where createData does not set them. A username
/// another record holds is left out; an `avatarURL` mapped to a file field is not set here:
/// the record's creation downloads it (`AvatarSource`, `external::resolve`).
async fn new_record_data(
    state: &AppState,
    collection: &std::sync::Arc<Collection>,
    user: &OAuth2User,
    mut data: Map<String, Value>,
) -> ApiResult<Map<String, Value>> {
    map_into(
        collection,
        &mut data,
        oauth2_flow::mapped_field(collection, "id"),
        &user.id,
    );
    map_into(
        collection,
        &mut data,
        oauth2_flow::mapped_field(collection, "name"),
        &user.name,
    );
    if let Some(field) = oauth2_flow::mapped_field(collection, "username") {
        let taken = !user.username.is_empty()
            && state
                .store
                .find_by_field(collection, &field, &Value::String(user.username.clone()))
                .await?
                .is_some();
        if !taken {
            map_into(collection, &mut data, Some(field), &user.username);
        }
    }
    if let Some(field) = oauth2_flow::mapped_field(collection, "avatarURL") {
        let is_file = collection
            .field(&field)
            .is_some_and(|f| matches!(f.kind, FieldKind::File(_)));
        if !is_file {
            map_into(collection, &mut data, Some(field), &user.avatar_url);
        }
    }
    Ok(data)
}

/// Marks an existing record verified when the provider vouched for the record's own email.
async fn mark_verified(
    state: &AppState,
    collection: &std::sync::Arc<Collection>,
    record: Record,
    user: &OAuth2User,
    req: &RequestInfo,
) -> ApiResult<Record> {
    let email = record.data.get("email").and_then(Value::as_str).unwrap_or("");
    let verified = record.data.get("verified").and_then(Value::as_bool).unwrap_or(false);
    if verified || !user.is_email_verified || email.is_empty() || !email.eq_ignore_ascii_case(&user.email) {
        return Ok(record);
    }
    let mut data = Map::new();
    data.insert("verified".into(), Value::Bool(true));
    let (_, after) = state
        .store
        .update_record(collection, record.id(), data, req, Access::Superuser)
        .await?;
    Ok(after)
}
