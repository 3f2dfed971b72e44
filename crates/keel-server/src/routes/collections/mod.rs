//! PocketBase's collections API (`/api/collections`): superusers, and holders of
//! `collections:read` / `collections:manage` for every collection but the system ones.

use keel_data::{Collection, SchemaActor};
use serde_json::Value;

use crate::request::Caller;
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

mod filter;
mod list;
mod remove;
mod scaffolds;
mod view;
mod write;

/// The collections routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list::list, write::create))
        .routes(routes!(scaffolds::scaffolds))
        .routes(routes!(view::view, write::update, remove::delete))
        .routes(routes!(remove::truncate))
}

/// Who changes the schema, for the store's system-collection check.
fn schema_actor(caller: &Caller) -> SchemaActor {
    if caller.is_superuser() {
        SchemaActor::Superuser
    } else {
        SchemaActor::Manager
    }
}

/// A collection as `caller` may see it: superusers get its public JSON (no token secrets);
/// everyone else also gets every other secret (OAuth2 client secrets) masked.
fn shown(caller: &Caller, c: &Collection) -> Value {
    if caller.is_superuser() {
        c.public_json()
    } else {
        crate::redact::collection_json(c)
    }
}

/// 400 when a caller (superusers included) sends back a masked secret as if it were the
/// secret.
fn refuse_masked(input: &serde_json::Map<String, Value>) -> crate::error::ApiResult<()> {
    match crate::redact::masked_path(&Value::Object(input.clone())) {
        None => Ok(()),
        Some(path) => Err(crate::error::ApiError(keel_core::Error::field(
            path,
            "validation_masked_secret",
            "This is the masked value shown instead of the secret: send the secret itself, or leave it out.",
        ))),
    }
}
