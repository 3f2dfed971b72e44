//! `PUT /api/collections/import`: PocketBase's import of a set of collections, with
//! `deleteMissing` (`keel_app::collections::import` holds the merge, the order and the undo).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use keel_app::collections;
use keel_core::Error;
use serde_json::{Map, Value};

use crate::body::{read_object, Limit};
use crate::error::ApiResult;
use crate::request::{Caller, ClientOrigin};
use crate::state::AppState;

/// Imports collections: each matched by id, else name, is updated; the others are created;
/// with `deleteMissing`, collections and fields left out are deleted.
#[utoipa::path(
    put, path = "/api/collections/import", operation_id = "importCollections", tag = "collections",
    security(("authToken" = []), ("apiKey" = [])),
    request_body(content = Object, description = "`{\"collections\": [<collection>...], \"deleteMissing\": false}`"),
    responses((status = 204, description = "Imported"), (status = 400, description = "`data.collections` says which collection was refused and why"))
)]
pub async fn import(
    State(state): State<AppState>,
    caller: Caller,
    ClientOrigin(origin): ClientOrigin,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<StatusCode> {
    keel_app::authz::authorize(&caller, keel_app::authz::Permission::CollectionsManage)?;
    let mut input: Map<String, Value> = read_object(&state, &headers, body, Limit::Document).await?;
    let list = match input.remove("collections") {
        Some(Value::Array(list)) => list,
        None | Some(Value::Null) => Vec::new(),
        Some(_) => {
            return Err(Error::field(
                "collections",
                "validation_invalid_value",
                "Must be a list of collections.",
            )
            .into())
        }
    };
    let delete_missing = match input.get("deleteMissing") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(Error::field("deleteMissing", "validation_invalid_value", "Must be true or false.").into())
        }
    };
    collections::import(&state, &caller, &origin, list, delete_missing).await?;
    Ok(StatusCode::NO_CONTENT)
}
