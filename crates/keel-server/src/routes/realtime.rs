//! `GET /api/realtime` opens a client's SSE stream (first event `PB_CONNECT` carrying its
//! id); `POST /api/realtime` `{clientId, subscriptions}` replaces its subscriptions and binds
//! the request's auth to it. See `crate::realtime` for delivery.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;
use keel_core::error::{FieldError, FieldErrors};
use serde_json::{json, Map, Value};
use tokio_stream::wrappers::ReceiverStream;

use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::realtime::{Realtime, Subscription};
use crate::request::Caller;
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Longest accepted client id and subscription string, and most subscriptions per client.
const MAX_CLIENT_ID: usize = 255;
const MAX_SUBSCRIPTION: usize = 2500;
const MAX_SUBSCRIPTIONS: usize = 1000;
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
        let body = json!({"status": 503, "message": "The server is shutting down.", "data": {}});
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    };
    let id = client.id().to_string();
    let hello = Event::default()
        .id(&id)
        .event("PB_CONNECT")
        .data(json!({"clientId": id}).to_string());
    let guard = Disconnect {
        realtime: state.realtime.clone(),
        id,
    };
    let stream = futures::stream::once(async move { hello })
        .chain(ReceiverStream::new(rx))
        .take_until(client.closed())
        .map(move |event| {
            let _alive = &guard;
            Ok::<_, Infallible>(event)
        });
    let mut resp = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

#[utoipa::path(
    post, path = "/api/realtime", operation_id = "realtimeSubscribe", tag = "realtime",
    request_body = crate::openapi::schemas::RealtimeSubscriptions, responses((status = 204, description = "The client's subscriptions are replaced"))
)]
async fn set_subscriptions(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(form): JsonBody<Map<String, Value>>,
) -> ApiResult<StatusCode> {
    let client_id = form.get("clientId").and_then(Value::as_str).unwrap_or("");
    let mut errors = FieldErrors::new();
    if client_id.is_empty() {
        errors.insert(
            "clientId".into(),
            FieldError::new("validation_required", "Cannot be blank."),
        );
    } else if client_id.len() > MAX_CLIENT_ID {
        errors.insert(
            "clientId".into(),
            FieldError::new(
                "validation_length_too_long",
                format!("The length must be no more than {MAX_CLIENT_ID}."),
            ),
        );
    }
    let subscriptions = match parse_subscriptions(form.get("subscriptions")) {
        Ok(s) => s,
        Err(e) => {
            errors.insert("subscriptions".into(), e);
            Vec::new()
        }
    };
    if !errors.is_empty() {
        return Err(ApiError(keel_core::Error::fields(errors)));
    }
    let client = state
        .realtime
        .client(client_id)
        .ok_or_else(|| ApiError(keel_core::Error::NotFound("Missing or invalid client id.".into())))?;
    client
        .bind_auth(&caller)
        .map_err(|_| ApiError::forbidden("The current and the previous request authorization don't match."))?;
    client.set_subscriptions(subscriptions);
    Ok(StatusCode::NO_CONTENT)
}

/// `subscriptions`: absent, null or an array of strings (duplicates kept once).
fn parse_subscriptions(v: Option<&Value>) -> Result<Vec<Subscription>, FieldError> {
    let items = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) if s.is_empty() => return Ok(Vec::new()),
        // A URL-encoded form carries one subscription as a plain string.
        Some(one @ Value::String(_)) => vec![one],
        Some(Value::Array(a)) => a.iter().collect(),
        Some(_) => return Err(FieldError::new("validation_invalid_type", "Must be a list of strings.")),
    };
    if items.len() > MAX_SUBSCRIPTIONS {
        return Err(FieldError::new(
            "validation_length_too_long",
            format!("There must be no more than {MAX_SUBSCRIPTIONS} subscriptions."),
        ));
    }
    let mut out: Vec<Subscription> = Vec::with_capacity(items.len());
    for item in items {
        let raw = item
            .as_str()
            .ok_or_else(|| FieldError::new("validation_invalid_type", "Must be a list of strings."))?;
        if raw.len() > MAX_SUBSCRIPTION {
            return Err(FieldError::new(
                "validation_length_too_long",
                format!("Each subscription must be no more than {MAX_SUBSCRIPTION} characters."),
            ));
        }
        let sub = Subscription::parse(raw).ok_or_else(|| {
            FieldError::new(
                "validation_invalid_value",
                "A subscription cannot be blank or hold line breaks.",
            )
        })?;
        if !out.iter().any(|s| s.raw == sub.raw) {
            out.push(sub);
        }
    }
    Ok(out)
}
