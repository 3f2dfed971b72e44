//! `GET|POST /api/oauth2-redirect`: where providers send the browser back in the JS SDK's
//! realtime `authWithOAuth2` flow. The SDK subscribes to `@oauth2` and uses its realtime
//! client id as the OAuth2 `state`; this handler forwards `{state, code, error?}` as an
//! `@oauth2` message to that client, which then calls `auth-with-oauth2`.
//!
//! A state that is no connected client holding an `@oauth2` subscription is refused with a
//! 400 page. The subscription is removed once used, so a replayed redirect is refused too.
//! The realtime broker is per process: behind a load balancer, the redirect must reach the
//! process holding the client's SSE stream (sticky sessions).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use keel_app::realtime::oauth2::{self, Redirect};
use serde_json::{Map, Value};

use crate::body::{read_object, Limit};
use crate::request::form_pairs;
use crate::state::AppState;

#[utoipa::path(
    get, path = "/api/oauth2-redirect", operation_id = "oauth2RedirectGet", tag = "auth",
    params(("state" = String, Query), ("code" = Option<String>, Query), ("error" = Option<String>, Query)), responses((status = 200, description = "A page telling the user to return to the app", body = String, content_type = "text/html"))
)]
pub(super) async fn get_handler(State(state): State<AppState>, uri: Uri) -> Response {
    let params: Map<String, Value> = form_pairs(uri.query().unwrap_or(""))
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    forward(&state, &params).await
}

/// Apple (`response_mode=form_post`) posts the code as a form.
#[utoipa::path(
    post, path = "/api/oauth2-redirect", operation_id = "oauth2RedirectPost", tag = "auth",
    request_body(content = crate::openapi::schemas::Object, content_type = "application/x-www-form-urlencoded"), responses((status = 200, description = "A page telling the user to return to the app", body = String, content_type = "text/html"))
)]
pub(super) async fn post_handler(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    match read_object::<Map<String, Value>>(&state, &headers, body, Limit::Small).await {
        Ok(params) => forward(&state, &params).await,
        Err(_) => page(StatusCode::BAD_REQUEST, "Failed to read the OAuth2 redirect."),
    }
}

async fn forward(state: &AppState, params: &Map<String, Value>) -> Response {
    let text = |k: &str| params.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    match oauth2::forward_redirect(state, &text("state"), &text("code"), &text("error")).await {
        Redirect::Refused => page(
            StatusCode::BAD_REQUEST,
            "Failed to authenticate: this sign-in link is unknown, expired or was already used. Go back to the app and try again.",
        ),
        Redirect::Failed => page(
            StatusCode::OK,
            "Failed to authenticate. You can close this window and go back to the app to try again.",
        ),
        Redirect::Forwarded => page(
            StatusCode::OK,
            "Auth completed. You can close this window and go back to the app.",
        ),
    }
}

fn page(status: StatusCode, message: &str) -> Response {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Sign-in</title></head>\
         <body><p>{message}</p><script>setTimeout(function(){{window.close()}},500)</script></body></html>"
    );
    (status, Html(html)).into_response()
}
