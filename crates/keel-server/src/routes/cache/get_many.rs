//! `POST /api/cache/{namespace}/get-many` with `{"keys": ["a", "b"]}`: answers
//! `{"values": {"a": <value>, "b": null}}`, `null` for a missing or expired key, in the
//! order asked. At most `MAX_BATCH` keys. (Reached through `post_action`.)

use axum::body::Body;
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{check_batch, check_name, check_namespace};
use crate::body::{read_object, Limit};
use crate::error::ApiResult;
use crate::request::Caller;
use crate::state::AppState;
use keel_app::authz::{authorize, Permission};

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
    authorize(&caller, Permission::CacheRead)?;
    check_namespace(&namespace)?;
    let body: GetManyBody = read_object(&state, headers, body, Limit::Document).await?;
    check_batch("keys", body.keys.len())?;
    for (i, key) in body.keys.iter().enumerate() {
        check_name(&format!("keys.{i}"), key)?;
    }
    let found = state.cache.get_many(&namespace, &body.keys).await?;
    let values: Map<String, Value> = body
        .keys
        .into_iter()
        .zip(found)
        .map(|(key, value)| (key, value.unwrap_or(Value::Null)))
        .collect();
    Ok(Json(json!({"values": values})))
}
