//! `/_/`: until the web console exists, the pages the default auth emails link to
//! (`/_/#/auth/confirm-verification/TOKEN`, `…/confirm-password-reset/TOKEN`,
//! `…/confirm-email-change/TOKEN`, PocketBase's links). One static page and its script,
//! compiled into the binary; the script posts the token to the collection's API.

use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

use crate::state::AppState;

const PAGE: &str = include_str!("auth.html");
const SCRIPT: &str = include_str!("auth.js");

/// Scripts only from this origin, no framing, no referrer (the token is in the fragment).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// `GET /_/`, `GET /_/auth.js` and `GET /_` (a redirect to `/_/`).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/_", get(|| async { Redirect::permanent("/_/") }))
        .route("/_/", get(page))
        .route("/_/auth.js", get(script))
}

async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        PAGE,
    )
        .into_response()
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        SCRIPT,
    )
        .into_response()
}
