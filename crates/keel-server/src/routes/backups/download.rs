//! `GET /api/backups/{key}?token=FILE_TOKEN`: streams a backup to the holder of a superuser's
//! file token (`keel_app::backups::open` decides).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};

use crate::error::ApiResult;
use crate::request::form_pairs;
use crate::state::AppState;

#[utoipa::path(
    get, path = "/api/backups/{key}", operation_id = "downloadBackup", tag = "backups",
    params(("token" = String, Query, description = "A superuser's file token (`POST /api/files/token`)")),
    responses((status = 200, description = "The backup's zip", content_type = "application/zip", body = Vec<u8>))
)]
pub(super) async fn download(State(state): State<AppState>, Path(key): Path<String>, uri: Uri) -> ApiResult<Response> {
    let query = form_pairs(uri.query().unwrap_or(""));
    let token = query.iter().rev().find(|(k, _)| k == "token").map(|(_, v)| v.as_str());
    let object = keel_app::backups::open(&state, &key, token).await?;
    let mut resp = Body::from_stream(object.stream).into_response();
    let h = resp.headers_mut();
    let mut set = |name: header::HeaderName, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    };
    set(header::CONTENT_TYPE, "application/zip");
    set(header::CONTENT_LENGTH, &object.meta.size.to_string());
    set(
        header::CONTENT_DISPOSITION,
        &format!("attachment; filename=\"{}\"", key.replace(['"', '\\'], "_")),
    );
    set(header::CACHE_CONTROL, "no-store");
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    Ok(resp)
}
