//! TOTP second factor (Keel's extension of PocketBase's MFA) for the signed-in record: its
//! status, setting up a secret, enabling it with a first code (recovery codes returned once),
//! disabling it with a code or a recovery code, and the second sign-in step.

use std::sync::Arc;

use keel_auth::AuditEntry;
use keel_core::Error;
use keel_data::{Access, AuthRecord, Collection, RequestInfo};
use serde_json::{Map, Value};

use super::login::{complete, failed, mfa_duration, Login};
use super::{same_collection, SignedIn};
use crate::caller::INVALID_TOKEN;
use crate::{lockout, App, Caller, Origin};

/// A new, not yet active secret and its `otpauth://` URI.
#[derive(Debug)]
pub struct Setup {
    pub secret: String,
    pub uri: String,
}

fn own<'a>(caller: &'a Caller, collection: &str) -> Result<&'a AuthRecord, Error> {
    let auth = caller
        .auth
        .as_ref()
        .ok_or_else(|| Error::Unauthorized(INVALID_TOKEN.into()))?;
    if !same_collection(caller, collection) {
        return Err(Error::Unauthorized(
            "The token belongs to another auth collection; sign in to this one.".into(),
        ));
    }
    Ok(auth)
}

fn text(form: &Map<String, Value>, key: &str) -> String {
    form.get(key).and_then(Value::as_str).unwrap_or("").trim().to_string()
}

fn entry(auth: &AuthRecord, event: &str, success: bool, origin: &Origin) -> AuditEntry {
    AuditEntry::new(event, success)
        .record(&auth.collection.id, auth.id())
        .actor(format!("{}/{}", auth.collection.name, auth.id()))
        .origin(origin.ip.clone(), origin.user_agent.clone())
}

/// Whether the caller's record (of the collection `name_or_id`) has TOTP enabled.
pub async fn enabled(app: &App, caller: &Caller, name_or_id: &str) -> Result<bool, Error> {
    let auth = own(caller, name_or_id)?;
    let t = app.identity.totp(&auth.collection.id, auth.id()).await?;
    Ok(t.is_some_and(|t| t.enabled))
}

/// Starts a setup: a new secret for the caller's record, active once confirmed.
pub async fn setup(app: &App, caller: &Caller, name_or_id: &str, origin: &Origin) -> Result<Setup, Error> {
    let auth = own(caller, name_or_id)?;
    let secret = app.identity.totp_begin(&auth.collection.id, auth.id()).await?;
    let account = auth
        .record
        .get("email")
        .and_then(Value::as_str)
        .filter(|e| !e.is_empty())
        .unwrap_or(auth.id())
        .to_string();
    let issuer = app.settings.get().meta.app_name.clone();
    let uri = keel_auth::totp::otpauth_uri(&secret, &issuer, &account)
        .ok_or_else(|| Error::internal("cannot build the otpauth URI"))?;
    app.identity.audit(entry(auth, "totp.setup", true, origin)).await;
    Ok(Setup { secret, uri })
}

/// Enables the set-up secret with a first `code`; returns the recovery codes (shown once).
pub async fn confirm(
    app: &App,
    caller: &Caller,
    name_or_id: &str,
    form: &Map<String, Value>,
    origin: &Origin,
) -> Result<Vec<String>, Error> {
    let auth = own(caller, name_or_id)?;
    let code = text(form, "code");
    if code.is_empty() {
        return Err(Error::field(
            "code",
            "validation_required",
            "Enter the 6-digit code from your app.",
        ));
    }
    let codes = app.identity.totp_enable(&auth.collection.id, auth.id(), &code).await?;
    app.identity.audit(entry(auth, "totp.enable", true, origin)).await;
    Ok(codes)
}

/// Disables TOTP, given a `code` or a `recoveryCode`.
pub async fn disable(
    app: &App,
    caller: &Caller,
    name_or_id: &str,
    form: &Map<String, Value>,
    origin: &Origin,
) -> Result<(), Error> {
    let auth = own(caller, name_or_id)?;
    let (cid, rid) = (auth.collection.id.clone(), auth.id().to_string());
    if !second_factor(app, &cid, &rid, form).await? {
        app.identity.audit(entry(auth, "totp.disable", false, origin)).await;
        return Err(Error::field(
            "code",
            "validation_invalid_code",
            "The code is wrong or was already used.",
        ));
    }
    app.identity.totp_disable(&cid, &rid).await?;
    app.identity.audit(entry(auth, "totp.disable", true, origin)).await;
    Ok(())
}

/// Checks `code` (TOTP) or `recoveryCode` (single use) from the body.
async fn second_factor(app: &App, cid: &str, rid: &str, form: &Map<String, Value>) -> Result<bool, Error> {
    let (code, recovery) = (text(form, "code"), text(form, "recoveryCode"));
    if !code.is_empty() {
        return app.identity.totp_check(cid, rid, &code, false).await;
    }
    if !recovery.is_empty() {
        return app.identity.use_recovery_code(cid, rid, &recovery).await;
    }
    Err(Error::field(
        "code",
        "validation_required",
        "Send the TOTP code (code) or a recovery code (recoveryCode).",
    ))
}

/// The second sign-in step: `{mfaId, code}` or `{mfaId, recoveryCode}` (the `mfaId` may also
/// come in the query string, as the JS SDK sends it). `req` is the request's context
/// without a body.
pub async fn sign_in(
    app: &App,
    collection: &Arc<Collection>,
    mut form: Map<String, Value>,
    mut req: RequestInfo,
    origin: Origin,
) -> Result<SignedIn, Error> {
    let mut mfa_id = text(&form, "mfaId");
    if mfa_id.is_empty() {
        mfa_id = req.query.get("mfaId").and_then(Value::as_str).unwrap_or("").to_string();
    }
    if mfa_id.is_empty() {
        return Err(Error::field(
            "mfaId",
            "validation_required",
            "Send the mfaId of the first sign-in step.",
        ));
    }
    let (rid, _) = app
        .identity
        .mfa_session(&collection.id, &mfa_id, mfa_duration(collection))
        .await?
        .ok_or_else(|| Error::Unauthorized("The MFA session is invalid or has expired; sign in again.".into()))?;
    lockout::attempt(app, &collection.id, &rid).await?;
    if !second_factor(app, &collection.id, &rid, &form).await? {
        failed(app, collection, "totp", &rid, &origin).await;
        return Err(Error::bad_request("Failed to authenticate."));
    }
    lockout::reset(app, &collection.id, &rid).await;
    let record = app
        .store
        .get_record(collection, &rid, &RequestInfo::default(), Access::Superuser)
        .await?;
    form.remove("code");
    form.remove("recoveryCode");
    req.body = form;
    let login = Login {
        collection,
        record,
        method: "totp",
        mfa_id: Some(mfa_id),
        req,
        origin,
        extra: None,
    };
    complete(app, login).await
}
