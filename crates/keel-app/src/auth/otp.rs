//! One-time codes: requesting one by email, and signing in with it (`{otpId, password,
//! mfaId?}`, method `otp` of `login::complete`). The code
//! works once and until `otp.duration` seconds after it was sent; a wrong, used or expired one
//! is a failed sign-in (audit entry, lockout counter of the address the code went to) and 400
//! "Failed to authenticate.". Like PocketBase, success marks the record verified when the
//! code went to its current email.

use std::sync::Arc;

use keel_core::error::{FieldError, FieldErrors};
use keel_core::Error;
use keel_data::{Access, Collection, RequestInfo};
use serde_json::{Map, Value};

use super::flow;
use super::login::{complete, failed, Login};
use super::mail::{self, MailJob, Template};
use super::SignedIn;
use crate::{lockout, App, Origin};

/// Whether the collection's `otp` options enable OTP sign-in.
pub fn enabled(otp: &Value) -> bool {
    otp.get("enabled").and_then(Value::as_bool).unwrap_or(false)
}

/// Emails a one-time code of `otp.length` digits (stored hashed) to the record with the
/// submitted `email` and returns its `otpId`. An unknown email gets an id of the same shape
/// that no OTP has (PocketBase's enumeration protection), after about the same work.
pub async fn request(
    app: &App,
    collection: &Arc<Collection>,
    form: &Map<String, Value>,
    origin: &Origin,
) -> Result<String, Error> {
    const EVENT: &str = "auth.otp_request";
    let opts = collection.auth.as_ref().ok_or_else(Error::not_found)?;
    if !enabled(&opts.otp) {
        return Err(Error::Forbidden(
            "The collection is not configured to allow OTP authentication.".into(),
        ));
    }
    let length = opts.otp.get("length").and_then(Value::as_u64).unwrap_or(8) as usize;
    let email = flow::email_field(form, "email")?;
    let Some(record) = flow::record_by_email(app, collection, &email, EVENT, origin).await? else {
        // The real path hashes the code: spend the same.
        let _ = tokio::task::spawn_blocking(|| keel_auth::hash_password("keel-no-such-otp")).await;
        return Ok(keel_core::id::new_id());
    };
    let to = flow::email_of(&record).to_string();
    // The code made here is never sent: the worker gives the OTP a fresh one when it sends
    // the email, so no code is stored in clear (outbox, job payload).
    let (otp_id, _unsent) = app
        .identity
        .create_otp(&collection.id, record.id(), &to, length)
        .await?;
    let mut job = MailJob::new(Template::Otp, &record, &to);
    job.otp_id = Some(otp_id.clone());
    mail::queue(app, &job).await?;
    let entry = flow::audit_entry(EVENT, true, collection, record.id(), origin).identity(email);
    app.identity.audit(entry.detail("otpId", otp_id.clone())).await;
    Ok(otp_id)
}

/// Signs in with an emailed code. `form` is the submitted body (its `password`, the code, is
/// removed before rules see it as `@request.body`); `req` the request's context without a body.
pub async fn sign_in(
    app: &App,
    collection: &Arc<Collection>,
    mut form: Map<String, Value>,
    mut req: RequestInfo,
    origin: Origin,
) -> Result<SignedIn, Error> {
    let opts = collection.auth.as_ref().ok_or_else(Error::not_found)?;
    if !enabled(&opts.otp) {
        return Err(Error::Forbidden(
            "The collection is not configured to allow OTP authentication.".into(),
        ));
    }
    let duration = opts.otp.get("duration").and_then(Value::as_i64).unwrap_or(180);
    let otp_id = flow::text(&form, "otpId");
    let code = flow::text(&form, "password");
    let mfa_id = flow::text(&form, "mfaId");
    let mut errors = FieldErrors::new();
    for (name, value) in [("otpId", &otp_id), ("password", &code)] {
        if value.trim().is_empty() {
            errors.insert(name.into(), FieldError::new("validation_required", "Cannot be blank."));
        } else if value.chars().count() > 255 {
            errors.insert(
                name.into(),
                FieldError::new(
                    "validation_length_out_of_range",
                    "The length must be between 1 and 255.",
                ),
            );
        }
    }
    if !errors.is_empty() {
        return Err(Error::fields(errors));
    }
    let fail = || Error::bad_request("Failed to authenticate.");

    let Some((owner, sent_to)) = app.identity.otp_owner(&collection.id, &otp_id).await? else {
        failed(app, collection, "otp", &otp_id, &origin).await;
        return Err(fail());
    };
    lockout::attempt(app, &collection.id, &sent_to).await?;
    let taken = app.identity.take_otp(&collection.id, &otp_id, &code, duration).await?;
    if taken.as_deref() != Some(owner.as_str()) {
        failed(app, collection, "otp", &sent_to, &origin).await;
        return Err(fail());
    }
    let record = match app
        .store
        .get_record(collection, &owner, &RequestInfo::default(), Access::Superuser)
        .await
    {
        Ok(r) => r,
        Err(Error::NotFound(_)) => return Err(fail()),
        Err(e) => return Err(e),
    };
    lockout::reset(app, &collection.id, &sent_to).await;

    let verified = record.data.get("verified").and_then(Value::as_bool).unwrap_or(false);
    let record = if !verified && sent_to.eq_ignore_ascii_case(flow::email_of(&record)) {
        let mut data = Map::new();
        data.insert("verified".into(), Value::Bool(true));
        let (_, after) = app
            .store
            .update_record(
                collection,
                record.id(),
                data,
                &RequestInfo::default(),
                Access::Superuser,
            )
            .await?;
        after
    } else {
        record
    };

    form.remove("password");
    req.body = form;
    let login = Login {
        collection,
        record,
        method: "otp",
        mfa_id: (!mfa_id.is_empty()).then_some(mfa_id),
        req,
        origin,
        extra: None,
    };
    complete(app, login).await
}
