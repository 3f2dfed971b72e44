//! API keys for service accounts (`/api/apikeys`), all under `apikeys:manage`:
//!
//! - `GET /api/apikeys` → `{"items": [key…]}`; `GET /api/apikeys/{id}` → the key;
//! - `POST /api/apikeys` `{name, roles, expires?}` → the key with `"key"`: its secret, shown
//!   this once;
//! - `POST /api/apikeys/{id}/rotate` → the key with its new secret (the old one stops working);
//! - `POST /api/apikeys/{id}/revoke` → the revoked key; `DELETE /api/apikeys/{id}` revokes too
//!   (204).
//!
//! A key never shows its hash. Anti-escalation: a caller who is not a superuser may only
//! give a key (on create) or take a key's secret (on rotate) whose roles' permissions they
//! all hold. Audit entries `apikey.create|revoke|rotate`.

use keel_auth::identity::ApiKey;
use keel_core::Error;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::request::Caller;
use crate::routes::jobs::to_json;
use crate::state::AppState;
use keel_app::authz::may_grant;
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

/// The key `id`, or a 404 saying so.
async fn key_or_404(state: &AppState, id: &str) -> ApiResult<ApiKey> {
    state
        .identity
        .api_key(id)
        .await?
        .ok_or_else(|| ApiError(Error::NotFound(format!("No API key with the id {id:?}."))))
}

/// 403 unless `caller` holds every permission of every role in `roles`; a 400 naming
/// `roles` for a role that does not exist when `strict` (on create; a role deleted since a
/// key was made grants nothing, so it is skipped on rotate).
async fn may_grant_roles(state: &AppState, caller: &Caller, roles: &[String], strict: bool) -> ApiResult<()> {
    for name in roles {
        match state.identity.role(name).await? {
            Some(role) => may_grant(caller, &format!("the role {name:?}"), &role.permissions)?,
            None if strict => {
                return Err(ApiError::field(
                    "roles",
                    "validation_unknown_role",
                    format!("No role named {name:?}."),
                ))
            }
            None => {}
        }
    }
    Ok(())
}

/// A key's JSON with its secret added as `"key"`.
fn with_secret(key: &ApiKey, secret: String) -> ApiResult<Value> {
    let mut out = to_json(key)?;
    if let Value::Object(m) = &mut out {
        m.insert("key".into(), Value::String(secret));
    }
    Ok(out)
}
