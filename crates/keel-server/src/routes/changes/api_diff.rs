//! `POST /api/changes/api-diff`: the semver verdict between two OpenAPI 3.x documents.

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{Map, Value};

use crate::body::{read_object, Limit};
use crate::error::ApiResult;
use crate::request::Caller;
use crate::state::AppState;
use keel_app::changes::{self, Report};

/// The two documents to compare.
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
pub(super) struct ApiDiffInput {
    /// The OpenAPI 3.x document before the change.
    old: crate::openapi::schemas::Object,
    /// The OpenAPI 3.x document after the change.
    new: crate::openapi::schemas::Object,
}

#[utoipa::path(
    post, path = "/api/changes/api-diff", operation_id = "diffApi", tag = "changes",
    security(("authToken" = []), ("apiKey" = [])), request_body = ApiDiffInput,
    responses((status = 200, description = "`{verdict: major|minor|patch|none, breaking, findings: [{code, level, message, subject}]}`", body = crate::openapi::schemas::Object))
)]
pub(super) async fn api_diff(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Report>> {
    changes::may_read(&caller)?;
    let input: Map<String, Value> = read_object(&state, &headers, body, Limit::Document).await?;
    // The comparison is CPU-bound (bounded by the body limit and the schema budget).
    let report = tokio::task::spawn_blocking(move || changes::diff_documents(&caller, &input))
        .await
        .map_err(keel_core::Error::internal)??;
    Ok(Json(report))
}
