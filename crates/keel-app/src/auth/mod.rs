//! Sign-in and the auth records' flows: every sign-in ends in [`login::complete`] (MFA and
//! TOTP, audit, the signed token); the email flows (verification, password reset, email
//! change, OTP) share `mail` and `flow`; OAuth2 and LDAP users are found or created by
//! `external` (a new record's avatar downloaded by `avatar`).

use std::sync::Arc;

use keel_auth::token::{self, Claims, TokenKind};
use keel_core::Error;
use keel_data::{AuthRecord, Collection, Record, RequestInfo};
use serde_json::Value;

use crate::{App, Caller};

pub mod avatar;
pub mod email_change;
pub mod external;
pub mod flow;
pub mod ldap;
pub mod login;
pub mod mail;
pub mod methods;
pub mod oauth2;
pub mod oauth2_flow;
pub mod otp;
pub mod password;
pub mod password_reset;
pub mod session;
pub mod totp;
pub mod verification;

/// A signed-in record: its new auth token, and the request context (its `auth` the record)
/// to shape the answer with.
#[derive(Debug)]
pub struct SignedIn {
    pub token: String,
    pub record: Record,
    pub req: RequestInfo,
    /// An extra member of the answer (OAuth2's `meta`).
    pub extra: Option<(String, Value)>,
}

/// The auth collection named (or id'd) `name_or_id`; 404 like PocketBase otherwise.
pub fn auth_collection(app: &App, name_or_id: &str) -> Result<Arc<Collection>, Error> {
    match app.store.collection(name_or_id) {
        Ok(c) if c.is_auth() && c.auth.is_some() => Ok(c),
        _ => Err(Error::NotFound("Missing or invalid auth collection context.".into())),
    }
}

/// Signs `record` of `collection` in: checks the collection's `authRule` with the record as
/// `@request.auth` and signs a new auth token. `req` is the request's `@request.*` context;
/// its `auth` is replaced by the record.
pub async fn issue(
    app: &App,
    collection: &Arc<Collection>,
    record: Record,
    mut req: RequestInfo,
) -> Result<SignedIn, Error> {
    let opts = collection.auth.as_ref().ok_or_else(Error::not_found)?;
    req.auth = Some(AuthRecord::new(collection.clone(), record.data.clone()));
    check_auth_rule(app, collection, &record, &req).await?;
    let token_key = record.data.get("tokenKey").and_then(Value::as_str).unwrap_or("");
    let claims = Claims::new(TokenKind::Auth, record.id(), &collection.id, opts.auth_token.duration);
    let token = token::sign(&claims, &opts.auth_token.secret, token_key)?;
    Ok(SignedIn {
        token,
        record,
        req,
        extra: None,
    })
}

/// `authRule`: `null` lets only superusers in, `""` everyone, otherwise the rule must match.
async fn check_auth_rule(
    app: &App,
    collection: &Arc<Collection>,
    record: &Record,
    req: &RequestInfo,
) -> Result<(), Error> {
    let denied = || Error::Forbidden("The request doesn't satisfy the collection requirements to authenticate.".into());
    if req.is_superuser() {
        return Ok(());
    }
    match collection.auth.as_ref().and_then(|a| a.auth_rule.as_deref()) {
        None => Err(denied()),
        Some(rule) if rule.trim().is_empty() => Ok(()),
        Some(rule) => match app.store.record_matches(collection, &record.data, rule, req).await? {
            true => Ok(()),
            false => Err(denied()),
        },
    }
}

/// A `Caller`'s record as a `Record` of its collection.
/// The injected `roles` (not a column) are left out.
pub fn caller_record(auth: &AuthRecord) -> Record {
    let mut data = (*auth.record).clone();
    if auth.collection.field("roles").is_none() {
        data.remove("roles");
    }
    Record {
        collection: auth.collection.clone(),
        data,
        expand: Default::default(),
        expand_shown: false,
    }
}

/// Whether `name_or_id` names the caller's collection (by id or name).
pub fn same_collection(caller: &Caller, name_or_id: &str) -> bool {
    caller
        .auth
        .as_ref()
        .is_some_and(|a| a.collection.id == name_or_id || a.collection.name == name_or_id)
}
