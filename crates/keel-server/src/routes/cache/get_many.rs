//! `POST /api/cache/{namespace}/get-many` with `{"keys": ["a", "b"]}`: answers
//! `{"values": {"a": <value>, "b": null}}`, `null` for a missing or expired key, in the
//! order asked. At most `MAX_BATCH` keys. (Reached through `post_action`.)

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
struct GetManyBody {
    keys: Vec<String>,
}

pub(super) async fn get_many(
    state: AppState,
    caller: Caller,
    namespace: String,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    cache::guard(&caller, Op::Read, &namespace, None)?;
    let body: GetManyBody = read_object(&state, headers, body, Limit::Document).await?;
    let values = cache::get_many(&state, &caller, &namespace, body.keys).await?;
    Ok(Json(json!({"values": values})))
}
