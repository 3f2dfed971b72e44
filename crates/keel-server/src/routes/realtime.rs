//! `GET /api/realtime` opens a client's SSE stream (first event `PB_CONNECT` carrying its
//! id); `POST /api/realtime` `{clientId, subscriptions}` replaces its subscriptions and binds
//! the request's auth to it. The broker is `keel_app::realtime`; this file frames its
//! messages as SSE.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::{json, Map, Value};
use tokio_stream::wrappers::ReceiverStream;

use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::request::Caller;
use crate::state::AppState;
use keel_app::realtime::{Message, Realtime};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Interval of SSE keep-alive comments (they also reveal dead connections).
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// `GET|POST /api/realtime`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(connect, set_subscriptions))
}

/// Removes the client when its stream is dropped (disconnect, shutdown, slow client).
struct Disconnect {
    realtime: std::sync::Arc<Realtime>,
    id: String,
}

impl Drop for Disconnect {
    fn drop(&mut self) {
        self.realtime.disconnect(&self.id);
    }
}

#[utoipa::path(
    get, path = "/api/realtime", operation_id = "realtimeConnect", tag = "realtime",
    responses((status = 200, description = "Server-sent events: `PB_CONNECT` `{clientId}` first, then one event per subscription match", body = String, content_type = "text/event-stream"), (status = 503, description = "Shutting down", body = crate::openapi::schemas::ErrorBody))
)]
async fn connect(State(state): State<AppState>) -> Response {
    let Some((client, rx)) = state.realtime.connect() else {
        let e = keel_core::Error::Unavailable("The server is shutting down.".into());
        return ApiError(e).into_response();
    };
    let id = client.id().to_string();
    let hello = Message::new(&id, "PB_CONNECT", json!({"clientId": id}).to_string());
    let guard = Disconnect {
        realtime: state.realtime.clone(),
        id,
    };
    let stream = futures::stream::once(async move { hello })
        .chain(ReceiverStream::new(rx))
        .take_until(client.closed())
        .map(move |m: Message| {
            let _alive = &guard;
            Ok::<_, Infallible>(sse_event(m))
        });
    let mut resp = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

/// A broker message as an SSE event.
fn sse_event(m: Message) -> Event {
    Event::default().id(m.id).event(m.event).data(m.data)
}

#[utoipa::path(
    post, path = "/api/realtime", operation_id = "realtimeSubscribe", tag = "realtime",
    request_body = crate::openapi::schemas::RealtimeSubscriptions, responses((status = 204, description = "The client's subscriptions are replaced"))
)]
async fn set_subscriptions(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(form): JsonBody<Map<String, Value>>,
) -> ApiResult<StatusCode> {
    let credential = crate::request::bearer(&headers);
    keel_app::realtime::set_subscriptions(&state, &caller, credential, &form).await?;
    Ok(StatusCode::NO_CONTENT)
}
