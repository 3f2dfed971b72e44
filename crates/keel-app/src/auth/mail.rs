//! The emails of the auth flows: the collection's templates (with Keel's defaults), their
//! placeholders' values, and the mailer built from the current `/api/settings` at send time.
//!
//! When `smtp.enabled` is false PocketBase falls back to the local `sendmail`; Keel sends
//! nothing, logs a warning and answers exactly as if it had sent (the flows stay free of
//! account enumeration either way).

use keel_data::schema::MailTemplate;
use keel_data::{Collection, FieldKind, Record};
use keel_notify::{Address, EmailTemplate, Mail, Mailer, SmtpAuthMethod, SmtpConfig, SmtpMailer, Vars};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::App;

/// Which of a collection's email templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Template {
    Verification,
    ResetPassword,
    ConfirmEmailChange,
    Otp,
    AuthAlert,
}

impl Template {
    pub fn name(self) -> &'static str {
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
    let rendered = keel_notify::render(&template(collection, which), vars);
    let mail = Mail {
        from: settings_sender(&settings),
        to: vec![Address::new(to)],
        subject: rendered.subject,
        html: rendered.html,
        text: None,
    };
    settings_mailer(&settings)?.send(&mail).await?;
    Ok(true)
}

/// The SMTP mailer of the settings' `smtp` section (whether it is enabled is the caller's
/// question).
pub fn settings_mailer(settings: &crate::settings::SettingsData) -> keel_core::Result<SmtpMailer> {
    let s = &settings.smtp;
    SmtpMailer::new(SmtpConfig {
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
    })
}

/// The sender of the settings (`meta.senderName`, `meta.senderAddress`).
pub fn settings_sender(settings: &crate::settings::SettingsData) -> Address {
    Address::named(settings.meta.sender_name.clone(), settings.meta.sender_address.clone())
}

/// An auth email to send at least once, as the outbox and the `_keel-mail` job carry it:
/// which template, to whom, for which record. Never the token or the code: the worker makes
/// those when it sends (`crate::outbox::mail`), so neither is stored in a job that
/// `jobs:read` shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MailJob {
    pub template: Template,
    /// The collection's id.
    pub collection: String,
    /// The auth record's id.
    pub record: String,
    pub to: String,
    /// The OTP whose code the email carries (template `otp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otp_id: Option<String>,
    /// The sign-in the alert is about (template `authAlert`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_info: Option<String>,
}

/// The outbox kind of auth emails (worked on the jobs queue `_keel-mail`).
pub const OUTBOX_KIND: &str = "mail";

impl MailJob {
    /// The email `which` of `record` to `to`.
    pub fn new(which: Template, record: &Record, to: &str) -> MailJob {
        MailJob {
            template: which,
            collection: record.collection.id.clone(),
            record: record.id().to_string(),
            to: to.to_string(),
            otp_id: None,
            alert_info: None,
        }
    }
}

/// Queues `mail` in the outbox: durable when this returns (a crash afterwards loses nothing),
/// sent by the `_keel-mail` worker with the jobs service's retries. So a request's answer
/// (and its timing) does not depend on the mail server, nor on whether an account exists.
pub async fn queue(app: &App, mail: &MailJob) -> keel_core::Result<()> {
    let payload = serde_json::to_value(mail).map_err(keel_core::Error::internal)?;
    app.store.outbox_put(OUTBOX_KIND, &payload).await?;
    Ok(())
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
