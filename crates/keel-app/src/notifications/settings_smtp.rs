//! The email channel when no `[[notify.providers]]` email provider is configured: the SMTP
//! server of the settings (`smtp`, the one PocketBase's auth emails use), sender
//! `meta.senderName <meta.senderAddress>`, read at each send so a settings change applies at
//! once. Classified as every provider is: a permanent refusal (SMTP 5xx, a bad address) is
//! `Rejected`, anything else `Retry`.

use std::sync::Arc;

use async_trait::async_trait;
use keel_core::mail::{Address, Mail, Mailer};
use keel_core::notify::{Channel, Message, Notifier, NotifyError, Recipient, Sent};

use crate::auth::mail::{settings_mailer, settings_sender};
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
