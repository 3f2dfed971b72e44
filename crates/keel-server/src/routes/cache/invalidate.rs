//! `POST /api/cache/{namespace}/invalidate` with `{"tags": ["a", "b"]}`: deletes every key
//! carrying any of the tags; answers `{"invalidated": N}`. (Reached through `post_action`.)

use axum::body::Body;
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::body::{read_object, Limit};
use crate::error::ApiResult;
use crate::request::Caller;
use crate::state::AppState;
use keel_app::cache::{self, Op};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InvalidateBody {
    tags: Vec<String>,
}

pub(super) async fn invalidate(
    state: AppState,
    caller: Caller,
    namespace: String,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    cache::guard(&caller, Op::Write, &namespace, None)?;
    let body: InvalidateBody = read_object(&state, headers, body, Limit::Small).await?;
    let n = cache::invalidate(&state, &caller, &namespace, &body.tags).await?;
    Ok(Json(json!({"invalidated": n})))
}
