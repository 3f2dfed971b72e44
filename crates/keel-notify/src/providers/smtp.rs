//! Email through an SMTP server, as a `Notifier`: the crate's [`SmtpMailer`] (lettre) with
//! `tls = "starttls"` (the default: STARTTLS required), `"tls"` (implicit TLS, port 465) or
//! `"none"` (plain, for a relay on a trusted network). The server's final `250` is `Ok`; a
//! permanent refusal (SMTP 5xx) or an invalid address is `Rejected`; an unreachable server, a
//! timeout or a temporary refusal (4xx) is `Retry`. SMTP does not go through the outbound
//! guard (it is not HTTP); the operator names the server.

use std::sync::Arc;

use async_trait::async_trait;
use keel_core::mail::{Address, Mail, Mailer};
use keel_core::notify::{Channel, Message, Notifier, NotifyError, Sent};
use keel_core::{Error, Result};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::config::{check_rate, parse, require, Secret};
use super::http::Service;
use crate::smtp::{SmtpConfig, SmtpMailer, TlsMode};
use crate::text_as_html;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SmtpProviderConfig {
    name: String,
    #[allow(dead_code)]
    kind: String,
    #[serde(default)]
    rate_per_second: Option<u32>,
    host: String,
    #[serde(default)]
    port: Option<u16>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<Secret>,
    #[serde(default)]
    tls: Option<String>,
    from: String,
    #[serde(default)]
    from_name: Option<String>,
    /// The name sent in `EHLO` (default: this machine's host name).
    #[serde(default)]
    local_name: Option<String>,
    /// PEM certificates to trust besides the system's (a relay's own CA).
    #[serde(default)]
    ca_cert: Option<String>,
}

pub(crate) struct SmtpNotifier {
    name: String,
    rate: Option<u32>,
    mailer: SmtpMailer,
    from: Address,
    service: Service,
}

pub(crate) fn build(at: &str, table: &Map<String, Value>) -> Result<Arc<dyn Notifier>> {
    let cfg: SmtpProviderConfig = parse(at, table)?;
    require(at, &[("name", &cfg.name), ("host", &cfg.host), ("from", &cfg.from)])?;
    let (mode, default_port) = match cfg.tls.as_deref().map(str::trim) {
        None | Some("starttls") => (TlsMode::Required, 587),
        Some("tls") => (TlsMode::Wrapper, 465),
        Some("none") => (TlsMode::None, 25),
        Some(_) => {
            return Err(Error::field(
                format!("{at}.tls"),
                "validation_invalid_value",
                "tls must be starttls, tls or none",
            ))
        }
    };
    let password = cfg
        .password
        .as_ref()
        .map(|p| p.expose().to_string())
        .unwrap_or_default();
    let smtp = SmtpConfig {
        enabled: true,
        host: cfg.host.trim().to_string(),
        port: cfg.port.unwrap_or(default_port),
        username: cfg.username.clone().unwrap_or_default(),
        password: password.clone(),
        local_name: cfg.local_name.clone().unwrap_or_default(),
        ca_cert: cfg.ca_cert.clone().unwrap_or_default(),
        ..SmtpConfig::default()
    };
    let mailer = SmtpMailer::with_tls_mode(smtp, mode).map_err(|e| match e {
        Error::BadRequest { fields, .. } => {
            let key = match fields.keys().next().map(String::as_str) {
                Some("caCert") => "ca_cert".to_string(),
                Some(k) => k.to_string(),
                None => "host".to_string(),
            };
            Error::field(
                format!("{at}.{key}"),
                "validation_invalid_value",
                format!("invalid {key}"),
            )
        }
        other => other,
    })?;
    Ok(Arc::new(SmtpNotifier {
        name: cfg.name.trim().to_string(),
        rate: check_rate(at, cfg.rate_per_second)?,
        mailer,
        from: Address::named(cfg.from_name.unwrap_or_default(), cfg.from.trim()),
        service: Service::new("SMTP", [password]),
    }))
}

#[async_trait]
impl Notifier for SmtpNotifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn channel(&self) -> Channel {
        Channel::Email
    }

    fn rate_per_second(&self) -> Option<u32> {
        self.rate
    }

    async fn send(&self, message: &Message) -> std::result::Result<Sent, NotifyError> {
        let to = self.service.email_of(message)?;
        let mail = Mail {
            from: self.from.clone(),
            to: vec![Address::new(to)],
            subject: message.subject.clone().unwrap_or_default(),
            html: message.html.clone().unwrap_or_else(|| text_as_html(&message.text)),
            text: Some(message.text.clone()),
        };
        match self.mailer.send(&mail).await {
            Ok(()) => Ok(Sent::default()),
            // A permanent SMTP refusal or an invalid address/subject: not worth a retry.
            Err(e @ Error::BadRequest { .. }) => Err(NotifyError::Rejected(self.service.scrub(&describe(&e)))),
            Err(e) => Err(NotifyError::Retry {
                message: self.service.scrub(&describe(&e)),
                after: None,
            }),
        }
    }
}

/// The error's message and, for a validation error, the fields it names.
fn describe(e: &Error) -> String {
    match e {
        Error::BadRequest { fields, .. } if !fields.is_empty() => {
            let named: Vec<String> = fields.iter().map(|(k, f)| format!("{k}: {}", f.message)).collect();
            format!("SMTP: the message was refused before sending: {}", named.join("; "))
        }
        other => other.to_string(),
    }
}
