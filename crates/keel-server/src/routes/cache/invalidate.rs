//! `POST /api/cache/{namespace}/invalidate` with `{"tags": ["a", "b"]}`: deletes every key
//! carrying any of the tags; answers `{"invalidated": N}`. (It shares the `{key}` route, so
//! a POST to any other key is a 404.)

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::check_name;
use crate::authz::{authorize, Permission};
use crate::error::{ApiError, ApiResult};
use crate::request::Caller;
use crate::state::AppState;

#[derive(Deserialize)]
struct InvalidateBody {
    tags: Vec<String>,
}

pub(super) async fn invalidate(
    State(state): State<AppState>,
    caller: Caller,
    Path((namespace, action)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    if action != "invalidate" {
        return Err(ApiError::not_found());
    }
    authorize(&caller, Permission::CacheWrite)?;
    check_name("namespace", &namespace)?;
    let body: InvalidateBody = serde_json::from_slice(&body).map_err(|_| {
        ApiError::field(
            "tags",
            "validation_required",
            "The body must be {\"tags\": [\"tag\", ...]}.",
        )
    })?;
    for tag in &body.tags {
        check_name("tags", tag)?;
    }
    let n = state.cache.invalidate_tags(&namespace, &body.tags).await?;
    Ok(Json(json!({"invalidated": n})))
}
