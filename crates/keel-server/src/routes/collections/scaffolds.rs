//! `GET /api/collections/meta/scaffolds`: blank collections of each type, as the console and
//! SDK use them to start a new collection.

use axum::extract::State;
use axum::Json;
use keel_data::schema::{AuthOptions, CollectionType};
use keel_data::Collection;
use serde_json::{Map, Value};

use crate::error::ApiResult;
use crate::request::Caller;
use crate::state::AppState;

/// The scaffolds of `base` and `auth` collections.
pub async fn scaffolds(State(_state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.require_superuser()?;
    let mut out = Map::new();
    for kind in [CollectionType::Base, CollectionType::Auth] {
        let mut fields = Collection::system_fields(kind);
        fields.extend(Collection::timestamp_fields());
        let auth = kind == CollectionType::Auth;
        let c = Collection {
            id: String::new(),
            name: String::new(),
            kind,
            system: false,
            fields,
            indexes: vec![],
            list_rule: None,
            view_rule: None,
            create_rule: None,
            update_rule: None,
            delete_rule: None,
            auth: auth.then(AuthOptions::default),
            created: String::new(),
            updated: String::new(),
        };
        out.insert(if auth { "auth" } else { "base" }.into(), c.public_json());
    }
    Ok(Json(Value::Object(out)))
}
