//! `GET /api/files/{collection}/{recordId}/{filename}`: streams a record's file. Who may read
//! it (protected fields need `?token=`, a file token whose record passes the view rule) is
//! `keel_app::files::open`'s; this sets the response's headers.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Map;

use crate::error::ApiResult;
use crate::request::{form_pairs, request_info};
use crate::state::AppState;

/// Serves one file (`?download=1` for an attachment; `?thumb=` is accepted and ignored).
#[utoipa::path(
    get, path = "/api/files/{collection}/{record}/{filename}", operation_id = "serveFile", tag = "files",
    params(("token" = Option<String>, Query, description = "A file token, for protected files"), ("download" = Option<String>, Query, description = "`1`/`true`: as an attachment"), ("thumb" = Option<String>, Query, description = "Accepted, ignored")), responses((status = 200, description = "The file", content_type = "application/octet-stream", body = Vec<u8>))
)]
pub async fn serve(
    State(state): State<AppState>,
    Path((collection, record_id, filename)): Path<(String, String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let query = form_pairs(uri.query().unwrap_or(""));
    let param = |name: &str| query.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let req = request_info(&keel_app::Caller::guest(), &method, &uri, &headers, Map::new());
    let object = keel_app::files::open(&state, &collection, &record_id, &filename, param("token"), req).await?;
    let download = matches!(param("download"), Some("1") | Some("true") | Some("t"));
    let mime = mime_guess::from_path(&filename).first_or_octet_stream();
    let disposition = format!(
        "{}; filename=\"{}\"",
        if download { "attachment" } else { "inline" },
        filename
    );
    let mut resp = Body::from_stream(object.stream).into_response();
    let h = resp.headers_mut();
    let mut set = |name: header::HeaderName, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    };
    set(header::CONTENT_TYPE, mime.essence_str());
    set(header::CONTENT_DISPOSITION, &disposition);
    set(header::CONTENT_LENGTH, &object.size.to_string());
    set(header::CACHE_CONTROL, "max-age=2592000, private");
    set(
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; media-src 'self'; style-src 'unsafe-inline'; sandbox",
    );
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    Ok(resp)
}
