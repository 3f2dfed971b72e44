//! Comments on a change: `POST /api/changes/{id}/comments` (`{"text", "replyTo"?}`) and
//! `GET /api/changes/{id}/comments` (`changes:read`), over keel_app::changes::review::comments.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Map, Value};

use crate::body::{read_object, Limit};
use crate::error::ApiResult;
use crate::request::{Caller, ClientOrigin};
use crate::state::AppState;
use keel_app::changes::{history, review::comments};

/// A comment: its text (`@email` or `@username` mentions notify those users) and the comment
/// it answers.
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
pub(super) struct CommentInput {
    text: String,
    #[schema(rename = "replyTo")]
    reply_to: Option<String>,
}

#[utoipa::path(
    post, path = "/api/changes/{id}/comments", operation_id = "commentChange", tag = "changes",
    security(("authToken" = []), ("apiKey" = [])), request_body = CommentInput,
    responses((status = 200, description = "The comment: `{id, author, text, replyTo, mentions, created}`", body = crate::openapi::schemas::Object))
)]
pub(super) async fn add(
    State(state): State<AppState>,
    caller: Caller,
    ClientOrigin(origin): ClientOrigin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    history::may_read(&caller)?;
    let input: Map<String, Value> = read_object(&state, &headers, body, Limit::Small).await?;
    Ok(Json(comments::add(&state, &caller, &origin, &id, &input).await?))
}

#[utoipa::path(
    get, path = "/api/changes/{id}/comments", operation_id = "listChangeComments", tag = "changes",
    security(("authToken" = []), ("apiKey" = [])),
    responses((status = 200, description = "`{items: [comment…]}`, oldest first", body = crate::openapi::schemas::Object))
)]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let items = comments::list(&state, &caller, &id).await?;
    Ok(Json(json!({ "items": items })))
}
