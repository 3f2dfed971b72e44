//! The emails of the auth flows: the collection's templates (with Keel's defaults), their
//! placeholders' values, and the mailer built from the current `/api/settings` at send time.
//!
//! When `smtp.enabled` is false PocketBase falls back to the local `sendmail`; Keel sends
//! nothing, logs a warning and answers exactly as if it had sent (the flows stay free of
//! account enumeration either way).

use std::sync::Arc;
use std::time::Duration;

use keel_data::schema::MailTemplate;
use keel_data::{Collection, FieldKind, Record};
use keel_notify::{Address, EmailTemplate, Mail, Mailer, SmtpAuthMethod, SmtpConfig, SmtpMailer, Vars};
use serde_json::{Map, Value};

use crate::App;

/// Which of a collection's email templates.
#[derive(Debug, Clone, Copy)]
pub enum Template {
    Verification,
    ResetPassword,
    ConfirmEmailChange,
    Otp,
    AuthAlert,
}

impl Template {
    fn name(self) -> &'static str {
        match self {
            Template::Verification => "verification",
            Template::ResetPassword => "password reset",
            Template::ConfirmEmailChange => "email change",
            Template::Otp => "OTP",
            Template::AuthAlert => "new sign-in alert",
        }
    }
}

/// The collection's template, an empty subject or body replaced by Keel's default.
pub fn template(collection: &Collection, which: Template) -> EmailTemplate {
    let d = keel_notify::default_templates();
    let opts = collection.auth.as_ref();
    let (custom, default) = match which {
        Template::Verification => (opts.and_then(|o| o.verification_template.clone()), d.verification),
        Template::ResetPassword => (opts.and_then(|o| o.reset_password_template.clone()), d.reset_password),
        Template::ConfirmEmailChange => (
            opts.and_then(|o| o.confirm_email_change_template.clone()),
            d.confirm_email_change,
        ),
        Template::Otp => (
            opts.and_then(|o| o.otp.get("emailTemplate").cloned())
                .and_then(|v| serde_json::from_value::<MailTemplate>(v).ok()),
            d.otp,
        ),
        Template::AuthAlert => (
            opts.and_then(|o| o.auth_alert.get("emailTemplate").cloned())
                .and_then(|v| serde_json::from_value::<MailTemplate>(v).ok()),
            d.auth_alert,
        ),
    };
    let custom = custom.unwrap_or_default();
    let pick = |c: String, d: String| if c.trim().is_empty() { d } else { c };
    EmailTemplate::new(pick(custom.subject, default.subject), pick(custom.body, default.body))
}

/// The placeholders' values for `record`: the app's name and URL, and the record's fields
/// except hidden ones (the password hash, `tokenKey`).
pub fn vars(app: &App, record: &Record) -> Vars {
    let meta = app.settings.get().meta.clone();
    let hidden = |name: &str| {
        record
            .collection
            .fields
            .iter()
            .any(|f| f.name == name && (f.hidden || matches!(f.kind, FieldKind::Password(_))))
    };
    let fields: Map<String, Value> = record
        .data
        .iter()
        .filter(|(k, _)| !hidden(k) && k.as_str() != "tokenKey")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Vars {
        app_name: meta.app_name,
        app_url: meta.app_url,
        record: fields,
        ..Vars::default()
    }
}

/// Renders `which` for `vars` and sends it to `to`. `Ok(false)`: SMTP is disabled in the
/// settings, nothing was sent (a warning is logged).
pub async fn send(
    app: &App,
    collection: &Collection,
    which: Template,
    to: &str,
    vars: &Vars,
) -> keel_core::Result<bool> {
    let settings = app.settings.get();
    if !settings.smtp.enabled {
        tracing::warn!(
            collection = %collection.name,
            "SMTP is disabled in the settings: the {} email was not sent",
            which.name()
        );
        return Ok(false);
    }
    let s = &settings.smtp;
    let cfg = SmtpConfig {
        enabled: true,
        host: s.host.clone(),
        port: s.port,
        username: s.username.clone(),
        password: s.password.clone(),
        auth_method: if s.auth_method.eq_ignore_ascii_case("LOGIN") {
            SmtpAuthMethod::Login
        } else {
            SmtpAuthMethod::Plain
        },
        tls: s.tls,
        local_name: s.local_name.clone(),
        ca_cert: s.ca_cert.clone(),
        ..SmtpConfig::default()
    };
    let rendered = keel_notify::render(&template(collection, which), vars);
    let mail = Mail {
        from: Address::named(settings.meta.sender_name.clone(), settings.meta.sender_address.clone()),
        to: vec![Address::new(to)],
        subject: rendered.subject,
        html: rendered.html,
        text: None,
    };
    SmtpMailer::new(cfg)?.send(&mail).await?;
    Ok(true)
}

/// How long to wait before each new attempt at an email the mail server did not take: a
/// server restarting or briefly unreachable loses nothing; one refusing the message for good
/// (an SMTP 5xx) is not asked again.
pub const RETRY_DELAYS: [Duration; 3] = [Duration::from_secs(1), Duration::from_secs(5), Duration::from_secs(25)];

/// [`send`] on a background task, so a request's answer (and its timing) does not depend on
/// whether an account exists or how slow the mail server is. A transient failure is retried
/// after each of [`RETRY_DELAYS`]; the last failure is logged as an error. (The email lives
/// in this process until sent: a crash meanwhile loses it, and the user asks again.)
pub fn send_in_background(app: &App, collection: Arc<Collection>, which: Template, to: String, vars: Vars) {
    let task_app = app.clone();
    app.background.spawn(async move {
        let app = task_app;
        let mut delays = RETRY_DELAYS.iter();
        loop {
            // The error names the server and the failing step, never a credential or the
            // message body (where the token or code is).
            match send(&app, &collection, which, &to, &vars).await {
                Ok(_) => return,
                Err(e @ keel_core::Error::Internal(_)) => match delays.next() {
                    Some(delay) => {
                        tracing::warn!(
                            collection = %collection.name, error = %e, retry_in_secs = delay.as_secs(),
                            "sending the {} email failed; trying again", which.name()
                        );
                        tokio::time::sleep(*delay).await;
                    }
                    None => {
                        tracing::error!(
                            collection = %collection.name, error = %e,
                            "sending the {} email failed {} times; giving up", which.name(), RETRY_DELAYS.len() + 1
                        );
                        return;
                    }
                },
                Err(e) => {
                    tracing::error!(collection = %collection.name, error = %e, "sending the {} email failed", which.name());
                    return;
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_template_parts_fall_back_to_the_defaults() {
        let mut c = Collection::default_users();
        let opts = c.auth.as_mut().unwrap();
        opts.verification_template = Some(MailTemplate {
            subject: "Custom {APP_NAME}".into(),
            body: " ".into(),
        });
        opts.otp = serde_json::json!({"enabled": true, "emailTemplate": {"subject": "", "body": "<b>{OTP}</b>"}});
        let d = keel_notify::default_templates();
        let v = template(&c, Template::Verification);
        assert_eq!(
            (v.subject.as_str(), v.body.as_str()),
            ("Custom {APP_NAME}", d.verification.body.as_str())
        );
        let o = template(&c, Template::Otp);
        assert_eq!(
            (o.subject.as_str(), o.body.as_str()),
            (d.otp.subject.as_str(), "<b>{OTP}</b>")
        );
        assert_eq!(template(&c, Template::ResetPassword), d.reset_password);
    }
}
