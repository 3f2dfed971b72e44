//! What the token and email flows share besides the email itself: the one-purpose tokens
//! (verification, password reset, email change) the emails carry, body fields, and audit
//! entries.

use keel_auth::token::{self, Claims, TokenKind};
use keel_core::Error;
use keel_data::{Access, AuthRecord, Collection, Record, RequestInfo};
use serde_json::{Map, Value};

use super::caller_record;
use crate::App;
use crate::Origin;

/// A token of `kind` for `record`, signed with the collection's secret for that kind and the
/// record's `tokenKey`.
pub fn sign(
    collection: &Collection,
    record: &Record,
    kind: TokenKind,
    new_email: Option<String>,
) -> Result<String, Error> {
    let opts = collection.auth.as_ref().ok_or_else(Error::not_found)?;
    let cfg = match kind {
        TokenKind::Verification => &opts.verification_token,
        TokenKind::PasswordReset => &opts.password_reset_token,
        TokenKind::EmailChange => &opts.email_change_token,
        TokenKind::Auth => &opts.auth_token,
        TokenKind::File => &opts.file_token,
    };
    let mut claims = Claims::new(kind, record.id(), &collection.id, cfg.duration);
    claims.email = Some(email_of(record).to_string());
    claims.new_email = new_email;
    let token_key = record.data.get("tokenKey").and_then(Value::as_str).unwrap_or("");
    token::sign(&claims, &cfg.secret, token_key)
}

/// The record and claims of a valid token of `kind` for `collection`; a 400 naming `token`
/// otherwise (missing, forged, expired, revoked, of another kind or collection), after a
/// failed `event` audit entry.
pub async fn verify(
    app: &App,
    collection: &Collection,
    raw: &str,
    kind: TokenKind,
    event: &str,
    origin: &Origin,
) -> Result<(Record, Claims), Error> {
    let found = check_token(app, collection, raw, kind).await;
    if found.is_err() {
        let entry = audit_entry(event, false, collection, "", origin).detail("reason", "invalid token");
        app.identity.audit(entry).await;
    }
    found
}

async fn check_token(
    app: &App,
    collection: &Collection,
    raw: &str,
    kind: TokenKind,
) -> Result<(Record, Claims), Error> {
    if raw.trim().is_empty() {
        return Err(Error::field("token", "validation_required", "Cannot be blank."));
    }
    let invalid = || Error::field("token", "validation_invalid_token", "Invalid or expired token.");
    let auth = crate::caller::authenticate(app, raw, kind)
        .await
        .map_err(|_| invalid())?;
    if auth.collection.id != collection.id {
        return Err(invalid());
    }
    // The signature was checked by `authenticate`: the claims can be trusted now.
    let claims = token::peek(raw).map_err(|_| invalid())?;
    Ok((caller_record(&auth), claims))
}

/// Writes `data` to `record` (checked by [`verify`]) only if its `tokenKey` is still the one
/// the token was signed with, in one transaction: of two confirmations of one token racing,
/// the second finds the key rotated by the first and gets "Invalid or expired token.".
/// `data` must rotate the key (a new password or email does), which makes the token single use.
pub async fn write_if_token_unchanged(
    app: &App,
    collection: &std::sync::Arc<Collection>,
    record: &Record,
    data: Map<String, Value>,
) -> Result<(), Error> {
    let token_key = record.data.get("tokenKey").cloned().unwrap_or(Value::Null);
    // `tokenKey` is hidden: only a superuser context may compare it.
    let superusers = app.store.collection(keel_data::schema::SUPERUSERS_ID)?;
    let req = RequestInfo {
        auth: Some(AuthRecord::new(superusers, Map::new())),
        body: Map::from_iter([("tokenKey".to_string(), token_key)]),
        ..RequestInfo::default()
    };
    let rule = Access::Rule("tokenKey = @request.body.tokenKey");
    match app.store.update_record(collection, record.id(), data, &req, rule).await {
        Ok(_) => Ok(()),
        Err(keel_core::Error::NotFound(_)) => Err(Error::field(
            "token",
            "validation_invalid_token",
            "Invalid or expired token.",
        )),
        Err(e) => Err(e),
    }
}

/// The record's `email`.
pub fn email_of(record: &Record) -> &str {
    record.data.get("email").and_then(Value::as_str).unwrap_or("")
}

/// A string field of a request body (numbers as their text), trimmed of nothing.
pub fn text(form: &Map<String, Value>, key: &str) -> String {
    match form.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// The submitted `field` as an email address: 400 naming it when blank or malformed.
pub fn email_field(form: &Map<String, Value>, field: &str) -> Result<String, Error> {
    let email = text(form, field).trim().to_string();
    if email.is_empty() {
        return Err(Error::field(field, "validation_required", "Cannot be blank."));
    }
    if !looks_like_email(&email) {
        return Err(Error::field(
            field,
            "validation_is_email",
            "Must be a valid email address.",
        ));
    }
    Ok(email)
}

/// `local@domain.tld`: no spaces or controls, one `@`, a dot in the domain, ≤ 255 bytes
/// (the record's email field checks the same shape).
fn looks_like_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    s.len() <= 255
        && !local.is_empty()
        && !domain.contains('@')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        && domain.split('.').count() >= 2
        && domain.split('.').all(|p| !p.is_empty())
}

/// An audit entry of `event` about `record_id` (may be empty) from `origin`.
pub fn audit_entry(
    event: &str,
    success: bool,
    collection: &Collection,
    record_id: &str,
    origin: &Origin,
) -> keel_auth::AuditEntry {
    keel_auth::AuditEntry::new(event, success)
        .record(&collection.id, record_id)
        .origin(origin.ip.clone(), origin.user_agent.clone())
}

/// The record of `collection` with `email`; when there is none, audits `event` as failed
/// ("unknown email") and returns `None`, so the caller can answer as if it existed.
pub async fn record_by_email(
    app: &App,
    collection: &std::sync::Arc<Collection>,
    email: &str,
    event: &str,
    origin: &Origin,
) -> Result<Option<Record>, Error> {
    let found = app
        .store
        .find_by_field(collection, "email", &Value::String(email.to_string()))
        .await?;
    if found.is_none() {
        let entry = audit_entry(event, false, collection, "", origin).identity(email);
        app.identity.audit(entry.detail("reason", "unknown email")).await;
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_shapes() {
        for ok in ["a@b.co", "ann.x+1@mail.example.com"] {
            assert!(looks_like_email(ok), "{ok}");
        }
        for bad in [
            "",
            "a",
            "a@b",
            "@b.co",
            "a@b.",
            "a@@b.co",
            "a b@c.co",
            "a@b.co\r\nBcc: x@y.z",
        ] {
            assert!(!looks_like_email(bad), "{bad}");
        }
    }
}
