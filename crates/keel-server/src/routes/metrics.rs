//! `GET /metrics`: the Prometheus text exposition, for callers `[metrics] access` lets in.
//!
//! - `protected` (the default): a caller holding `metrics:read` (superusers, the `admin`,
//!   `operator` and `viewer` roles, an API key with one of them), or the `[metrics] token`
//!   bearer token, compared in constant time;
//! - `loopback`: also a request whose socket peer is a loopback address and that carries no
//!   proxy header (`Forwarded`, `X-Forwarded-For`, `X-Real-IP` or a `trustedProxy` header),
//!   so a reverse proxy on the same host does not open it to the world;
//! - `public`: anyone.
//!
//! Gauges that describe the present (process, pools, realtime, job queues) are computed at
//! scrape time (`crate::metrics::refresh`).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::request::{bearer, Caller};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// `GET /metrics`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(metrics))
}

/// The exposition; 401/403 for a caller `[metrics]` does not let in; 404 when metrics are off.
#[utoipa::path(
    get, path = "/metrics", operation_id = "metrics", tag = "health",
    responses((status = 200, description = "Prometheus text format (`metrics:read`, the metrics token, or open by `[metrics] access`)", body = String, content_type = "text/plain"))
)]
async fn metrics(State(state): State<AppState>, req: Request) -> Response {
    let Some(handle) = &state.metrics else {
        return ApiError::not_found().into_response();
    };
    if let Err(e) = admit(&state, req).await {
        return e.into_response();
    }
    crate::metrics::refresh(&state).await;
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        handle.render(),
    )
        .into_response()
}

/// `Ok` if the request may read the metrics (see the module docs).
async fn admit(state: &AppState, req: Request) -> Result<(), ApiError> {
    let direct_loopback = from_loopback(state, &req);
    if keel_app::metrics::open_without_caller(&state.config.metrics, direct_loopback, bearer(req.headers())) {
        return Ok(());
    }
    let (mut parts, _) = req.into_parts();
    let caller = Caller::from_request_parts(&mut parts, state).await?;
    Ok(keel_app::metrics::authorize_reader(&caller)?)
}

/// Whether the socket peer is a loopback address and no proxy forwarded the request.
fn from_loopback(state: &AppState, req: &Request) -> bool {
    let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>() else {
        return false; // no socket (an in-process request): not a peer we can vouch for
    };
    if !peer.ip().to_canonical().is_loopback() {
        return false;
    }
    let settings = state.settings.get();
    let trusted = settings
        .trusted_proxy
        .get("headers")
        .and_then(|h| h.as_array())
        .into_iter()
        .flatten()
        .filter_map(|h| h.as_str());
    let forwarded = ["forwarded", "x-forwarded-for", "x-real-ip"]
        .into_iter()
        .chain(trusted)
        .any(|h| req.headers().contains_key(h));
    !forwarded
}
