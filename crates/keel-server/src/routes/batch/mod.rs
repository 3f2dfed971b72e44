//! `POST /api/batch`: several record writes in one transaction, PocketBase's shape. The body
//! is JSON `{"requests": [{"method", "url", "body"}]}` or, as the JS SDK sends it, multipart
//! with that JSON in `@jsonPayload` and files keyed `requests.N.field`.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use keel_core::Error;
use serde_json::{json, Map, Value};

use crate::body::Limit;
use crate::error::{ApiError, ApiResult};
use crate::request::{request_info, Caller};
use crate::routes::records::input::{read_submitted, Upload};
use crate::routes::records::uploads::{cleanup_after_update, cleanup_deleted, delete_pending, write_all};
use crate::routes::records::written_record_json;
use crate::state::AppState;

mod prepare;
mod target;

use prepare::{PreparedOp, RawRequest};
use target::Action;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The batch route.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(batch))
}

/// Runs a batch: all writes commit or none do.
#[utoipa::path(
    post, path = "/api/batch", operation_id = "batch", tag = "batch",
    request_body(content((crate::openapi::schemas::BatchInput = "application/json"), (crate::openapi::schemas::BatchInput = "multipart/form-data"))), responses((status = 200, description = "One result per request, in order", body = Vec<crate::openapi::schemas::BatchResult>))
)]
async fn batch(State(state): State<AppState>, caller: Caller, request: Request) -> ApiResult<Response> {
    let settings = state.settings.get();
    if !settings.batch.enabled {
        return Err(ApiError::forbidden("Batch requests are not allowed."));
    }
    let (parts, body) = request.into_parts();
    let submitted = read_submitted(&state, &parts.headers, body, None, Limit::Upload).await?;
    let raws = split_requests(submitted.data, submitted.uploads, settings.batch.max_requests as usize)?;

    let mut prepared: Vec<PreparedOp> = Vec::with_capacity(raws.len());
    for (i, raw) in raws.into_iter().enumerate() {
        match prepare::prepare(&state, &caller, &parts.headers, raw).await {
            Ok(p) => prepared.push(p),
            Err(e) => return Ok(failed(i, e).await),
        }
    }
    for (i, p) in prepared.iter().enumerate() {
        if let Err(e) = write_all(state.files.as_ref(), &p.pending).await {
            for done in &prepared[..i] {
                delete_pending(state.files.as_ref(), &done.pending).await;
            }
            return Err(e.into());
        }
    }
    let mut req = request_info(&caller, &parts.method, &parts.uri, &parts.headers, Map::new());
    req.context = "batch".into();
    let ops = prepared.iter().map(|p| p.op.clone()).collect();
    let results = match state.store.batch(ops, &req).await {
        Ok(r) => r,
        Err((i, e)) => {
            for p in &prepared {
                delete_pending(state.files.as_ref(), &p.pending).await;
            }
            return Ok(failed(i, e).await);
        }
    };
    let mut out = Vec::with_capacity(prepared.len());
    for (p, records) in prepared.into_iter().zip(results) {
        match p.kind {
            Action::Delete => {
                cleanup_deleted(state.files.as_ref(), &records).await;
                out.push(json!({"status": 204, "body": null}));
            }
            _ => {
                let Some(record) = records.into_iter().next() else {
                    out.push(json!({"status": 204, "body": null}));
                    continue;
                };
                if let Some(before) = &p.before {
                    cleanup_after_update(state.files.as_ref(), before, &record, &p.pending).await;
                }
                let body = written_record_json(&state, record, &p.query, &p.req).await;
                out.push(json!({"status": 200, "body": body}));
            }
        }
    }
    Ok(Json(Value::Array(out)).into_response())
}

/// Splits the body into its requests, giving each its files (`requests.N.field` → `field`).
fn split_requests(mut data: Map<String, Value>, uploads: Vec<Upload>, max: usize) -> ApiResult<Vec<RawRequest>> {
    let Some(Value::Array(list)) = data.remove("requests") else {
        return Err(ApiError::field(
            "requests",
            "validation_required",
            "Missing required value.",
        ));
    };
    if list.len() > max {
        return Err(ApiError::field(
            "requests",
            "validation_length_too_long",
            format!("The batch may hold at most {max} requests."),
        ));
    }
    let mut raws = Vec::with_capacity(list.len());
    for (i, item) in list.into_iter().enumerate() {
        let Value::Object(mut item) = item else {
            return Err(ApiError::field(
                "requests",
                "validation_invalid_value",
                format!("Request {i} must be an object."),
            ));
        };
        let text = |v: Option<Value>| v.and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
        let method = text(item.remove("method"));
        let url = text(item.remove("url"));
        let body = match item.remove("body") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m,
            Some(_) => {
                return Err(ApiError::field(
                    "requests",
                    "validation_invalid_value",
                    format!("The body of request {i} must be an object."),
                ))
            }
        };
        raws.push(RawRequest {
            method,
            url,
            body,
            uploads: Vec::new(),
        });
    }
    for mut up in uploads {
        let Some(rest) = up.key.strip_prefix("requests.") else {
            continue;
        };
        let Some((idx, field)) = rest.split_once('.') else {
            continue;
        };
        if let Some(raw) = idx.parse::<usize>().ok().and_then(|i| raws.get_mut(i)) {
            up.key = field.to_string();
            raw.uploads.push(up);
        }
    }
    Ok(raws)
}

/// PocketBase's failed-batch answer: a 400 naming the failing request and its own error.
async fn failed(index: usize, e: Error) -> Response {
    let response = error_json(e).await;
    let body = json!({
        "status": 400,
        "message": "Batch transaction failed.",
        "data": {"requests": {index.to_string(): {
            "code": "batch_request_failed",
            "message": "Batch request failed.",
            "response": response,
        }}},
    });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// The JSON an error answers with (through `ApiError`, so internals are logged, not sent).
async fn error_json(e: Error) -> Value {
    let resp = ApiError(e).into_response();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}
