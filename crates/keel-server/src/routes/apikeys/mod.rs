//! API keys for service accounts (`/api/apikeys`), all under `apikeys:manage`:
//!
//! - `GET /api/apikeys` → `{"items": [key…]}`; `GET /api/apikeys/{id}` → the key;
//! - `POST /api/apikeys` `{name, roles, expires?}` → the key with `"key"`: its secret, shown
//!   this once;
//! - `POST /api/apikeys/{id}/rotate` → the key with its new secret (the old one stops working);
//! - `POST /api/apikeys/{id}/revoke` → the revoked key; `DELETE /api/apikeys/{id}` revokes too
//!   (204).
//!
//! A key never shows its hash. Who may act on which key (anti-escalation) and the audit
//! entries are [`keel_app::apikeys`]'s.

use keel_auth::identity::ApiKey;
use serde_json::Value;

use crate::error::ApiResult;
use crate::routes::jobs::to_json;
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

mod actions;
mod crud;

/// The API key routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(crud::list, crud::create))
        .routes(routes!(crud::view, actions::delete))
        .routes(routes!(actions::revoke))
        .routes(routes!(actions::rotate))
}

/// A key's JSON with its secret added as `"key"`.
fn with_secret(key: &ApiKey, secret: String) -> ApiResult<Value> {
    let mut out = to_json(key)?;
    if let Value::Object(m) = &mut out {
        m.insert("key".into(), Value::String(secret));
    }
    Ok(out)
}
