//! `GET /api/changes/stats` (counts by verdict, kind, author, collection and ISO week) and
//! `GET /api/changes/export?format=markdown|json[&collection=…]` (the changelog), over
//! keel_app::changes::history.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use crate::error::ApiResult;
use crate::request::Caller;
use crate::state::AppState;
use keel_app::changes::history::{self, export::Format};

#[utoipa::path(
    get, path = "/api/changes/stats", operation_id = "changeStats", tag = "changes",
    security(("authToken" = []), ("apiKey" = [])),
    responses((status = 200, description = "`{total, byVerdict, byKind, byAuthor, byCollection, byWeek}`, each an object of counts", body = crate::openapi::schemas::Object))
)]
pub(super) async fn stats(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    Ok(Json(history::stats::stats(&state, &caller).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(super) struct ExportQuery {
    /// `markdown` (the default) or `json`.
    format: Option<String>,
    /// Only this collection's changelog (its id, or a name it has or had).
    collection: Option<String>,
}

#[utoipa::path(
    get, path = "/api/changes/export", operation_id = "exportChanges", tag = "changes",
    security(("authToken" = []), ("apiKey" = [])), params(ExportQuery),
    responses((status = 200, description = "The changelog as Markdown or JSON", body = String))
)]
pub(super) async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ExportQuery>,
) -> ApiResult<Response> {
    history::may_read(&caller)?;
    let format = Format::parse(q.format.as_deref())?;
    let text = history::export::export(&state, &caller, format, q.collection.as_deref()).await?;
    Ok(([(header::CONTENT_TYPE, format.content_type())], text).into_response())
}
