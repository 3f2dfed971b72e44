//! `GET /api/settings` and `PATCH /api/settings` (superusers only); the rules of a change are
//! `keel_app::settings::update`'s.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
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
