//! `GET|HEAD /api/files/{collection}/{recordId}/{filename}`: streams a record's file. Who may
//! read it (protected fields need `?token=`, a file token whose record passes the view rule)
//! and which object serves it (`?thumb=`) is `keel_app::files::open`'s; this speaks HTTP's
//! caching and range rules: `ETag` / `If-None-Match` and `Last-Modified` /
//! `If-Modified-Since` → 304, one `Range` → 206 (`If-Range` honoured), past the end → 416.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use keel_core::files::FileMeta;
use serde_json::Map;

use super::range::{wanted, Wanted};
use crate::error::ApiResult;
use crate::request::{form_pairs, request_info};
use crate::state::AppState;

/// PocketBase's `Cache-Control` for files: 30 days, reused for a day while revalidating.
pub const CACHE_CONTROL: &str = "max-age=2592000, stale-while-revalidate=86400";
/// Keel's for protected files: the same, but never in a shared cache.
pub const CACHE_CONTROL_PROTECTED: &str = "private, max-age=2592000, stale-while-revalidate=86400";

/// Serves one file (`?download=1` for an attachment; `?thumb=WxH` for a thumbnail of an image).
#[utoipa::path(
    get, path = "/api/files/{collection}/{record}/{filename}", operation_id = "serveFile", tag = "files",
    params(
        ("token" = Option<String>, Query, description = "A file token, for protected files"),
        ("download" = Option<String>, Query, description = "`1`/`true`: as an attachment"),
        ("thumb" = Option<String>, Query, description = "A thumbnail size the field allows (`WxH`, `WxHt`, `WxHb`, `WxHf`, `0xH`, `Wx0`; `100x100` always): images only, else the original"),
        ("Range" = Option<String>, Header, description = "One byte range (`bytes=0-99`, `bytes=100-`, `bytes=-100`)"),
        ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer: 304 when unchanged")
    ),
    responses(
        (status = 200, description = "The file", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 206, description = "The range asked for (`Content-Range`)", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 304, description = "Unchanged since the ETag or date the client holds"),
        (status = 416, description = "The range starts past the end (`Content-Range: bytes */SIZE`)")
    )
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
    let req = request_info(&keel_app::Caller::guest(), &method, &uri, headers.clone(), Map::new());
    let served = keel_app::files::open(
        &state,
        &collection,
        &record_id,
        &filename,
        param("token"),
        param("thumb").filter(|t| !t.is_empty()),
        req,
    )
    .await?;
    let meta = state.files.head(&served.key).await?;
    let etag = entity_tag(&meta);
    let mut caching = HeaderMap::new();
    put(&mut caching, header::ETAG, &etag);
    put(&mut caching, header::LAST_MODIFIED, &http_date(meta.last_modified));
    put(
        &mut caching,
        header::CACHE_CONTROL,
        if served.protected {
            CACHE_CONTROL_PROTECTED
        } else {
            CACHE_CONTROL
        },
    );
    put(&mut caching, header::ACCEPT_RANGES, "bytes");
    if not_modified(&headers, &etag, meta.last_modified) {
        return Ok((StatusCode::NOT_MODIFIED, caching).into_response());
    }
    let range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let if_range_ok = headers
        .get(header::IF_RANGE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.trim() == etag);
    let want = if if_range_ok {
        wanted(range_header, meta.size)
    } else {
        Wanted::Whole
    };
    let (status, object) = match want {
        Wanted::Unsatisfiable => {
            put(&mut caching, header::CONTENT_RANGE, &format!("bytes */{}", meta.size));
            return Ok((StatusCode::RANGE_NOT_SATISFIABLE, caching).into_response());
        }
        Wanted::Part(r) => (
            StatusCode::PARTIAL_CONTENT,
            state.files.get_range(&served.key, r).await?,
        ),
        Wanted::Whole => (StatusCode::OK, state.files.get(&served.key).await?),
    };
    let download = matches!(param("download"), Some("1") | Some("true") | Some("t"));
    let mime = mime_guess::from_path(&served.name).first_or_octet_stream();
    let disposition = format!(
        "{}; filename=\"{}\"",
        if download { "attachment" } else { "inline" },
        served.name
    );
    let range = object.range.clone();
    let mut resp = Body::from_stream(object.stream).into_response();
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.extend(caching);
    put(h, header::CONTENT_TYPE, mime.essence_str());
    put(h, header::CONTENT_DISPOSITION, &disposition);
    put(h, header::CONTENT_LENGTH, &(range.end - range.start).to_string());
    if status == StatusCode::PARTIAL_CONTENT {
        put(
            h,
            header::CONTENT_RANGE,
            &format!("bytes {}-{}/{}", range.start, range.end.saturating_sub(1), meta.size),
        );
    }
    put(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; media-src 'self'; style-src 'unsafe-inline'; sandbox",
    );
    put(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    Ok(resp)
}

fn put(h: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

/// The quoted entity tag: the store's, else one made of size and modification time.
fn entity_tag(meta: &FileMeta) -> String {
    let raw = meta
        .etag
        .clone()
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic() && b != b'"'))
        .unwrap_or_else(|| format!("{:x}-{:x}", meta.size, meta.last_modified.timestamp_micros()));
    format!("\"{raw}\"")
}

/// An HTTP date (`Thu, 03 Dec 2026 06:38:13 GMT`).
fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// Whether the client's copy is current: `If-None-Match` (weak comparison, `*`), or, without
/// it, `If-Modified-Since` at or after the modification time (whole seconds).
fn not_modified(headers: &HeaderMap, etag: &str, modified: DateTime<Utc>) -> bool {
    if let Some(inm) = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) {
        let bare = |t: &str| t.trim().trim_start_matches("W/").to_string();
        return inm.split(',').any(|t| t.trim() == "*" || bare(t) == bare(etag));
    }
    headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| DateTime::parse_from_rfc2822(v.trim()).ok())
        .is_some_and(|since| modified.timestamp() <= since.timestamp())
}
