//! `GET /api/collections/{c}/auth-methods`: which ways of signing in a collection offers,
//! in PocketBase's ≥0.23 shape (`password`, `oauth2`, `mfa`, `otp`).

use axum::extract::{Path, State};
use axum::http::Uri;
use axum::Json;
use serde_json::{json, Value};

use super::{auth_collection, ShapeParams};
use crate::error::{ApiError, ApiResult};
use crate::serialize::pick_fields;
use crate::state::AppState;

pub(super) async fn handler(
    State(state): State<AppState>,
    Path(collection): Path<String>,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let collection = auth_collection(&state, &collection)?;
    let opts = collection.auth.as_ref().ok_or_else(ApiError::not_found)?;
    let password = &opts.password_auth;
    let identity_fields: Vec<&str> = if password.enabled {
        password.identity_fields.iter().map(String::as_str).collect()
    } else {
        Vec::new()
    };
    // OAuth2 sign-in is not implemented yet: no provider is offered even when configured.
    let mut body = json!({
        "password": {"enabled": password.enabled, "identityFields": identity_fields},
        "oauth2": {"enabled": false, "providers": []},
        "mfa": toggle(&opts.mfa),
        "otp": toggle(&opts.otp),
    });
    pick_fields(&mut body, ShapeParams::from_query(uri.query()).fields.as_deref());
    Ok(Json(body))
}

/// `{"enabled", "duration"}` of an MFA/OTP option object (duration 0 when disabled).
fn toggle(opt: &Value) -> Value {
    let enabled = opt.get("enabled").and_then(Value::as_bool).unwrap_or(false);
    let duration = if enabled {
        opt.get("duration").and_then(Value::as_i64).unwrap_or(0)
    } else {
        0
    };
    json!({"enabled": enabled, "duration": duration})
}
