//! `POST /api/batch`: several record writes in one transaction (`keel_app::batch`). The body
//! is JSON `{"requests": [{"method", "url", "body"}]}` or, as the JS SDK sends it, multipart
//! with that JSON in `@jsonPayload` and files keyed `requests.N.field`.

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use keel_app::batch::{self, Failure};
use serde_json::{json, Map, Value};

use crate::body::Limit;
use crate::error::{ApiError, ApiResult};
use crate::request::{request_info, Caller};
use crate::routes::records::input::read_submitted;
use crate::routes::records::params::Query;
use crate::routes::records::written_record_json;
use crate::state::AppState;
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
    batch::ensure_enabled(&state)?;
    let (parts, body) = request.into_parts();
    let submitted = read_submitted(&state, &parts.headers, body, None, Limit::Upload).await?;
    let mut base = request_info(&caller, &parts.method, &parts.uri, parts.headers, Map::new());
    base.context = "batch".into();
    let done = match batch::run(&state, &base, submitted).await {
        Ok(done) => done,
        Err(Failure::Whole(e)) => return Err(e.into()),
        Err(Failure::Request { index, error }) => return Ok(ApiError::batch_failed(index, error)),
    };
    let mut out = Vec::with_capacity(done.len());
    for d in done {
        match d.record {
            None => out.push(json!({"status": 204, "body": null})),
            Some(record) => {
                let q = Query::from_query_str(&d.query);
                let body = written_record_json(&state, record, &q, &d.req).await;
                out.push(json!({"status": 200, "body": body}));
            }
        }
    }
    Ok(Json(Value::Array(out)).into_response())
}
