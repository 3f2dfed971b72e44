//! The end of every sign-in (password, OTP, OAuth2, LDAP, TOTP): multi-factor checks, the
//! audit entry, the new-device alert, then the signed token ([`SignedIn`]).
//!
//! MFA works as PocketBase's does: when the collection's `mfa` is enabled (and its `rule`, if
//! any, matches the record), a first factor ends in [`Error::MfaRequired`] (a 401 carrying
//! `mfaId` over HTTP) and the client signs
//! in again with a *different* method, sending that `mfaId`. Keel adds TOTP: a record with
//! TOTP enabled always needs it as its second factor (`auth-with-totp`).

use std::sync::Arc;

use keel_auth::AuditEntry;
use keel_core::Error;
use keel_data::{Collection, Record, RequestInfo};
use serde_json::Value;

use super::{issue, SignedIn};
use crate::{App, Origin};

/// A first or second factor that passed, to be finished into a token (or an MFA step).
pub struct Login<'a> {
    pub collection: &'a Arc<Collection>,
    pub record: Record,
    /// `password`, `otp`, `oauth2`, `ldap` or `totp`.
    pub method: &'static str,
    /// The `mfaId` the client sent (its second sign-in).
    pub mfa_id: Option<String>,
    pub req: RequestInfo,
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
async fn mfa_applies(app: &App, login: &Login<'_>) -> Result<bool, Error> {
    let opts = login.collection.auth.as_ref().ok_or_else(Error::not_found)?;
    if !opts.mfa.get("enabled").and_then(Value::as_bool).unwrap_or(false) {
        return Ok(false);
    }
    match opts.mfa.get("rule").and_then(Value::as_str).map(str::trim) {
        None | Some("") => Ok(true),
        Some(rule) => Ok(app
            .store
            .record_matches(login.collection, &login.record.data, rule, &login.req)
            .await?),
    }
}

/// How long an MFA session stays open (the collection's `mfa.duration`, default 30 min).
pub fn mfa_duration(collection: &Collection) -> i64 {
    collection
        .auth
        .as_ref()
        .and_then(|a| a.mfa.get("duration").and_then(Value::as_i64))
        .filter(|d| *d > 0)
        .unwrap_or(1800)
}

/// The MFA step: sign in again with another factor, sending `mfa_id`.
fn mfa_required(mfa_id: &str, message: &str) -> Error {
    Error::MfaRequired {
        message: message.into(),
        mfa_id: mfa_id.into(),
    }
}

/// Finishes a sign-in whose factor `login.method` passed.
pub async fn complete(app: &App, login: Login<'_>) -> Result<SignedIn, Error> {
    let (cid, rid) = (login.collection.id.clone(), login.record.id().to_string());
    let totp = app.identity.totp(&cid, &rid).await?.is_some_and(|t| t.enabled);
    let mfa = totp || mfa_applies(app, &login).await?;

    // PocketBase's SDK sends `{ mfaId }` options as a query parameter; a body field works too.
    let from_query = login.req.query.get("mfaId").and_then(Value::as_str).map(str::to_string);
    let mfa_id = login
        .mfa_id
        .clone()
        .filter(|m| !m.is_empty())
        .or(from_query)
        .filter(|m| !m.is_empty());
    if let Some(mfa_id) = mfa_id.as_deref() {
        let first = app
            .identity
            .mfa_method(&cid, mfa_id, &rid, mfa_duration(login.collection))
            .await?
            .ok_or_else(|| Error::Unauthorized("The MFA session is invalid or has expired; sign in again.".into()))?;
        if first == login.method {
            return Err(Error::bad_request(
                "The second factor must be a different sign-in method than the first.",
            ));
        }
        if totp && login.method != "totp" {
            return Err(mfa_required(
                mfa_id,
                "Complete the sign-in with your TOTP code (auth-with-totp).",
            ));
        }
        app.identity.delete_mfa(mfa_id).await?;
        app.identity
            .audit(audit(&login, "auth.mfa", true).detail("firstMethod", first))
            .await;
    } else if login.method == "totp" {
        return Err(Error::field(
            "mfaId",
            "validation_required",
            "TOTP is a second factor: send the mfaId of the first.",
        ));
    } else if mfa {
        let id = app.identity.create_mfa(&cid, &rid, login.method).await?;
        app.identity.audit(audit(&login, "auth.mfa_required", true)).await;
        let message = if totp {
            "Complete the sign-in with your TOTP code (auth-with-totp)."
        } else {
            "Please complete the multi-factor authentication with another sign-in method."
        };
        return Err(mfa_required(&id, message));
    }

    alert_new_origin(app, &login).await;
    let entry = audit(&login, "auth.login", true);
    let mut signed = issue(app, login.collection, login.record, login.req).await?;
    signed.extra = login.extra;
    app.identity.audit(entry).await;
    Ok(signed)
}

/// Records a failed sign-in for `identity` of `collection` in the audit trail (the lockout
/// counted the attempt before its credentials were checked: `lockout::attempt`).
pub async fn failed(app: &App, collection: &Collection, method: &str, identity: &str, origin: &Origin) {
    app.identity
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
async fn alert_new_origin(app: &App, login: &Login<'_>) {
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
    match app.identity.note_origin(cid, rid, &fingerprint).await {
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
    let mut mail = super::mail::MailJob::new(super::mail::Template::AuthAlert, &login.record, &to);
    mail.alert_info = Some(format!("{agent} from {ip} at {}", keel_core::time::now()));
    if let Err(e) = super::mail::queue(app, &mail).await {
        tracing::warn!(error = %e, "could not queue the new sign-in alert email");
    }
}
