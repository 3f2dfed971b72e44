//! Auth routes of auth collections, PocketBase's Web API: one endpoint per file; the
//! sign-in and email flows themselves are `keel_app::auth`'s; see
//! `docs/auth-email.md`. Flows not implemented yet stay unrouted (404) rather than
//! pretending to work.

use axum::Json;
use keel_app::auth::SignedIn;
use serde_json::{json, Value};

use crate::error::ApiResult;
use crate::request::form_pairs;
use crate::state::AppState;
use keel_app::serialize::{pick_fields, record_json};

pub(crate) use keel_app::auth::auth_collection;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

mod confirm_email_change;
mod confirm_password_reset;
mod confirm_verification;
mod impersonate;
mod methods;
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

/// The answer of a sign-in: `{"token", "record", ...extra}`, expanded and picked as the
/// query asks.
pub(crate) async fn signed_json(state: &AppState, signed: SignedIn, shape: &ShapeParams) -> ApiResult<Json<Value>> {
    let SignedIn {
        token,
        record,
        req,
        extra,
    } = signed;
    let mut records = [record];
    if let Some(expand) = &shape.expand {
        keel_app::records::expand(state, &mut records, expand, &req).await?;
    }
    let mut body = json!({"token": token, "record": record_json(&records[0], &req)});
    if let (Some((k, v)), Value::Object(m)) = (extra, &mut body) {
        m.insert(k, v);
    }
    pick_fields(&mut body, shape.fields.as_deref());
    Ok(Json(body))
}
