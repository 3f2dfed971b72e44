//! `POST /api/install`: the first superuser, with the one-time token of the link `serve`
//! prints while none exists (`/_/#/install/TOKEN`, the console's install page). 403 once the
//! token was used, after a restart (a new link is printed), or when a superuser exists.

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::body::{read_object, Limit};
use crate::error::ApiResult;
use crate::request::ClientOrigin;
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// `POST /api/install`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(install))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Install {
    /// The token of the install link.
    token: String,
    email: String,
    password: String,
    password_confirm: String,
}

#[utoipa::path(
    post, path = "/api/install", operation_id = "install", tag = "install",
    request_body = Install,
    responses((status = 200, description = "`{email}`: the superuser is made; sign in with it", body = crate::openapi::schemas::Object),
              (status = 403, description = "The link was used, Keel restarted since, or a superuser exists", body = crate::openapi::schemas::ErrorBody))
)]
async fn install(
    State(state): State<AppState>,
    ClientOrigin(origin): ClientOrigin,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let input: Install = read_object(&state, &headers, body, Limit::Small).await?;
    let email = keel_app::install::install(
        &state,
        &origin,
        &input.token,
        &input.email,
        &input.password,
        &input.password_confirm,
    )
    .await?;
    Ok(Json(json!({ "email": email })))
}
