//! The emails of the auth flows, as templates of the notifications service.
//!
//! Which template an email uses, first match wins:
//! 1. the collection's own template (PocketBase's `verificationTemplate`, `otp.emailTemplate`
//!    …, `{PLACEHOLDER}` syntax), an empty subject or body filled from Keel's default;
//! 2. the notifications template `auth.<key>` (`auth.verification`, `auth.resetPassword`,
//!    `auth.confirmEmailChange`, `auth.otp`, `auth.authAlert`; minijinja, with locale variants
//!    picked by the record's `locale` field, text and HTML parts, previewable like every
//!    notification template), rendered with [`template_data`];
//! 3. Keel's default (PocketBase's wording).
//!
//! A notifications template that fails to render (a typo, a variable it does not get) is
//! logged and the default is sent instead: a sign-in never breaks on a template.
//!
//! The email goes out on the notifications service's email channel: the configured email
//! provider (`[[notify.providers]]`: SES, SendGrid, Mailgun, SMTP), else the settings' SMTP
//! server. With neither, PocketBase falls back to the local `sendmail`; Keel sends nothing,
//! logs a warning and answers exactly as if it had sent (the flows stay free of account
//! enumeration either way).

use keel_core::notify::{Channel, Message, NotifyError, Recipient};
use keel_data::schema::MailTemplate;
use keel_data::{Collection, FieldKind, Record};
use keel_notify::render::{self, Rendered};
use keel_notify::{EmailTemplate, Vars};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::notifications;
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

    /// The notifications template it uses when the collection has none of its own.
    pub fn notification_template(self) -> &'static str {
        match self {
            Template::Verification => "auth.verification",
            Template::ResetPassword => "auth.resetPassword",
            Template::ConfirmEmailChange => "auth.confirmEmailChange",
            Template::Otp => "auth.otp",
            Template::AuthAlert => "auth.authAlert",
        }
    }

    /// The console page its link opens (`{APP_URL}/_/#/auth/<page>/<token>`), if it has one.
    fn page(self) -> Option<&'static str> {
        match self {
            Template::Verification => Some("confirm-verification"),
            Template::ResetPassword => Some("confirm-password-reset"),
            Template::ConfirmEmailChange => Some("confirm-email-change"),
            Template::Otp | Template::AuthAlert => None,
        }
    }
}

/// Keel's default for `which` (PocketBase's wording).
pub fn default_template(which: Template) -> EmailTemplate {
    let d = keel_notify::default_templates();
    match which {
        Template::Verification => d.verification,
        Template::ResetPassword => d.reset_password,
        Template::ConfirmEmailChange => d.confirm_email_change,
        Template::Otp => d.otp,
        Template::AuthAlert => d.auth_alert,
    }
}

/// The collection's own template for `which`, if it set a subject or a body (the part it left
/// empty comes from Keel's default).
pub fn own_template(collection: &Collection, which: Template) -> Option<EmailTemplate> {
    let opts = collection.auth.as_ref()?;
    let from_json = |v: Option<&Value>| v.cloned().and_then(|v| serde_json::from_value::<MailTemplate>(v).ok());
    let custom = match which {
        Template::Verification => opts.verification_template.clone(),
        Template::ResetPassword => opts.reset_password_template.clone(),
        Template::ConfirmEmailChange => opts.confirm_email_change_template.clone(),
        Template::Otp => from_json(opts.otp.get("emailTemplate")),
        Template::AuthAlert => from_json(opts.auth_alert.get("emailTemplate")),
    }?;
    if custom.subject.trim().is_empty() && custom.body.trim().is_empty() {
        return None;
    }
    // A new collection shows PocketBase's default text: left as it is, it is no template of
    // the collection's own, and the notifications template or Keel's default applies.
    if is_collection_default(which, &custom) {
        return None;
    }
    let default = default_template(which);
    let pick = |c: String, d: String| if c.trim().is_empty() { d } else { c };
    Some(EmailTemplate::new(
        pick(custom.subject, default.subject),
        pick(custom.body, default.body),
    ))
}

/// Whether `t` is the text a new auth collection starts with (`keel_data::auth_defaults`).
fn is_collection_default(which: Template, t: &MailTemplate) -> bool {
    use keel_data::auth_defaults as d;
    let default = match which {
        Template::Verification => &d::VERIFICATION,
        Template::ResetPassword => &d::RESET_PASSWORD,
        Template::ConfirmEmailChange => &d::CONFIRM_EMAIL_CHANGE,
        Template::Otp => &d::OTP,
        Template::AuthAlert => &d::AUTH_ALERT,
    };
    t.subject == default.subject && t.body == default.body
}

/// What a notifications template `auth.<key>` is rendered with: `app_name`, `app_url`,
/// `collection` (its name), `record` (the auth record's fields but hidden ones), `token`,
/// `action_url` (the link the default template's button opens; empty for OTP and alerts),
/// `otp`, `otp_id`, `alert_info`.
pub fn template_data(collection: &Collection, which: Template, vars: &Vars) -> Value {
    let action_url = match which.page() {
        Some(page) if !vars.token.is_empty() => {
            format!("{}/_/#/auth/{page}/{}", vars.app_url.trim_end_matches('/'), vars.token)
        }
        _ => String::new(),
    };
    json!({
        "app_name": vars.app_name,
        "app_url": vars.app_url,
        "collection": collection.name,
        "record": vars.record,
        "token": vars.token,
        "action_url": action_url,
        "otp": vars.otp,
        "otp_id": vars.otp_id,
        "alert_info": vars.alert_info,
    })
}

/// An auth email ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composed {
    pub subject: String,
    pub html: String,
    /// The plain-text part: the template's, else the HTML as text.
    pub text: String,
}

impl Composed {
    fn from_pocketbase(template: &EmailTemplate, vars: &Vars) -> Composed {
        let r = keel_notify::render(template, vars);
        Composed {
            subject: r.subject,
            text: keel_notify::html_to_text(&r.html),
            html: r.html,
        }
    }

    fn from_rendered(r: Rendered) -> Composed {
        let html = r.html.unwrap_or_else(|| keel_notify::text_as_html(&r.text));
        let text = if r.text.trim().is_empty() {
            keel_notify::html_to_text(&html)
        } else {
            r.text
        };
        Composed {
            subject: r.subject.unwrap_or_default(),
            html,
            text,
        }
    }
}

/// The email `which` for `vars` (see the module docs for which template wins).
pub async fn compose(app: &App, collection: &Collection, which: Template, vars: &Vars) -> keel_core::Result<Composed> {
    if let Some(own) = own_template(collection, which) {
        return Ok(Composed::from_pocketbase(&own, vars));
    }
    let name = which.notification_template();
    let locale = vars.record.get("locale").and_then(Value::as_str);
    if let Some(source) = notifications::templates::resolve(app, name, Channel::Email, locale).await? {
        match render::render(&source, &template_data(collection, which, vars)) {
            Ok(r) => return Ok(Composed::from_rendered(r)),
            Err(e) => tracing::warn!(template = name, error = %e,
                "the notifications template {name} does not render: the default {} email is sent", which.name()),
        }
    }
    Ok(Composed::from_pocketbase(&default_template(which), vars))
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

/// Composes `which` for `vars` and sends it to `to` on the email channel. `Ok(false)`: no
/// email provider is configured and SMTP is disabled in the settings, nothing was sent (a
/// warning is logged). A failure is the channel's: `Rejected` (or `Gone`) for good, `Retry`
/// worth another attempt; its text names the server and step, never a credential.
pub async fn send(
    app: &App,
    collection: &Collection,
    which: Template,
    to: &str,
    vars: &Vars,
) -> Result<bool, NotifyError> {
    let Some(channel) = notifications::email_channel(app) else {
        tracing::warn!(
            collection = %collection.name,
            "no email provider is configured and SMTP is disabled in the settings: the {} email was not sent",
            which.name()
        );
        return Ok(false);
    };
    let composed = compose(app, collection, which, vars)
        .await
        .map_err(|e| NotifyError::Retry {
            message: format!("cannot read the {} template: {e}", which.notification_template()),
            after: None,
        })?;
    let message = Message {
        to: Recipient::Email {
            address: to.to_string(),
        },
        subject: Some(composed.subject),
        text: composed.text,
        html: Some(composed.html),
        data: Value::Null,
    };
    channel.send(&message).await?;
    Ok(true)
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
    fn a_collection_template_wins_its_empty_part_filled_from_the_default() {
        let mut c = Collection::default_users();
        assert_eq!(own_template(&c, Template::Verification), None, "no template of its own");
        let opts = c.auth.as_mut().unwrap();
        opts.verification_template = Some(MailTemplate {
            subject: "Custom {APP_NAME}".into(),
            body: " ".into(),
        });
        opts.reset_password_template = Some(MailTemplate {
            subject: " ".into(),
            body: String::new(),
        });
        opts.otp = serde_json::json!({"enabled": true, "emailTemplate": {"subject": "", "body": "<b>{OTP}</b>"}});
        let d = keel_notify::default_templates();
        let v = own_template(&c, Template::Verification).unwrap();
        assert_eq!(
            (v.subject.as_str(), v.body.as_str()),
            ("Custom {APP_NAME}", d.verification.body.as_str())
        );
        let o = own_template(&c, Template::Otp).unwrap();
        assert_eq!(
            (o.subject.as_str(), o.body.as_str()),
            (d.otp.subject.as_str(), "<b>{OTP}</b>")
        );
        assert_eq!(
            own_template(&c, Template::ResetPassword),
            None,
            "a blank template is no template: the notifications template or the default applies"
        );
    }

    #[test]
    fn template_data_links_to_the_page_of_the_flow() {
        let c = Collection::default_users();
        let vars = Vars {
            app_name: "Acme".into(),
            app_url: "https://acme.test/".into(),
            token: "tok.en".into(),
            ..Vars::default()
        };
        let data = template_data(&c, Template::ResetPassword, &vars);
        assert_eq!(
            data["action_url"],
            "https://acme.test/_/#/auth/confirm-password-reset/tok.en"
        );
        assert_eq!(data["collection"], "users");
        assert_eq!(template_data(&c, Template::Otp, &vars)["action_url"], "");
    }
}
