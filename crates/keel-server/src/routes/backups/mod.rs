//! Backups (`/api/backups`, `keel_app::backups`), as PocketBase has them; superusers only,
//! except the download, which takes a superuser's file token (`POST /api/files/token`):
//!
//! - `GET /api/backups` → `[{key, size, modified}]`;
//! - `POST /api/backups` `{name?}` → 204 once the backup is stored;
//! - `POST /api/backups/upload` (multipart `file`, a zip) → 204;
//! - `GET /api/backups/{key}?token=` → the zip;
//! - `DELETE /api/backups/{key}` → 204;
//! - `POST /api/backups/{key}/restore` → 204 once the backup is unpacked and checked; the
//!   server then restarts into it (docs/backups.md).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::body::JsonBody;
use crate::error::ApiResult;
use crate::request::Caller;
use crate::state::AppState;
use keel_app::backups;

mod download;
mod upload;

/// The backups routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(upload::upload))
        .routes(routes!(download::download, delete))
        .routes(routes!(restore))
}

/// One stored backup.
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
pub(super) struct BackupItem {
    /// The backup's name, e.g. `pb_backup_keel_20260101120000.zip`.
    key: String,
    /// Bytes.
    size: u64,
    /// When it was written (`2006-01-02 15:04:05.000Z`).
    modified: String,
}

#[utoipa::path(
    get, path = "/api/backups", operation_id = "listBackups", tag = "backups",
    security(("authToken" = [])),
    responses((status = 200, description = "Every backup, by name", body = Vec<BackupItem>))
)]
async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<backups::BackupInfo>>> {
    Ok(Json(backups::list(&state, &caller).await?))
}

/// `POST /api/backups`'s body.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub(super) struct CreateInput {
    /// `[a-z0-9_-]+\.zip`, at most 150 characters; default `pb_backup_<app>_<UTC time>.zip`.
    name: Option<String>,
}

#[utoipa::path(
    post, path = "/api/backups", operation_id = "createBackup", tag = "backups",
    security(("authToken" = [])), request_body = CreateInput,
    responses((status = 204, description = "The backup is made and stored"))
)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(input): JsonBody<CreateInput>,
) -> ApiResult<StatusCode> {
    backups::create(&state, &caller, input.name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    delete, path = "/api/backups/{key}", operation_id = "deleteBackup", tag = "backups",
    security(("authToken" = [])),
    responses((status = 204, description = "Deleted"))
)]
async fn delete(State(state): State<AppState>, caller: Caller, Path(key): Path<String>) -> ApiResult<StatusCode> {
    backups::delete(&state, &caller, &key).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post, path = "/api/backups/{key}/restore", operation_id = "restoreBackup", tag = "backups",
    security(("authToken" = [])),
    responses((status = 204, description = "The backup is unpacked and checked; the server restarts into it"))
)]
async fn restore(State(state): State<AppState>, caller: Caller, Path(key): Path<String>) -> ApiResult<StatusCode> {
    backups::restore(&state, &caller, &key).await?;
    Ok(StatusCode::NO_CONTENT)
}
