//! The end of every sign-in (password, OTP, OAuth2, LDAP, TOTP): multi-factor checks, the
//! audit entry, failed-login lockout, then PocketBase's `{"token", "record"}` response.
//!
//! MFA works as PocketBase's does: when the collection's `mfa` is enabled (and its `rule`, if
//! any, matches the record), a first factor answers **401 `{"mfaId"}`** and the client signs
//! in again with a *different* method, sending that `mfaId`. Keel adds TOTP: a record with
//! TOTP enabled always needs it as its second factor (`auth-with-totp`).

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use keel_auth::AuditEntry;
use keel_data::{Collection, Record, RequestInfo};
use serde_json::{json, Value};

use super::{auth_response, ShapeParams};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub(crate) use keel_app::Origin;

/// A first or second factor that passed, to be finished into a token (or an MFA step).
pub(crate) struct Login<'a> {
    pub collection: &'a Arc<Collection>,
    pub record: Record,
    /// `password`, `otp`, `oauth2`, `ldap` or `totp`.
    pub method: &'static str,
    /// The `mfaId` the client sent (its second sign-in).
    pub mfa_id: Option<String>,
    pub req: RequestInfo,
    pub shape: ShapeParams,
    pub origin: Origin,
    /// Extra fields for the response (OAuth2's `meta`).
    pub extra: Option<(String, Value)>,
}

fn audit(login: &Login<'_>, event: &str, success: bool) -> AuditEntry {
    AuditEntry::new(event, success)
        .record(&login.collection.id, login.record.id())
        .actor(format!("{}/{}", login.collection.name, login.record.id()))
        .origin(login.origin.ip.clone(), login.origin.user_agent.clone())
        .detail("method", login.method)
}

/// Whether the collection's MFA applies to this record.
async fn mfa_applies(state: &AppState, login: &Login<'_>) -> ApiResult<bool> {
    let opts = login.collection.auth.as_ref().ok_or_else(ApiError::not_found)?;
    if !opts.mfa.get("enabled").and_then(Value::as_bool).unwrap_or(false) {
        return Ok(false);
    }
    match opts.mfa.get("rule").and_then(Value::as_str).map(str::trim) {
        None | Some("") => Ok(true),
        Some(rule) => Ok(state
            .store
            .record_matches(login.collection, &login.record.data, rule, &login.req)
            .await?),
    }
}

/// How long an MFA session stays open (the collection's `mfa.duration`, default 30 min).
pub(crate) fn mfa_duration(collection: &Collection) -> i64 {
    collection
        .auth
        .as_ref()
        .and_then(|a| a.mfa.get("duration").and_then(Value::as_i64))
        .filter(|d| *d > 0)
        .unwrap_or(1800)
}

/// 401 `{"mfaId"}`: sign in again with another factor.
fn mfa_required(mfa_id: &str, message: &str) -> Response {
    let body = json!({"status": 401, "message": message, "data": {}, "mfaId": mfa_id});
    (StatusCode::UNAUTHORIZED, Json(body)).into_response()
}

/// Finishes a sign-in whose factor `login.method` passed.
pub(crate) async fn complete(state: &AppState, login: Login<'_>) -> ApiResult<Response> {
    let (cid, rid) = (login.collection.id.clone(), login.record.id().to_string());
    let totp = state.identity.totp(&cid, &rid).await?.is_some_and(|t| t.enabled);
    let mfa = totp || mfa_applies(state, &login).await?;

    // PocketBase's SDK sends `{ mfaId }` options as a query parameter; a body field works too.
    let from_query = login.req.query.get("mfaId").and_then(Value::as_str).map(str::to_string);
    let mfa_id = login
        .mfa_id
        .clone()
        .filter(|m| !m.is_empty())
        .or(from_query)
        .filter(|m| !m.is_empty());
    if let Some(mfa_id) = mfa_id.as_deref() {
        let first = state
            .identity
            .mfa_method(&cid, mfa_id, &rid, mfa_duration(login.collection))
            .await?
            .ok_or_else(|| ApiError::unauthorized("The MFA session is invalid or has expired; sign in again."))?;
        if first == login.method {
            return Err(ApiError::bad_request(
                "The second factor must be a different sign-in method than the first.",
            ));
        }
        if totp && login.method != "totp" {
            return Ok(mfa_required(
                mfa_id,
                "Complete the sign-in with your TOTP code (auth-with-totp).",
            ));
        }
        state.identity.delete_mfa(mfa_id).await?;
        state
            .identity
            .audit(audit(&login, "auth.mfa", true).detail("firstMethod", first))
            .await;
    } else if login.method == "totp" {
        return Err(ApiError::field(
            "mfaId",
            "validation_required",
            "TOTP is a second factor: send the mfaId of the first.",
        ));
    } else if mfa {
        let id = state.identity.create_mfa(&cid, &rid, login.method).await?;
        state.identity.audit(audit(&login, "auth.mfa_required", true)).await;
        let message = if totp {
            "Complete the sign-in with your TOTP code (auth-with-totp)."
        } else {
            "Please complete the multi-factor authentication with another sign-in method."
        };
        return Ok(mfa_required(&id, message));
    }

    alert_new_origin(state, &login).await;
    let entry = audit(&login, "auth.login", true);
    let extra = login.extra.clone();
    let Json(mut body) = auth_response(state, login.collection, login.record, login.req, &login.shape).await?;
    if let (Some((k, v)), Value::Object(m)) = (extra, &mut body) {
        m.insert(k, v);
    }
    state.identity.audit(entry).await;
    Ok(Json(body).into_response())
}

/// Records a failed sign-in for `identity` of `collection` in the audit trail (the lockout
/// counted the attempt before its credentials were checked: `lockout::attempt`).
pub(crate) async fn failed(state: &AppState, collection: &Collection, method: &str, identity: &str, origin: &Origin) {
    state
        .identity
        .audit(
            AuditEntry::new("auth.login", false)
                .record(&collection.id, "")
                .identity(identity)
                .origin(origin.ip.clone(), origin.user_agent.clone())
                .detail("method", method),
        )
        .await;
}

/// PocketBase's `authAlert`: when the collection enables it, a sign-in from a device (IP and
/// user agent) the record has not used before, and not its first sign-in, emails the record.
/// Failures are logged; they never fail the sign-in.
async fn alert_new_origin(state: &AppState, login: &Login<'_>) {
    let enabled = login
        .collection
        .auth
        .as_ref()
        .and_then(|a| a.auth_alert.get("enabled").and_then(Value::as_bool))
        .unwrap_or(false);
    if !enabled {
        return;
    }
    let fingerprint = keel_auth::secret::sha256_hex(&format!("{}|{}", login.origin.ip, login.origin.user_agent));
    let (cid, rid) = (&login.collection.id, login.record.id());
    match state.identity.note_origin(cid, rid, &fingerprint).await {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            tracing::warn!(error = %e, "could not record a sign-in origin");
            return;
        }
    }
    let to = login
        .record
        .data
        .get("email")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if to.is_empty() {
        return;
    }
    let mut vars = super::mail::vars(state, &login.record);
    let agent = if login.origin.user_agent.is_empty() {
        "an unknown client"
    } else {
        &login.origin.user_agent
    };
    let ip = if login.origin.ip.is_empty() {
        "an unknown address"
    } else {
        &login.origin.ip
    };
    vars.alert_info = format!("{agent} from {ip} at {}", keel_core::time::now());
    super::mail::send_in_background(
        state,
        login.collection.clone(),
        super::mail::Template::AuthAlert,
        to,
        vars,
    );
}
