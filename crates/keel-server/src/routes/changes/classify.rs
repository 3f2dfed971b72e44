//! `POST /api/changes/classify`: what a collection change would break, without applying it.

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{Map, Value};

use crate::body::{read_object, Limit};
use crate::error::ApiResult;
use crate::request::Caller;
use crate::state::AppState;
use keel_app::changes::{self, Classification};

/// The change to classify: a target collection, or a collection to delete.
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
pub(super) struct ClassifyInput {
    /// The target collection in PocketBase's JSON (matched by `id`, else `name`; merged into
    /// the current one as an update would be).
    collection: Option<crate::openapi::schemas::Object>,
    /// The id or name of a collection whose deletion to classify (instead of `collection`).
    delete: Option<String>,
}

#[utoipa::path(
    post, path = "/api/changes/classify", operation_id = "classifyChange", tag = "changes",
    security(("authToken" = []), ("apiKey" = [])), request_body = ClassifyInput,
    responses((status = 200, description = "`{verdict: major|minor|patch|none, breaking, findings: [{code, level, message, subject?, affectedRows?}], apiVerdict, apiFindings, impact: {items, notes}}` (the impact without callers: they are read from the request logs once a proposal is recorded, by `GET /api/changes/{id}/impact`)", body = crate::openapi::schemas::Object))
)]
pub(super) async fn classify(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Classification>> {
    changes::may_read(&caller)?;
    let input: Map<String, Value> = read_object(&state, &headers, body, Limit::Document).await?;
    Ok(Json(changes::classify_proposal(&state, &caller, input).await?))
}
