//! Changing an auth record's email: the signed-in record asks for a token mailed to the new
//! address; confirming it with the record's password sets the email (verified) and rotates
//! `tokenKey`, so the token is single use.

use std::sync::Arc;

use keel_auth::token::TokenKind;
use keel_core::notify::NotifyError;
use keel_core::Error;
use keel_data::Collection;
use serde_json::{Map, Value};

use super::flow;
use super::mail::{self, Template};
use super::{auth_collection, caller_record, same_collection};
use crate::caller::INVALID_TOKEN;
use crate::Caller;
use crate::{App, Origin};

const REQUEST: &str = "auth.email_change_request";
const CONFIRM: &str = "auth.email_change_confirm";

/// Mails an email-change token for the submitted `newEmail` to that address (the caller's
/// own record, of the collection `name_or_id`).
pub async fn request(
    app: &App,
    caller: &Caller,
    name_or_id: &str,
    form: &Map<String, Value>,
    origin: &Origin,
) -> Result<(), Error> {
    let Some(auth) = caller.auth.as_ref() else {
        return Err(Error::Unauthorized(INVALID_TOKEN.into()));
    };
    if !same_collection(caller, name_or_id) {
        return Err(Error::Forbidden(
            "The authorized record is not allowed to perform this action.".into(),
        ));
    }
    let collection = &auth_collection(app, name_or_id)?;
    let record = caller_record(auth);
    let new_email = flow::email_field(form, "newEmail")?;

    let taken = app
        .store
        .find_by_field(collection, "email", &Value::String(new_email.clone()))
        .await?
        .is_some();
    if taken {
        return Err(Error::field(
            "newEmail",
            "validation_not_unique",
            "The email is invalid or already in use.",
        ));
    }
    let mut vars = mail::vars(app, &record);
    vars.token = flow::sign(collection, &record, TokenKind::EmailChange, Some(new_email.clone()))?;
    let sent = mail::send(app, collection, Template::ConfirmEmailChange, &new_email, &vars).await;
    let entry = flow::audit_entry(REQUEST, sent.is_ok(), collection, record.id(), origin)
        .actor(caller.actor())
        .detail("newEmail", new_email);
    app.identity.audit(entry).await;
    match sent {
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::warn!(collection = %collection.name, error = %e, "sending the email change email failed");
            Err(match e {
                NotifyError::Retry { .. } => {
                    Error::Unavailable("The email could not be sent now; try again later.".into())
                }
                NotifyError::Rejected(_) | NotifyError::Gone(_) => Error::field(
                    "newEmail",
                    "validation_invalid_email",
                    "The mail server refused this address.",
                ),
            })
        }
    }
}

/// Sets the token's new email on its record, given the record's `password`.
pub async fn confirm(
    app: &App,
    collection: &Arc<Collection>,
    form: &Map<String, Value>,
    origin: &Origin,
) -> Result<(), Error> {
    let raw = flow::text(form, "token");
    let password = flow::text(form, "password");
    let (record, claims) = flow::verify(app, collection, &raw, TokenKind::EmailChange, CONFIRM, origin).await?;
    let entry = |ok| flow::audit_entry(CONFIRM, ok, collection, record.id(), origin);

    let new_email = claims.new_email.clone().unwrap_or_default();
    let same_old = claims
        .email
        .as_deref()
        .is_some_and(|e| e.eq_ignore_ascii_case(flow::email_of(&record)));
    if new_email.is_empty() || !same_old {
        app.identity.audit(entry(false).detail("reason", "stale token")).await;
        return Err(Error::field(
            "token",
            "validation_invalid_token",
            "Invalid or expired token.",
        ));
    }
    if password.is_empty() {
        return Err(Error::field("password", "validation_required", "Cannot be blank."));
    }
    let hash = record
        .data
        .get("password")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let matches = tokio::task::spawn_blocking(move || keel_auth::verify_password(&password, &hash))
        .await
        .map_err(Error::wrap)?;
    if !matches {
        app.identity
            .audit(entry(false).detail("reason", "wrong password"))
            .await;
        return Err(Error::field(
            "password",
            "validation_invalid_password",
            "Invalid password.",
        ));
    }
    let taken = app
        .store
        .find_by_field(collection, "email", &Value::String(new_email.clone()))
        .await?
        .is_some_and(|r| r.id() != record.id());
    if taken {
        return Err(Error::field(
            "token",
            "validation_not_unique",
            "The new email address is already in use.",
        ));
    }

    let mut data = Map::new();
    data.insert("email".into(), Value::String(new_email.clone()));
    data.insert("verified".into(), Value::Bool(true));
    data.insert("tokenKey".into(), Value::String(keel_core::id::new_secret()));
    flow::write_if_token_unchanged(app, collection, &record, data).await?;
    app.identity.audit(entry(true).detail("newEmail", new_email)).await;
    Ok(())
}
