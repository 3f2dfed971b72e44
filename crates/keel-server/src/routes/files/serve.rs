//! `GET /api/files/{collection}/{recordId}/{filename}`: streams a record's file. Protected file
//! fields need `?token=` (a file token) whose record passes the collection's view rule; other
//! files are public, like PocketBase's.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Response};
use keel_auth::token::TokenKind;
use keel_data::{Access, FieldKind, RequestInfo};
use serde_json::Map;

use crate::error::{ApiError, ApiResult};
use crate::request::{form_pairs, request_info};
use crate::state::AppState;
use keel_app::caller::authenticate;
use keel_app::records::files::{field_names, file_key, is_safe_segment};

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
    let collection = state.store.collection(&collection).map_err(|_| ApiError::not_found())?;
    if !is_safe_segment(&record_id) || filename.contains('/') || filename.contains("..") {
        return Err(ApiError::not_found());
    }
    let record = state
        .store
        .get_record(&collection, &record_id, &RequestInfo::default(), Access::Superuser)
        .await
        .map_err(|_| ApiError::not_found())?;
    let field = collection
        .fields
        .iter()
        .find(|f| matches!(f.kind, FieldKind::File(_)) && field_names(record.data.get(&f.name)).contains(&filename))
        .ok_or_else(ApiError::not_found)?;
    let query = form_pairs(uri.query().unwrap_or(""));
    let param = |name: &str| query.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str());

    if matches!(&field.kind, FieldKind::File(o) if o.protected) {
        // A missing or invalid token means a guest, like PocketBase.
        let auth = match param("token").filter(|t| !t.is_empty()) {
            Some(t) => authenticate(&state, t, TokenKind::File).await.ok(),
            None => None,
        };
        let mut req = request_info(&keel_app::Caller::record(auth), &method, &uri, &headers, Map::new());
        req.context = "protectedFile".into();
        let allowed = match Access::for_rule(&collection, &collection.view_rule, &req) {
            None => false,
            Some(Access::Superuser) => true,
            Some(Access::Rule(rule)) => {
                state
                    .store
                    .record_matches(&collection, &record.data, rule, &req)
                    .await?
            }
        };
        if !allowed {
            return Err(ApiError::not_found());
        }
    }

    let object = state
        .files
        .get(&file_key(&collection.id, &record_id, &filename))
        .await?;
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
