//! Reveal a secret's data (`vault:reveal`, audited): `keel_app::vault::reveal`.

use axum::extract::{Path, State};
use axum::Json;
use serde_json::Value;

use crate::error::ApiResult;
use crate::request::{Caller, ClientOrigin};
use crate::state::AppState;
use keel_app::vault;

#[utoipa::path(
    post, path = "/api/vault/secrets/{id}/reveal", operation_id = "revealSecret", tag = "vault",
    security(("authToken" = []), ("apiKey" = [])),
    responses((status = 200, description = "The secret's metadata with its `data`; audited as `vault.reveal`", body = crate::openapi::schemas::Object))
)]
pub(super) async fn reveal(
    State(state): State<AppState>,
    caller: Caller,
    ClientOrigin(origin): ClientOrigin,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(vault::reveal(&state, &caller, &origin, &id).await?))
}
