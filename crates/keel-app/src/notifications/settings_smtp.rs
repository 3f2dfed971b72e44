//! The email channel when no `[[notify.providers]]` email provider is configured: the SMTP
//! server of the settings (`smtp`, the one PocketBase's auth emails use), sender
//! `meta.senderName <meta.senderAddress>`, read at each send so a settings change applies at
//! once. Classified as every provider is: a permanent refusal (SMTP 5xx, a bad address) is
//! `Rejected`, anything else `Retry`.

use std::sync::Arc;

use async_trait::async_trait;
use keel_core::mail::{Address, Mail, Mailer};
use keel_core::notify::{Channel, Message, Notifier, NotifyError, Recipient, Sent};
use keel_notify::{SmtpAuthMethod, SmtpConfig, SmtpMailer};

use crate::Settings;

/// Email through the settings' SMTP server.
pub struct SettingsSmtp {
    settings: Arc<Settings>,
}

impl SettingsSmtp {
    /// The fallback email provider, if the settings enable SMTP.
    pub fn if_enabled(settings: &Arc<Settings>) -> Option<Arc<dyn Notifier>> {
        settings.get().smtp.enabled.then(|| {
            Arc::new(SettingsSmtp {
                settings: settings.clone(),
            }) as Arc<dyn Notifier>
        })
    }
}

#[async_trait]
impl Notifier for SettingsSmtp {
    fn name(&self) -> &str {
        "settings-smtp"
    }

    fn channel(&self) -> Channel {
        Channel::Email
    }

    async fn send(&self, message: &Message) -> Result<Sent, NotifyError> {
        let Recipient::Email { address } = &message.to else {
            return Err(NotifyError::Rejected(
                "the settings' SMTP server takes email recipients only".into(),
            ));
        };
        let settings = self.settings.get();
        if !settings.smtp.enabled {
            return Err(NotifyError::Retry {
                message: "SMTP is disabled in the settings".into(),
                after: None,
            });
        }
        let mail = Mail {
            from: settings_sender(&settings),
            to: vec![Address::new(address.clone())],
            subject: message.subject.clone().unwrap_or_default(),
            html: message
                .html
                .clone()
                .unwrap_or_else(|| keel_notify::text_as_html(&message.text)),
            text: Some(message.text.clone()),
        };
        let sent = match settings_mailer(&settings) {
            Ok(mailer) => mailer.send(&mail).await,
            Err(e) => Err(e),
        };
        match sent {
            Ok(()) => Ok(Sent::default()),
            Err(e @ keel_core::Error::BadRequest { .. }) => Err(NotifyError::Rejected(format!("SMTP: {e}"))),
            Err(e) => Err(NotifyError::Retry {
                message: format!("SMTP: {e}"),
                after: None,
            }),
        }
    }
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
