//! Verifying an auth record's email: the request emails a verification token, the
//! confirmation marks the record verified.

use std::sync::Arc;

use keel_auth::token::TokenKind;
use keel_core::Error;
use keel_data::{Access, Collection, RequestInfo};
use serde_json::{Map, Value};

use super::flow;
use super::mail::{self, MailJob, Template};
use crate::{App, Origin};

const CONFIRM: &str = "auth.verification_confirm";

/// Emails a verification token to the record with the submitted `email`; an unknown or
/// already verified email gets the same answer and no email.
pub async fn request(
    app: &App,
    collection: &Arc<Collection>,
    form: &Map<String, Value>,
    origin: &Origin,
) -> Result<(), Error> {
    let email = flow::email_field(form, "email")?;

    let Some(record) = flow::record_by_email(app, collection, &email, "auth.verification_request", origin).await?
    else {
        return Ok(());
    };
    let entry = flow::audit_entry("auth.verification_request", true, collection, record.id(), origin).identity(email);
    if record.data.get("verified").and_then(Value::as_bool).unwrap_or(false) {
        app.identity.audit(entry.detail("reason", "already verified")).await;
        return Ok(());
    }
    let to = flow::email_of(&record);
    mail::queue(app, &MailJob::new(Template::Verification, &record, to)).await?;
    app.identity.audit(entry).await;
    Ok(())
}

/// Marks the token's record verified, while its email is still the token's.
pub async fn confirm(
    app: &App,
    collection: &Arc<Collection>,
    form: &Map<String, Value>,
    origin: &Origin,
) -> Result<(), Error> {
    let raw = flow::text(form, "token");
    let (record, claims) = flow::verify(app, collection, &raw, TokenKind::Verification, CONFIRM, origin).await?;

    let entry = |ok| flow::audit_entry(CONFIRM, ok, collection, record.id(), origin);
    if !claims
        .email
        .as_deref()
        .is_some_and(|e| e.eq_ignore_ascii_case(flow::email_of(&record)))
    {
        app.identity.audit(entry(false).detail("reason", "email changed")).await;
        return Err(Error::field(
            "token",
            "validation_token_email_mismatch",
            "The token was issued for another email address.",
        ));
    }
    if !record.data.get("verified").and_then(Value::as_bool).unwrap_or(false) {
        let mut data = Map::new();
        data.insert("verified".into(), Value::Bool(true));
        app.store
            .update_record(
                collection,
                record.id(),
                data,
                &RequestInfo::default(),
                Access::Superuser,
            )
            .await?;
    }
    app.identity.audit(entry(true)).await;
    Ok(())
}
