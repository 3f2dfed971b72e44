//! `POST /api/collections/{c}/request-email-change` `{newEmail}` with the record's own auth
//! token → 204: the collection's `confirmEmailChangeTemplate` is sent to the NEW address
//! with an email-change token (`{TOKEN}`, claims `email` and `newEmail`). A blank, malformed
//! or taken `newEmail` is a 400 naming it. The email is sent before answering, so a failing
//! mail server is reported to the caller.
//! The rules are `keel_app::auth::email_change::request`'s.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Map, Value};

use crate::body::JsonBody;
use crate::error::ApiResult;
use crate::request::{Caller, ClientOrigin};
use crate::state::AppState;

#[utoipa::path(
    post, path = "/api/collections/{collection}/request-email-change", operation_id = "requestEmailChange", tag = "auth",
    security(("authToken" = [])), request_body = crate::openapi::auth::NewEmailInput, responses((status = 204, description = "Sent to the new address"))
)]
pub(super) async fn handler(
    State(state): State<AppState>,
    ClientOrigin(origin): ClientOrigin,
    Path(collection): Path<String>,
    caller: Caller,
    JsonBody(form): JsonBody<Map<String, Value>>,
) -> ApiResult<StatusCode> {
    keel_app::auth::email_change::request(&state, &caller, &collection, &form, &origin).await?;
    Ok(StatusCode::NO_CONTENT)
}
