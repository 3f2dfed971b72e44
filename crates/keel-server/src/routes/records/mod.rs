//! PocketBase's records API: `/api/collections/{collection}/records[/{id}]`, one file per
//! endpoint, plus the body parsing they share with `/api/batch`; the writes are
//! `keel_app::records`'.

use std::sync::Arc;

use keel_data::{Collection, Record, RequestInfo};
use serde_json::Value;

use crate::error::ApiResult;
use crate::state::AppState;
use keel_app::serialize::{pick_fields, record_json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

mod create;
mod delete;
pub mod input;
mod list;
pub mod params;
mod update;
mod view;

/// The records routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list::list, create::create))
        .routes(routes!(view::view, update::update, delete::delete))
}

/// A collection by id or name; 404 when absent.
pub fn load_collection(state: &AppState, id_or_name: &str) -> ApiResult<Arc<Collection>> {
    Ok(keel_app::records::collection(state, id_or_name)?)
}

/// A written record as the response shows it: expanded when asked (an expand failure after a
/// committed write is logged, not returned), serialized for `req`, with `fields` applied.
pub async fn written_record_json(state: &AppState, record: Record, q: &params::Query, req: &RequestInfo) -> Value {
    let mut records = [record];
    if let Some(expand) = q.expand() {
        if let Err(e) = keel_app::records::expand(state, &mut records, expand, req).await {
            tracing::warn!(error = %e, "expand after a write failed");
        }
    }
    let mut json = record_json(&records[0], req);
    pick_fields(&mut json, q.fields());
    json
}
