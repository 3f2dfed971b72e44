//! `GET /api/collections/meta/scaffolds`: blank collections of each type, as the console and
//! SDK use them to start a new collection.

use axum::extract::State;
use axum::Json;
use keel_data::schema::CollectionType;
use keel_data::Collection;
use serde_json::{Map, Value};

use crate::error::ApiResult;
use crate::request::Caller;
use crate::state::AppState;
use keel_app::authz::{authorize, Permission};

/// The scaffolds of `base`, `auth` and `view` collections.
#[utoipa::path(
    get, path = "/api/collections/meta/scaffolds", operation_id = "collectionScaffolds", tag = "collections",
    security(("authToken" = []), ("apiKey" = [])), responses((status = 200, description = "A blank collection of each type, by type", body = crate::openapi::schemas::Object))
)]
pub async fn scaffolds(State(_state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    authorize(&caller, Permission::CollectionsRead)?;
    let mut out = Map::new();
    for (kind, name) in [
        (CollectionType::Base, "base"),
        (CollectionType::Auth, "auth"),
        (CollectionType::View, "view"),
    ] {
        let mut c = Collection::blank("", kind);
        c.created.clear();
        c.updated.clear();
        out.insert(name.into(), c.public_json());
    }
    Ok(Json(Value::Object(out)))
}
