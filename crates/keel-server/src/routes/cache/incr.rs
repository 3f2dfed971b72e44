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
use keel_core::error::{FieldError, FieldErrors};
use keel_core::Error;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{check_name, check_namespace};
use crate::body::{read_object, Limit};
use crate::error::{ApiError, ApiResult};
use crate::request::Caller;
use crate::state::AppState;
use keel_app::authz::{authorize, Permission};

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
    authorize(&caller, Permission::CacheWrite)?;
    check_namespace(&namespace)?;
    check_name("key", &key)?;
    let IncrBody { by, ttl } = read_object(&state, &headers, body, Limit::Small).await?;
    let ttl = ttl.map(|secs| super::put::ttl_from_secs("ttl", secs)).transpose()?;
    match state.cache.incr(&namespace, &key, by, ttl).await {
        Ok(value) => Ok(Json(json!({"value": value}))),
        // Every provider refuses a non-integer value or an overflow with a bad request.
        Err(Error::BadRequest { message, .. }) => {
            // Redis cannot tell the two apart ("not an integer (or the increment overflows)").
            let (code, hint) = if message.contains("not an integer") {
                (
                    "validation_not_integer",
                    "Increment only a key holding an integer: PUT an integer there or DELETE it \
                     first (a missing key starts at 0).",
                )
            } else {
                (
                    "validation_overflow",
                    "The result must fit in a signed 64-bit integer; use a smaller `by`.",
                )
            };
            let message = format!("Cannot increment {key:?} by {by}: {message}. {hint}");
            let mut fields = FieldErrors::new();
            fields.insert("key".into(), FieldError::new(code, message.clone()));
            Err(ApiError(Error::BadRequest { message, fields }))
        }
        Err(e) => Err(ApiError(e)),
    }
}
