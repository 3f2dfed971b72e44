//! The `Mailer` contract: hand one email to a mail server.
//!
//! Callers (verification, password reset, email change, OTP codes, login alerts) hold a
//! provider as `Arc<dyn Mailer>`; the SMTP provider lives in `keel-notify`. The guarantees
//! every provider keeps:
//!
//! - **`Ok(())` means the server accepted the message** for delivery to every recipient
//!   (for SMTP: the final `250` after `DATA`). It says nothing about the recipient's inbox:
//!   delivery past the first server is that server's job.
//! - **No retry inside `send`**: one attempt, bounded by the provider's timeout. A caller that
//!   needs retries (a job queue) retries; a retried send may deliver the message twice.
//! - **Headers cannot be injected**: the subject, the names and the addresses are checked by
//!   [`Mail::validate`] before anything is sent. A CR or LF in any of them, a malformed address
//!   or no recipient is refused with a validation error naming the field
//!   ([`Error::BadRequest`](crate::Error::BadRequest)), and nothing is sent. Providers build
//!   headers through typed builders, never by concatenating strings.
//! - **A failure says whether trying again may help**: an unreachable server, a timeout or a
//!   temporary refusal (SMTP 4xx) is an [`Error::Internal`](crate::Error::Internal), worth a
//!   retry later; a permanent refusal of the message (SMTP 5xx) is an
//!   [`Error::BadRequest`](crate::Error::BadRequest), not worth one. Either text names the
//!   server but never a credential.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{Error, FieldError, FieldErrors, Result};

/// One mailbox: an email address with an optional display name (`"Ann" <ann@x.test>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub name: Option<String>,
    pub email: String,
}

impl Address {
    /// An address without a display name.
    pub fn new(email: impl Into<String>) -> Self {
        Self {
            name: None,
            email: email.into(),
        }
    }

    /// An address with a display name (an empty name counts as none).
    pub fn named(name: impl Into<String>, email: impl Into<String>) -> Self {
        let name = name.into();
        Self {
            name: (!name.is_empty()).then_some(name),
            email: email.into(),
        }
    }
}

/// One email: an HTML body and, optionally, its plain-text alternative.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mail {
    pub from: Address,
    pub to: Vec<Address>,
    pub subject: String,
    pub html: String,
    /// The plain-text alternative. `None`: the provider derives one from `html`.
    pub text: Option<String>,
}

impl Mail {
    /// Checks what would become a header: no recipient, a CR or LF in the subject, a name or
    /// an address, or an address that is not `local@domain` is a validation error naming each
    /// offending field (`subject`, `from.name`, `from.email`, `to`, `to.0.email`, …).
    pub fn validate(&self) -> Result<()> {
        let mut fields = FieldErrors::new();
        if has_line_break(&self.subject) {
            fields.insert("subject".into(), line_break_error());
        }
        check_address(&mut fields, "from", &self.from);
        if self.to.is_empty() {
            fields.insert(
                "to".into(),
                FieldError::new("validation_required", "At least one recipient is required."),
            );
        }
        for (i, to) in self.to.iter().enumerate() {
            check_address(&mut fields, &format!("to.{i}"), to);
        }
        if fields.is_empty() {
            Ok(())
        } else {
            Err(Error::fields(fields))
        }
    }
}

/// Sends email. See the module docs for the guarantees.
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Validates `mail` (see [`Mail::validate`]) and hands it to the server, once.
    /// `Ok(())` means the server accepted it.
    async fn send(&self, mail: &Mail) -> Result<()>;
}

fn has_line_break(s: &str) -> bool {
    s.contains(['\r', '\n'])
}

fn line_break_error() -> FieldError {
    FieldError::new("validation_invalid_header", "Must not contain line breaks (CR or LF).")
}

fn check_address(fields: &mut FieldErrors, prefix: &str, addr: &Address) {
    if addr.name.as_deref().is_some_and(has_line_break) {
        fields.insert(format!("{prefix}.name"), line_break_error());
    }
    if has_line_break(&addr.email) {
        fields.insert(format!("{prefix}.email"), line_break_error());
    } else if !looks_like_email(&addr.email) {
        fields.insert(
            format!("{prefix}.email"),
            FieldError::new("validation_invalid_email", "Must be a valid email address."),
        );
    }
}

/// A cheap shape check (`local@domain`, no spaces or controls); the provider's parser is
/// the strict one.
fn looks_like_email(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail() -> Mail {
        Mail {
            from: Address::named("Keel", "noreply@keel.test"),
            to: vec![Address::new("ann@x.test")],
            subject: "Hello".into(),
            html: "<p>Hi</p>".into(),
            text: None,
        }
    }

    fn fields_of(err: Error) -> Vec<String> {
        match err {
            Error::BadRequest { fields, .. } => fields.into_keys().collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn a_plain_mail_is_valid() {
        assert!(mail().validate().is_ok());
    }

    #[test]
    fn line_breaks_are_refused_naming_each_field() {
        let mut m = mail();
        m.subject = "Hi\r\nBcc: evil@x.test".into();
        m.from.name = Some("Keel\nBcc: evil@x.test".into());
        m.to.push(Address::new("bob@x.test\r\nBcc: evil@x.test"));
        let fields = fields_of(m.validate().unwrap_err());
        assert_eq!(fields, ["from.name", "subject", "to.1.email"]);
    }

    #[test]
    fn no_recipient_and_bad_addresses_are_refused() {
        let mut m = mail();
        m.to.clear();
        m.from.email = "not an address".into();
        assert_eq!(fields_of(m.validate().unwrap_err()), ["from.email", "to"]);
    }

    #[test]
    fn an_empty_name_is_no_name() {
        assert_eq!(Address::named("", "a@x.test").name, None);
    }
}
