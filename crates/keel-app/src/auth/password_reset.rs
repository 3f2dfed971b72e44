//! Resetting a forgotten password: the request emails a password-reset token, the
//! confirmation sets the new password (rotating `tokenKey`: every session ends and the token
//! is single use). Like PocketBase, a record not yet verified becomes verified when the
//! token's email is still its email.

use std::sync::Arc;

use keel_auth::token::TokenKind;
use keel_core::Error;
use keel_data::Collection;
use serde_json::{Map, Value};

use super::flow;
use super::mail::{self, MailJob, Template};
use crate::records::auth_fields;
use crate::{App, Origin};

const REQUEST: &str = "auth.password_reset_request";
const CONFIRM: &str = "auth.password_reset_confirm";

/// Emails a password-reset token to the record with the submitted `email`; an unknown email
/// gets the same answer.
pub async fn request(
    app: &App,
    collection: &Arc<Collection>,
    form: &Map<String, Value>,
    origin: &Origin,
) -> Result<(), Error> {
    let email = flow::email_field(form, "email")?;

    let Some(record) = flow::record_by_email(app, collection, &email, REQUEST, origin).await? else {
        return Ok(());
    };
    let to = flow::email_of(&record);
    mail::queue(app, &MailJob::new(Template::ResetPassword, &record, to)).await?;
    let entry = flow::audit_entry(REQUEST, true, collection, record.id(), origin).identity(email);
    app.identity.audit(entry).await;
    Ok(())
}

/// Sets `password` (confirmed by `passwordConfirm`) on the token's record.
pub async fn confirm(
    app: &App,
    collection: &Arc<Collection>,
    form: &Map<String, Value>,
    origin: &Origin,
) -> Result<(), Error> {
    let raw = flow::text(form, "token");
    let (record, claims) = flow::verify(app, collection, &raw, TokenKind::PasswordReset, CONFIRM, origin).await?;

    let mut data = Map::new();
    for key in ["password", "passwordConfirm"] {
        data.insert(key.into(), Value::String(flow::text(form, key)));
    }
    let col = collection.clone();
    let data = tokio::task::spawn_blocking(move || auth_fields::prepare_password_reset(&col, &mut data).map(|()| data))
        .await
        .map_err(Error::wrap)??;
    let mut data = data;
    let verified = record.data.get("verified").and_then(Value::as_bool).unwrap_or(false);
    if !verified
        && claims
            .email
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case(flow::email_of(&record)))
    {
        data.insert("verified".into(), Value::Bool(true));
    }
    // A new password makes the store rotate `tokenKey`; a racing confirmation of the same
    // token finds it rotated.
    flow::write_if_token_unchanged(app, collection, &record, data).await?;
    let entry = flow::audit_entry(CONFIRM, true, collection, record.id(), origin);
    app.identity.audit(entry).await;
    Ok(())
}
