//! PocketBase-style email templates: a `{subject, body}` pair with placeholders.
//!
//! Placeholders: `{APP_NAME}`, `{APP_URL}`, `{TOKEN}`, `{OTP}`, `{OTP_ID}`, `{ALERT_INFO}`
//! and `{RECORD:field}` (any field of the auth record, e.g. `{RECORD:email}`). An unknown
//! placeholder, or a `{RECORD:…}` the record lacks, renders as an empty string.
//!
//! Substitution is one pass over the template: a value that itself contains `{TOKEN}` is
//! not expanded again. Values are HTML-escaped in the body; in the subject, line breaks
//! (and other control characters) are removed so a value cannot start a new header.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One template, shaped like PocketBase's collection options `verificationTemplate`,
/// `resetPasswordTemplate`, `confirmEmailChangeTemplate`, `otp.emailTemplate` and
/// `authAlert.emailTemplate`. The body is HTML.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EmailTemplate {
    pub subject: String,
    pub body: String,
}

impl EmailTemplate {
    pub fn new(subject: impl Into<String>, body: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            body: body.into(),
        }
    }
}

/// The values of the placeholders. Empty strings where a flow has no such value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Vars {
    pub app_name: String,
    pub app_url: String,
    pub token: String,
    pub otp: String,
    pub otp_id: String,
    pub alert_info: String,
    /// The auth record's fields, for `{RECORD:field}`. Strings render as they are, `null`
    /// as nothing, other JSON values as JSON.
    pub record: Map<String, Value>,
}

/// A rendered template, ready to become a [`Mail`](keel_core::mail::Mail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedMail {
    pub subject: String,
    pub html: String,
}

/// The default templates of an auth collection, as PocketBase ships them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultTemplates {
    pub verification: EmailTemplate,
    pub reset_password: EmailTemplate,
    pub confirm_email_change: EmailTemplate,
    pub otp: EmailTemplate,
    pub auth_alert: EmailTemplate,
}

/// Renders `template` with `vars` (see the module docs).
pub fn render(template: &EmailTemplate, vars: &Vars) -> RenderedMail {
    let subject = substitute(&template.subject, vars, |v| {
        v.chars().filter(|c| !c.is_control()).collect()
    });
    RenderedMail {
        // A line break typed into the template's subject would be refused by the mailer.
        subject: subject.replace(['\r', '\n'], " "),
        html: substitute(&template.body, vars, escape_html),
    }
}

fn substitute(template: &str, vars: &Vars, encode: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find(['}', '{']) {
            Some(close) if after.as_bytes()[close] == b'}' => {
                let key = &after[..close];
                match lookup(key, vars) {
                    Some(value) => out.push_str(&encode(&value)),
                    None => {
                        out.push('{');
                        out.push_str(key);
                        out.push('}');
                    }
                }
                rest = &after[close + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The value of a placeholder, `None` when `key` is not one (then the text stays as typed).
fn lookup(key: &str, vars: &Vars) -> Option<String> {
    let value = match key {
        "APP_NAME" => vars.app_name.clone(),
        "APP_URL" => vars.app_url.trim_end_matches('/').to_string(),
        "TOKEN" => vars.token.clone(),
        "OTP" => vars.otp.clone(),
        "OTP_ID" => vars.otp_id.clone(),
        "ALERT_INFO" => vars.alert_info.clone(),
        _ => {
            let field = key.strip_prefix("RECORD:")?;
            match vars.record.get(field) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            }
        }
    };
    Some(value)
}

/// Escapes the five characters that matter in HTML text and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// PocketBase's default subjects and links; the wording of the bodies is Keel's.
pub fn default_templates() -> DefaultTemplates {
    let sign_off = "<p>\n  Thanks,<br/>\n  The {APP_NAME} team\n</p>";
    let button = |path: &str, label: &str| {
        format!(
            "<p>\n  <a class=\"btn\" href=\"{{APP_URL}}/_/#/auth/{path}/{{TOKEN}}\" \
             target=\"_blank\" rel=\"noopener\">{label}</a>\n</p>"
        )
    };
    let body = |parts: &[&str]| format!("<p>Hello,</p>\n{}\n{sign_off}", parts.join("\n"));
    DefaultTemplates {
        verification: EmailTemplate::new(
            "Verify your {APP_NAME} email",
            body(&[
                "<p>Welcome to {APP_NAME}.</p>",
                "<p>Please confirm that this is your email address with the button below.</p>",
                &button("confirm-verification", "Verify"),
            ]),
        ),
        reset_password: EmailTemplate::new(
            "Reset your {APP_NAME} password",
            body(&[
                "<p>Use the button below to choose a new password.</p>",
                &button("confirm-password-reset", "Reset password"),
                "<p><i>If you did not ask for a password reset, you can ignore this email.</i></p>",
            ]),
        ),
        confirm_email_change: EmailTemplate::new(
            "Confirm your {APP_NAME} new email address",
            body(&[
                "<p>Use the button below to confirm your new email address.</p>",
                &button("confirm-email-change", "Confirm new email"),
                "<p><i>If you did not ask to change your email address, you can ignore this email.</i></p>",
            ]),
        ),
        otp: EmailTemplate::new(
            "OTP for {APP_NAME}",
            body(&[
                "<p>Your one-time password is: <strong>{OTP}</strong></p>",
                "<p><i>If you did not ask for a one-time password, you can ignore this email.</i></p>",
            ]),
        ),
        auth_alert: EmailTemplate::new(
            "Login from a new location",
            body(&[
                "<p>Someone signed in to your {APP_NAME} account from a new location:</p>",
                "<p><em>{ALERT_INFO}</em></p>",
                "<p><strong>If this was not you, change your {APP_NAME} password right away: \
                 that signs out every other location.</strong></p>",
                "<p>If it was you, there is nothing to do.</p>",
            ]),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars() -> Vars {
        let mut record = Map::new();
        record.insert("email".into(), json!("ann@x.test"));
        record.insert("name".into(), json!("<script>alert(1)</script>"));
        record.insert("age".into(), json!(42));
        Vars {
            app_name: "Acme & Co".into(),
            app_url: "https://acme.test/".into(),
            token: "tok.en".into(),
            otp: "123456".into(),
            otp_id: "otp1".into(),
            alert_info: "Firefox on Linux".into(),
            record,
        }
    }

    #[test]
    fn every_placeholder_is_substituted() {
        let t = EmailTemplate::new(
            "{APP_NAME}: {RECORD:email}",
            "{APP_NAME}|{APP_URL}|{TOKEN}|{OTP}|{OTP_ID}|{ALERT_INFO}|{RECORD:email}|{RECORD:age}|{RECORD:missing}",
        );
        let out = render(&t, &vars());
        assert_eq!(out.subject, "Acme & Co: ann@x.test");
        assert_eq!(
            out.html,
            "Acme &amp; Co|https://acme.test|tok.en|123456|otp1|Firefox on Linux|ann@x.test|42|"
        );
    }

    #[test]
    fn record_fields_are_html_escaped_in_the_body() {
        let t = EmailTemplate::new("Hi {RECORD:name}", "<p>Hi {RECORD:name}</p>");
        let out = render(&t, &vars());
        assert_eq!(out.html, "<p>Hi &lt;script&gt;alert(1)&lt;/script&gt;</p>");
        assert!(!out.html.contains("<script>"));
        // The subject is a header, not HTML: no escaping, but no line breaks either.
        assert_eq!(out.subject, "Hi <script>alert(1)</script>");
    }

    #[test]
    fn line_breaks_in_values_never_reach_the_subject() {
        let mut v = vars();
        v.record.insert("name".into(), json!("Ann\r\nBcc: evil@x.test"));
        let out = render(&EmailTemplate::new("Hi {RECORD:name}", ""), &v);
        assert_eq!(out.subject, "Hi AnnBcc: evil@x.test");
    }

    #[test]
    fn values_are_not_expanded_twice_and_unknown_braces_stay() {
        let mut v = vars();
        v.record.insert("name".into(), json!("{TOKEN}"));
        let out = render(&EmailTemplate::new("", "{RECORD:name} {NOPE} {a {OTP} }"), &v);
        assert_eq!(out.html, "{TOKEN} {NOPE} {a 123456 }");
    }

    #[test]
    fn defaults_link_to_pocketbase_paths_and_render_fully() {
        let d = default_templates();
        let v = vars();
        let verify = render(&d.verification, &v);
        assert_eq!(verify.subject, "Verify your Acme & Co email");
        assert!(verify
            .html
            .contains("href=\"https://acme.test/_/#/auth/confirm-verification/tok.en\""));
        let reset = render(&d.reset_password, &v).html;
        assert!(reset.contains("/_/#/auth/confirm-password-reset/tok.en"));
        let change = render(&d.confirm_email_change, &v).html;
        assert!(change.contains("/_/#/auth/confirm-email-change/tok.en"));
        assert!(render(&d.otp, &v).html.contains("<strong>123456</strong>"));
        assert!(render(&d.auth_alert, &v).html.contains("<em>Firefox on Linux</em>"));
        for t in [
            d.verification,
            d.reset_password,
            d.confirm_email_change,
            d.otp,
            d.auth_alert,
        ] {
            let out = render(&t, &v);
            assert!(!out.html.contains('{') && !out.subject.contains('{'), "{out:?}");
        }
    }
}
