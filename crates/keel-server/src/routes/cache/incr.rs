//! `POST /api/cache/{namespace}/{key}/incr` with an optional `{"by": N, "ttl": SECONDS}` (`by`
//! defaults to 1 and may be negative; an empty body is allowed): atomically adds `by` to the
//! integer under `key` (a missing key starts at 0, the entry keeps its TTL and tags) and
//! answers `{"value": N}`. `ttl` applies only when this call creates the key, so a counter
//! per time window is one call.
//! A value that is not an integer, or an overflow, is a 400 naming `key`.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::body::{read_object, Limit};
use crate::error::ApiResult;
use crate::request::Caller;
use crate::state::AppState;
use keel_app::cache::{self, Op};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct IncrBody {
    #[serde(default = "one")]
    by: i64,
    ttl: Option<f64>,
}

fn one() -> i64 {
    1
}

#[utoipa::path(
    post, path = "/api/cache/{namespace}/{key}/incr", operation_id = "cacheIncr", tag = "cache",
    security(("authToken" = []), ("apiKey" = [])), request_body = IncrBody, responses((status = 200, description = "`{value}`", body = crate::openapi::schemas::Object))
)]
pub(super) async fn incr(
    State(state): State<AppState>,
    caller: Caller,
    Path((namespace, key)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    cache::guard(&caller, Op::Write, &namespace, Some(&key))?;
    let IncrBody { by, ttl } = read_object(&state, &headers, body, Limit::Small).await?;
    let ttl = ttl.map(|secs| cache::ttl_from_secs("ttl", secs)).transpose()?;
    let value = cache::incr(&state, &caller, &namespace, &key, by, ttl).await?;
    Ok(Json(json!({"value": value})))
}
