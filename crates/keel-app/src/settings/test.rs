//! The settings' test actions (superusers only), as PocketBase has them:
//! [`test_s3`] writes and deletes a small file through the S3 settings of file storage or of
//! backups; [`test_email`] sends one of an auth collection's emails to an address.

use keel_core::error::{FieldError, FieldErrors};
use keel_core::files::{bytes_stream, FileStore};
use keel_core::Error;
use keel_notify::Vars;
use serde_json::{json, Value};

use crate::auth::mail::{self, Template};
use crate::caller::Caller;
use crate::App;

fn invalid(field: &str, code: &str, message: &str) -> Error {
    let mut errs = FieldErrors::new();
    errs.insert(field.to_string(), FieldError::new(code, message));
    Error::fields(errs)
}

/// Tests `settings.s3` (`filesystem` = `storage`) or `settings.backups.s3` (`backups`):
/// uploads `keel_settings_test_XXXXX/test.txt` and deletes the prefix. A failure is a 400
/// with the store's error (which names the endpoint and bucket, never the secret).
pub async fn test_s3(app: &App, caller: &Caller, filesystem: &str) -> Result<(), Error> {
    caller.require_superuser()?;
    let settings = app.settings.get();
    let s3 = match filesystem {
        "" => return Err(invalid("filesystem", "validation_required", "Cannot be blank.")),
        "storage" => settings.s3.clone(),
        "backups" => settings.backups.get("s3").cloned().unwrap_or(Value::Null),
        _ => return Err(invalid("filesystem", "validation_in_invalid", "Must be a valid value.")),
    };
    let parsed = keel_files::S3Settings::from_json(&s3)?;
    if !parsed.enabled {
        return Err(Error::bad_request("S3 storage filesystem is not enabled."));
    }
    let failed = |e: Error| {
        let mut raw = e.to_string();
        if !parsed.secret.is_empty() {
            raw = raw.replace(&parsed.secret, "***");
        }
        Error::bad_request(format!("Failed to test the S3 filesystem. Raw error: \n{raw}"))
    };
    let store = keel_files::s3::open(&parsed).map_err(failed)?;
    let prefix = format!(
        "keel_settings_test_{}",
        keel_core::id::random_string(5, keel_core::id::ID_ALPHABET)
    );
    store
        .put(&format!("{prefix}/test.txt"), bytes_stream("test".into()))
        .await
        .map_err(failed)?;
    store.delete_prefix(&prefix).await.map_err(failed)?;
    Ok(())
}

/// The templates `test_email` sends, by PocketBase's names.
const TEMPLATES: [(&str, Template); 5] = [
    ("verification", Template::Verification),
    ("password-reset", Template::ResetPassword),
    ("email-change", Template::ConfirmEmailChange),
    ("otp", Template::Otp),
    ("login-alert", Template::AuthAlert),
];

/// Sends the `template` email of the auth collection `collection` (`_superusers` when empty)
/// to `email`, with placeholder values, as PocketBase's test email does.
pub async fn test_email(
    app: &App,
    caller: &Caller,
    email: &str,
    template: &str,
    collection: &str,
) -> Result<(), Error> {
    caller.require_superuser()?;
    let mut errs = FieldErrors::new();
    let email = email.trim();
    if email.is_empty() {
        errs.insert(
            "email".into(),
            FieldError::new("validation_required", "Cannot be blank."),
        );
    } else if !is_email(email) {
        errs.insert(
            "email".into(),
            FieldError::new("validation_is_email", "Must be a valid email address."),
        );
    }
    let which = TEMPLATES.iter().find(|(n, _)| *n == template).map(|(_, t)| *t);
    if template.is_empty() {
        errs.insert(
            "template".into(),
            FieldError::new("validation_required", "Cannot be blank."),
        );
    } else if which.is_none() {
        errs.insert(
            "template".into(),
            FieldError::new("validation_in_invalid", "Must be a valid value."),
        );
    }
    let name = if collection.trim().is_empty() {
        "_superusers"
    } else {
        collection.trim()
    };
    let col = app.store.collection(name).ok().filter(|c| c.is_auth());
    if col.is_none() {
        errs.insert(
            "collection".into(),
            FieldError::new("validation_invalid_collection", "Must be an auth collection."),
        );
    }
    let (Some(which), Some(col), true) = (which, col, errs.is_empty()) else {
        return Err(Error::fields(errs));
    };
    let meta = app.settings.get().meta.clone();
    let vars = Vars {
        app_name: meta.app_name,
        app_url: meta.app_url,
        token: "TEST_TOKEN".into(),
        otp: "123456".into(),
        otp_id: "TEST_OTP_ID".into(),
        alert_info: "TEST_ALERT_INFO".into(),
        record: json!({"id": "TEST_RECORD_ID", "email": email, "collectionName": col.name})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    };
    match mail::send(app, &col, which, email, &vars).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(Error::bad_request(
            "Failed to send the test email: no email provider is configured and SMTP is disabled in the settings.",
        )),
        Err(e) => Err(Error::bad_request(format!(
            "Failed to send the test email. Raw error: \n{e}"
        ))),
    }
}

fn is_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !s.contains(char::is_whitespace)
        }
        None => false,
    }
}
