//! `POST /api/collections/{c}/auth-with-password`: `{identity, password, identityField?}`
//! → `{"token", "record"}`. A wrong identity and a wrong password get the same answer in
//! about the same time (a dummy hash is verified when the identity is unknown).

use std::sync::OnceLock;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use keel_core::error::{FieldError, FieldErrors};
use keel_data::Record;
use serde_json::{Map, Value};

use super::login::{complete, failed, Login, Origin};
use super::{auth_collection, ShapeParams};
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::request::{request_info, Caller};
use crate::state::AppState;

/// Longest accepted identity or password, like PocketBase.
const MAX_LEN: usize = 255;

#[utoipa::path(
    post, path = "/api/collections/{collection}/auth-with-password", operation_id = "authWithPassword", tag = "auth",
    params(crate::openapi::params::RecordQuery), request_body = crate::openapi::auth::PasswordAuth, responses((status = 200, body = crate::openapi::schemas::AuthResponse), (status = 401, description = "MFA: sign in again with another method and this `mfaId`", body = crate::openapi::schemas::MfaRequired))
)]
pub(super) async fn handler(
    State(state): State<AppState>,
    Path(collection): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    JsonBody(mut form): JsonBody<Map<String, Value>>,
) -> ApiResult<Response> {
    let collection = auth_collection(&state, &collection)?;
    let opts = collection.auth.as_ref().ok_or_else(ApiError::not_found)?;
    if !opts.password_auth.enabled {
        return Err(ApiError::forbidden(
            "The collection is not configured to allow password authentication.",
        ));
    }
    let identity = text(&form, "identity");
    let password = text(&form, "password");
    let identity_field = text(&form, "identityField");
    let mfa_id = text(&form, "mfaId");
    let origin = Origin::from_headers(&headers);

    let mut errors = FieldErrors::new();
    for (name, value) in [("identity", &identity), ("password", &password)] {
        if value.is_empty() {
            errors.insert(name.into(), FieldError::new("validation_required", "Cannot be blank."));
        } else if value.chars().count() > MAX_LEN {
            errors.insert(
                name.into(),
                FieldError::new(
                    "validation_length_out_of_range",
                    format!("The length must be between 1 and {MAX_LEN}."),
                ),
            );
        }
    }
    if !identity_field.is_empty() && !opts.password_auth.identity_fields.contains(&identity_field) {
        errors.insert(
            "identityField".into(),
            FieldError::new("validation_in_invalid", "Must be a valid value."),
        );
    }
    if !errors.is_empty() {
        return Err(ApiError(keel_core::Error::fields(errors)));
    }

    crate::lockout::attempt(&state, &collection.id, &identity).await?;

    let fields: Vec<&str> = if identity_field.is_empty() {
        opts.password_auth.identity_fields.iter().map(String::as_str).collect()
    } else {
        vec![identity_field.as_str()]
    };
    let mut found: Option<Record> = None;
    for field in fields {
        if let Some(r) = state
            .store
            .find_by_field(&collection, field, &Value::String(identity.clone()))
            .await?
        {
            found = Some(r);
            break;
        }
    }

    let hash = found
        .as_ref()
        .and_then(|r| r.data.get("password").and_then(Value::as_str))
        .map(str::to_owned)
        .unwrap_or_else(|| dummy_hash().to_owned());
    let matches = tokio::task::spawn_blocking(move || keel_auth::verify_password(&password, &hash))
        .await
        .map_err(keel_core::Error::internal)?;
    let record = match found {
        Some(r) if matches => r,
        _ => {
            failed(&state, &collection, "password", &identity, &origin).await;
            return Err(ApiError::bad_request("Failed to authenticate."));
        }
    };
    crate::lockout::reset(&state, &collection.id, &identity).await;

    form.remove("password");
    let req = request_info(&Caller::guest(), &method, &uri, &headers, form);
    let login = Login {
        collection: &collection,
        record,
        method: "password",
        mfa_id: (!mfa_id.is_empty()).then_some(mfa_id),
        req,
        shape: ShapeParams::from_query(uri.query()),
        origin,
        extra: None,
    };
    complete(&state, login).await
}

/// A string field of the body (numbers are accepted as their text).
fn text(form: &serde_json::Map<String, Value>, key: &str) -> String {
    match form.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// A real argon2 hash to verify against when the identity is unknown, so both failures cost
/// the same.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| keel_auth::hash_password("keel-dummy-password").unwrap_or_default())
}
