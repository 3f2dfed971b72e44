//! `GET /api/settings` and `PATCH /api/settings` (superusers only). A PATCH deep-merges the
//! submitted JSON into the current settings, validates the result and persists it. The SMTP
//! password is write-only: responses show it blank, and a blank one in a PATCH keeps the
//! stored password (so a form that round-trips the GET answer does not wipe it). A PATCH is
//! audited (`settings.update`) with the settings before and after, secrets masked.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::Json;
use keel_core::error::{FieldError, FieldErrors};
use serde_json::{Map, Value};

use crate::body::{read_object, Limit};
use crate::error::{ApiError, ApiResult};
use crate::redact::redact_secrets;
use crate::request::{form_pairs, Caller};
use crate::serialize::pick_fields;
use crate::settings::SettingsData;
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// `GET|PATCH /api/settings`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_settings, patch_settings))
}

#[utoipa::path(
    get, path = "/api/settings", operation_id = "getSettings", tag = "settings",
    security(("authToken" = [])), responses((status = 200, description = "The settings (secrets masked)", body = crate::openapi::schemas::Object))
)]
async fn get_settings(State(state): State<AppState>, caller: Caller, uri: Uri) -> ApiResult<Json<Value>> {
    caller.require_superuser()?;
    public_json(&state.settings.get(), &uri)
}

#[utoipa::path(
    patch, path = "/api/settings", operation_id = "updateSettings", tag = "settings",
    security(("authToken" = [])), request_body = crate::openapi::schemas::Object, responses((status = 200, description = "The settings after the change", body = crate::openapi::schemas::Object))
)]
async fn patch_settings(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    caller.require_superuser()?;
    let patch: Map<String, Value> = read_object(&state, &headers, body, Limit::Document).await?;
    let current = state.settings.get();
    let mut merged = serde_json::to_value(current.as_ref()).map_err(keel_core::Error::internal)?;
    let mut patch = Value::Object(patch);
    if let Some(pw) = patch.pointer_mut("/smtp/password") {
        if pw.as_str().is_some_and(str::is_empty) || pw.is_null() {
            *pw = Value::String(current.smtp.password.clone());
        }
    }
    merge(&mut merged, patch);
    let data: SettingsData = serde_json::from_value(merged)
        .map_err(|e| ApiError::bad_request(format!("Failed to load the submitted data: {}.", type_error(&e))))?;
    validate(&data)?;
    let saved = state.settings.replace(&state.store, data).await?;
    let masked = |s: &SettingsData| {
        let mut v = serde_json::to_value(s).unwrap_or(Value::Null);
        redact_secrets(&mut v);
        v
    };
    let entry = crate::routes::roles::audit_entry(&caller, &headers, "settings.update")
        .detail("before", masked(&current))
        .detail("after", masked(&saved));
    state.identity.audit(entry).await;
    public_json(&saved, &uri)
}

/// The settings as clients see them (SMTP password blank), with `fields` applied.
fn public_json(data: &SettingsData, uri: &Uri) -> ApiResult<Json<Value>> {
    let mut v = serde_json::to_value(data).map_err(keel_core::Error::internal)?;
    if let Some(pw) = v.pointer_mut("/smtp/password") {
        *pw = Value::String(String::new());
    }
    let fields = form_pairs(uri.query().unwrap_or(""))
        .into_iter()
        .find(|(k, _)| k == "fields")
        .map(|(_, v)| v);
    pick_fields(&mut v, fields.as_deref());
    Ok(Json(v))
}

/// Recursively merges `patch` into `target`: objects key by key, anything else replaced.
fn merge(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                match t.get_mut(&k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        t.insert(k, v);
                    }
                }
            }
        }
        (t, p) => *t = p,
    }
}

/// serde's message without positions, which mean nothing for a merged document.
fn type_error(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg,
    }
}

/// Checks the merged settings; a 400 names each offending field by its dotted path.
fn validate(s: &SettingsData) -> ApiResult<()> {
    let mut errs = FieldErrors::new();
    let mut fail = |path: String, code: &str, msg: &str| {
        errs.insert(path, FieldError::new(code, msg));
    };
    if s.meta.app_name.trim().is_empty() {
        fail("meta.appName".into(), "validation_required", "Cannot be blank.");
    }
    if s.meta.app_url.trim().is_empty() {
        fail("meta.appURL".into(), "validation_required", "Cannot be blank.");
    } else if !(s.meta.app_url.starts_with("http://") || s.meta.app_url.starts_with("https://")) {
        fail("meta.appURL".into(), "validation_is_url", "Must be a valid url.");
    }
    if s.batch.max_requests < 1 {
        fail(
            "batch.maxRequests".into(),
            "validation_min_greater_equal_than_required",
            "Must be no less than 1.",
        );
    }
    if s.batch.enabled && s.batch.timeout < 1 {
        fail(
            "batch.timeout".into(),
            "validation_min_greater_equal_than_required",
            "Must be no less than 1.",
        );
    }
    for (i, rule) in s.rate_limits.rules.iter().enumerate() {
        if rule.label.trim().is_empty() {
            fail(
                format!("rateLimits.rules.{i}.label"),
                "validation_required",
                "Cannot be blank.",
            );
        }
        if rule.max_requests < 1 {
            fail(
                format!("rateLimits.rules.{i}.maxRequests"),
                "validation_min_greater_equal_than_required",
                "Must be no less than 1.",
            );
        }
        if rule.duration < 1 {
            fail(
                format!("rateLimits.rules.{i}.duration"),
                "validation_min_greater_equal_than_required",
                "Must be no less than 1.",
            );
        }
        if !["", "@guest", "@auth"].contains(&rule.audience.as_str()) {
            fail(
                format!("rateLimits.rules.{i}.audience"),
                "validation_in_invalid",
                "Must be a valid value.",
            );
        }
    }
    if s.smtp.enabled {
        if s.smtp.host.trim().is_empty() {
            fail("smtp.host".into(), "validation_required", "Cannot be blank.");
        }
        if s.smtp.port == 0 {
            fail("smtp.port".into(), "validation_required", "Cannot be blank.");
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(ApiError(keel_core::Error::fields(errs)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_is_deep() {
        let mut a = json!({"batch": {"enabled": false, "maxRequests": 50}, "meta": {"appName": "x"}});
        merge(&mut a, json!({"batch": {"enabled": true}, "logs": {"maxDays": 3}}));
        assert_eq!(
            a,
            json!({"batch": {"enabled": true, "maxRequests": 50}, "meta": {"appName": "x"}, "logs": {"maxDays": 3}})
        );
    }

    #[test]
    fn validation_names_fields() {
        let mut s = SettingsData::default();
        s.batch.max_requests = 0;
        s.rate_limits.rules.push(Default::default());
        let err = validate(&s).unwrap_err();
        let keel_core::Error::BadRequest { fields, .. } = err.0 else {
            panic!("not a 400")
        };
        assert!(fields.contains_key("batch.maxRequests"));
        assert!(fields.contains_key("rateLimits.rules.0.label"));
        assert!(fields.contains_key("rateLimits.rules.0.maxRequests"));
        assert!(validate(&SettingsData::default()).is_ok());
    }
}
