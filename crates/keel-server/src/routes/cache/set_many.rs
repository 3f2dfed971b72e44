//! `POST /api/cache/{namespace}/set-many` with
//! `{"entries": [{"key": "a", "value": <json>, "ttl": 60, "tags": ["t"]}]}`: stores each entry
//! as `PUT` would (`ttl` and `tags` optional). 204. At most `MAX_BATCH` entries; the whole
//! batch is checked before anything is written, but it is not a transaction in the
//! provider. (Reached through `post_action`.)

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::Value;

use crate::body::{from_object, read_object, Limit};
use crate::error::{ApiError, ApiResult};
use crate::request::Caller;
use crate::state::AppState;
use keel_app::cache::{self, Op};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetManyBody {
    /// Parsed one by one below, so an error names `entries.N.field`.
    entries: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryBody {
    key: String,
    value: Value,
    #[serde(default)]
    ttl: Option<f64>,
    #[serde(default)]
    tags: Vec<String>,
}

pub(super) async fn set_many(
    state: AppState,
    caller: Caller,
    namespace: String,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult<StatusCode> {
    cache::guard(&caller, Op::Write, &namespace, None)?;
    let body: SetManyBody = read_object(&state, headers, body, Limit::Document).await?;
    cache::check_batch("entries", body.entries.len())?;
    let mut entries = Vec::with_capacity(body.entries.len());
    for (i, raw) in body.entries.into_iter().enumerate() {
        if !raw.is_object() {
            return Err(ApiError::field(
                &format!("entries.{i}"),
                "validation_invalid_value",
                "Each entry must be an object {\"key\", \"value\", \"ttl\"?, \"tags\"?}.",
            ));
        }
        let e: EntryBody = from_object(raw, &format!("entries.{i}."))?;
        entries.push(cache::entry(&format!("entries.{i}."), e.key, e.value, e.ttl, e.tags)?);
    }
    cache::set_many(&state, &caller, &namespace, entries).await?;
    Ok(StatusCode::NO_CONTENT)
}
