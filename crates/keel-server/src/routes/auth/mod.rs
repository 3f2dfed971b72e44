//! Auth routes of auth collections, PocketBase's Web API: one endpoint per file.
//! The email flows (verification, password reset, email change, OTP) share `mail.rs` and `flow.rs`; see
//! `docs/auth-email.md`. Flows not implemented yet stay unrouted (404) rather than
//! pretending to work.

use std::sync::Arc;

use axum::Json;
use keel_auth::token::{self, Claims, TokenKind};
use keel_data::{AuthRecord, Collection, Record, RequestInfo};
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::request::{form_pairs, Caller};
use crate::serialize::{pick_fields, record_json};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

mod avatar;
mod confirm_email_change;
mod confirm_password_reset;
mod confirm_verification;
mod external;
mod flow;
mod impersonate;
mod login;
mod mail;
mod methods;
mod oauth2_flow;
mod oauth2_redirect;
mod refresh;
mod request_email_change;
mod request_otp;
mod request_password_reset;
mod request_verification;
mod revoke;
mod totp;
mod with_ldap;
mod with_oauth2;
mod with_otp;
mod with_password;

/// `auth-with-password`, `auth-refresh`, `auth-methods` under `/api/collections/{c}/`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(with_password::handler))
        .routes(routes!(refresh::handler))
        .routes(routes!(methods::handler))
        .routes(routes!(totp::auth_with_totp))
        .routes(routes!(totp::status))
        .routes(routes!(totp::setup))
        .routes(routes!(totp::confirm))
        .routes(routes!(totp::disable))
        .routes(routes!(impersonate::handler))
        .routes(routes!(revoke::handler))
        .routes(routes!(request_verification::handler))
        .routes(routes!(confirm_verification::handler))
        .routes(routes!(request_password_reset::handler))
        .routes(routes!(confirm_password_reset::handler))
        .routes(routes!(request_email_change::handler))
        .routes(routes!(confirm_email_change::handler))
        .routes(routes!(request_otp::handler))
        .routes(routes!(with_otp::handler))
        .routes(routes!(with_oauth2::handler))
        .routes(routes!(with_ldap::handler))
        .routes(routes!(oauth2_redirect::get_handler, oauth2_redirect::post_handler))
}

/// The auth collection named (or id'd) in the path; 404 like PocketBase otherwise.
pub(crate) fn auth_collection(state: &AppState, name_or_id: &str) -> ApiResult<Arc<Collection>> {
    match state.store.collection(name_or_id) {
        Ok(c) if c.is_auth() && c.auth.is_some() => Ok(c),
        _ => Err(ApiError(keel_core::Error::NotFound(
            "Missing or invalid auth collection context.".into(),
        ))),
    }
}

/// The `expand` and `fields` query parameters.
#[derive(Debug, Default)]
pub(crate) struct ShapeParams {
    pub expand: Option<String>,
    pub fields: Option<String>,
}

impl ShapeParams {
    pub fn from_query(query: Option<&str>) -> Self {
        let mut out = ShapeParams::default();
        for (k, v) in form_pairs(query.unwrap_or("")) {
            match k.as_str() {
                "expand" if !v.trim().is_empty() => out.expand = Some(v),
                "fields" if !v.trim().is_empty() => out.fields = Some(v),
                _ => {}
            }
        }
        out
    }
}

/// PocketBase's auth response `{"token", "record"}` for `record` of `collection`: checks the
/// collection's `authRule` with the record as `@request.auth`, signs a new auth token,
/// expands and picks fields as the query asks. `req` is the request's `@request.*` context;
/// its `auth` is replaced by the authenticated record.
pub(crate) async fn auth_response(
    state: &AppState,
    collection: &Arc<Collection>,
    record: Record,
    mut req: RequestInfo,
    shape: &ShapeParams,
) -> ApiResult<Json<Value>> {
    let opts = collection.auth.as_ref().ok_or_else(ApiError::not_found)?;
    req.auth = Some(AuthRecord {
        collection: collection.clone(),
        record: record.data.clone(),
    });
    check_auth_rule(state, collection, &record, &req).await?;

    let token_key = record.data.get("tokenKey").and_then(Value::as_str).unwrap_or("");
    let claims = Claims::new(TokenKind::Auth, record.id(), &collection.id, opts.auth_token.duration);
    let token = token::sign(&claims, &opts.auth_token.secret, token_key)?;

    let mut records = [record];
    if let Some(expand) = &shape.expand {
        state.store.expand(&mut records, expand, &req).await?;
    }
    let mut body = json!({"token": token, "record": record_json(&records[0], &req)});
    pick_fields(&mut body, shape.fields.as_deref());
    Ok(Json(body))
}

/// `authRule`: `null` lets only superusers in, `""` everyone, otherwise the rule must match.
async fn check_auth_rule(
    state: &AppState,
    collection: &Arc<Collection>,
    record: &Record,
    req: &RequestInfo,
) -> ApiResult<()> {
    let denied = || ApiError::forbidden("The request doesn't satisfy the collection requirements to authenticate.");
    if req.is_superuser() {
        return Ok(());
    }
    match collection.auth.as_ref().and_then(|a| a.auth_rule.as_deref()) {
        None => Err(denied()),
        Some(rule) if rule.trim().is_empty() => Ok(()),
        Some(rule) => match state.store.record_matches(collection, &record.data, rule, req).await? {
            true => Ok(()),
            false => Err(denied()),
        },
    }
}

/// A `Caller`'s record as a `Record` of its collection.
/// The injected `roles` (not a column) are left out.
pub(crate) fn caller_record(auth: &AuthRecord) -> Record {
    let mut data = auth.record.clone();
    if auth.collection.field("roles").is_none() {
        data.remove("roles");
    }
    Record {
        collection: auth.collection.clone(),
        data,
        expand: Default::default(),
    }
}

/// Whether the path's `{collection}` names the caller's collection (by id or name).
pub(crate) fn same_collection(caller: &Caller, name_or_id: &str) -> bool {
    caller
        .auth
        .as_ref()
        .is_some_and(|a| a.collection.id == name_or_id || a.collection.name == name_or_id)
}
