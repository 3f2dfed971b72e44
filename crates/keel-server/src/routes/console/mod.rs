//! `/_/`: the web console. A page and its ES modules, compiled into the binary (no build
//! step, nothing fetched from elsewhere); the console speaks Keel's public API like any
//! client. `/` and `/_` redirect to it. The pages the default auth emails link to
//! (`/_/#/auth/confirm-password-reset/TOKEN`, …: PocketBase's links) are console routes.
//!
//! Assets are sent gzip-compressed when the client accepts it, with an `ETag`
//! (`Cache-Control: no-cache`: a reload revalidates, an unchanged file is a 304). With
//! `console_dir` set they are read from that directory on every request instead, for
//! working on the console without rebuilding.

mod assets;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

use crate::state::AppState;

/// Scripts and styles only from this origin, no framing, no referrer (auth links carry a
/// token in the fragment).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// `GET /`, `GET /_` (redirects), `GET /_/` (the page) and `GET /_/{path}` (its assets).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::temporary("/_/") }))
        .route("/_", get(|| async { Redirect::permanent("/_/") }))
        .route("/_/", get(index))
        .route("/_/{*path}", get(asset))
}

async fn index(State(state): State<AppState>, headers: HeaderMap) -> Response {
    serve(&state, "index.html", &headers).await
}

async fn asset(State(state): State<AppState>, Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&state, &path, &headers).await
}

async fn serve(state: &AppState, path: &str, headers: &HeaderMap) -> Response {
    if let Some(dir) = &state.config.console_dir {
        return match assets::from_dir(dir, path).await {
            Some((mime, body)) => with_headers(mime, body, None, None).into_response(),
            None => StatusCode::NOT_FOUND.into_response(),
        };
    }
    let Some(asset) = assets::embedded(path) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == asset.etag))
    {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        if let Ok(etag) = HeaderValue::from_str(&asset.etag) {
            response.headers_mut().insert(header::ETAG, etag);
        }
        return response;
    }
    let gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(accepts_gzip);
    let body = if gzip { asset.gzip.clone() } else { asset.raw.clone() };
    with_headers(asset.mime, body, Some(&asset.etag), gzip.then_some("gzip")).into_response()
}

/// Whether an `Accept-Encoding` value allows gzip (not with `q=0`).
fn accepts_gzip(value: &str) -> bool {
    value.split(',').any(|part| {
        let mut it = part.split(';');
        let coding = it.next().unwrap_or("").trim();
        let refused = it.any(|p| {
            matches!(
                p.trim().replace(' ', "").as_str(),
                "q=0" | "q=0.0" | "q=0.00" | "q=0.000"
            )
        });
        (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
    })
}

fn with_headers(
    mime: &'static str,
    body: bytes::Bytes,
    etag: Option<&str>,
    encoding: Option<&'static str>,
) -> Response {
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if mime.starts_with("text/html") {
        h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
        h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    if let Some(tag) = etag.and_then(|t| HeaderValue::from_str(t).ok()) {
        h.insert(header::ETAG, tag);
    }
    if let Some(encoding) = encoding {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::accepts_gzip;

    #[test]
    fn gzip_is_sent_only_when_accepted() {
        assert!(accepts_gzip("gzip, deflate, br"));
        assert!(accepts_gzip("br;q=1.0, GZIP;q=0.5"));
        assert!(accepts_gzip("*"));
        assert!(!accepts_gzip("gzip;q=0, br"));
        assert!(!accepts_gzip("br, deflate"));
        assert!(!accepts_gzip(""));
    }
}
