//! `GET /api/settings` and `PATCH /api/settings` (superusers only); the rules of a change are
//! `keel_app::settings::update`'s.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::Json;
use keel_app::settings::{self, SettingsData};
use serde_json::{Map, Value};

use crate::body::{read_object, Limit};
use crate::error::ApiResult;
use crate::request::{form_pairs, Caller, ClientOrigin};
use crate::state::AppState;
use keel_app::serialize::pick_fields;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// `GET|PATCH /api/settings`, `POST /api/settings/test/s3`, `POST /api/settings/test/email`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_settings, patch_settings))
        .routes(routes!(test_s3))
        .routes(routes!(test_email))
}

/// `POST /api/settings/test/s3`'s body.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
struct TestS3 {
    /// `storage` (`settings.s3`) or `backups` (`settings.backups.s3`).
    filesystem: String,
}

/// `POST /api/settings/test/email`'s body.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
struct TestEmail {
    email: String,
    /// `verification`, `password-reset`, `email-change`, `otp` or `login-alert`.
    template: String,
    /// An auth collection's name or id (`_superusers` when empty).
    collection: String,
}

#[utoipa::path(
    post, path = "/api/settings/test/s3", operation_id = "testS3", tag = "settings",
    security(("authToken" = [])), request_body = TestS3,
    responses((status = 204, description = "A test file was written and deleted"), (status = 400, description = "The S3 settings do not work (the store's error)"))
)]
async fn test_s3(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<StatusCode> {
    caller.require_superuser()?;
    let req: TestS3 = read_object(&state, &headers, body, Limit::Small).await?;
    settings::test_s3(&state, &caller, &req.filesystem).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post, path = "/api/settings/test/email", operation_id = "testEmail", tag = "settings",
    security(("authToken" = [])), request_body = TestEmail,
    responses((status = 204, description = "The email was sent"), (status = 400, description = "Invalid input, or the email could not be sent"))
)]
async fn test_email(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<StatusCode> {
    caller.require_superuser()?;
    let req: TestEmail = read_object(&state, &headers, body, Limit::Small).await?;
    settings::test_email(&state, &caller, &req.email, &req.template, &req.collection).await?;
    Ok(StatusCode::NO_CONTENT)
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
    ClientOrigin(origin): ClientOrigin,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    caller.require_superuser()?;
    let patch: Map<String, Value> = read_object(&state, &headers, body, Limit::Document).await?;
    let saved = settings::update(&state, &caller, &origin, patch).await?;
    public_json(&saved, &uri)
}

/// The settings as clients see them, with `fields` applied.
fn public_json(data: &SettingsData, uri: &Uri) -> ApiResult<Json<Value>> {
    let mut v = settings::public_json(data)?;
    let fields = form_pairs(uri.query().unwrap_or(""))
        .into_iter()
        .find(|(k, _)| k == "fields")
        .map(|(_, v)| v);
    pick_fields(&mut v, fields.as_deref());
    Ok(Json(v))
}
