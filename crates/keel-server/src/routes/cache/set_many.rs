//! `POST /api/cache/{namespace}/set-many` with
//! `{"entries": [{"key": "a", "value": <json>, "ttl": 60, "tags": ["t"]}]}`: stores each entry
//! as `PUT` would (`ttl` and `tags` optional). 204. At most `MAX_BATCH` entries; the whole
//! batch is checked before anything is written, but it is not a transaction in the
//! provider. (Reached through `post_action`.)

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use keel_core::cache::CacheEntry;
use serde::Deserialize;
use serde_json::Value;

use super::put::{check_tags, ttl_from_secs};
use super::{check_batch, check_name, check_namespace};
use crate::body::{from_object, read_object, Limit};
use crate::error::{ApiError, ApiResult};
use crate::request::Caller;
use crate::state::AppState;
use keel_app::authz::{authorize, Permission};

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
    authorize(&caller, Permission::CacheWrite)?;
    check_namespace(&namespace)?;
    let body: SetManyBody = read_object(&state, headers, body, Limit::Document).await?;
    check_batch("entries", body.entries.len())?;
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
        check_name(&format!("entries.{i}.key"), &e.key)?;
        let ttl = match e.ttl {
            Some(secs) => Some(ttl_from_secs(&format!("entries.{i}.ttl"), secs)?),
            None => None,
        };
        let tags = check_tags(&format!("entries.{i}.tags"), e.tags)?;
        entries.push(CacheEntry {
            key: e.key,
            value: e.value,
            ttl,
            tags,
        });
    }
    state.cache.set_many(&namespace, entries).await?;
    Ok(StatusCode::NO_CONTENT)
}
