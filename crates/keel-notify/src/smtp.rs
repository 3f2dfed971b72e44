//! The SMTP provider of [`Mailer`], on `lettre`, configured like PocketBase's `smtp` settings.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use keel_core::id::{random_string, ID_ALPHABET};
use keel_core::mail::{Address, Mail, Mailer};
use keel_core::{Error, Result};
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

use crate::text::html_to_text;

/// How to authenticate when a username is set (PocketBase's `authMethod`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SmtpAuthMethod {
    /// `AUTH PLAIN` (also what an empty string means).
    #[default]
    #[serde(rename = "PLAIN", alias = "")]
    Plain,
    /// `AUTH LOGIN`.
    #[serde(rename = "LOGIN")]
    Login,
}

/// How the connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Implicit TLS from the first byte (port 465).
    Wrapper,
    /// STARTTLS when the server offers it, plain otherwise (PocketBase's behaviour).
    Opportunistic,
    /// STARTTLS, refusing a server that does not offer it.
    Required,
    /// Plain SMTP (a relay on loopback or a private network).
    None,
}

/// PocketBase's settings `smtp` object, plus `timeoutSecs`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SmtpConfig {
    /// Whether the app sends through SMTP. Read by the wiring; [`SmtpMailer`] ignores it.
    pub enabled: bool,
    pub host: String,
    pub port: u16,
    /// No authentication when empty.
    pub username: String,
    pub password: String,
    pub auth_method: SmtpAuthMethod,
    /// Implicit TLS from the first byte (port 465 style). `false`: plain SMTP, upgraded with
    /// STARTTLS when the server offers it (as PocketBase does); a server that does not offer
    /// it gets the credentials in clear, so use `tls` or a STARTTLS server off loopback.
    pub tls: bool,
    /// The name sent in `EHLO`; empty: this machine's hostname.
    pub local_name: String,
    /// Bound on connecting and on each SMTP command, in seconds.
    pub timeout_secs: u64,
    /// PEM certificates to trust besides the system's (a company CA, or a relay's
    /// self-signed certificate), for both `tls` and STARTTLS. Keel's extension.
    pub ca_cert: String,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            host: "smtp.example.com".into(),
            port: 587,
            username: String::new(),
            password: String::new(),
            auth_method: SmtpAuthMethod::Plain,
            tls: false,
            local_name: String::new(),
            timeout_secs: 10,
            ca_cert: String::new(),
        }
    }
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let password = if self.password.is_empty() { "" } else { "***" };
        f.debug_struct("SmtpConfig")
            .field("enabled", &self.enabled)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &password)
            .field("auth_method", &self.auth_method)
            .field("tls", &self.tls)
            .field("local_name", &self.local_name)
            .field("timeout_secs", &self.timeout_secs)
            .field("ca_cert", &(!self.ca_cert.trim().is_empty()))
            .finish()
    }
}

/// Sends each mail over one new SMTP connection (no pool, no retry).
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    /// `host:port`, for error messages.
    server: String,
    /// Scrubbed from every error text, in case a server echoes it.
    password: String,
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer").field("server", &self.server).finish()
    }
}

impl SmtpMailer {
    /// Builds the transport; connects only when sending. An empty host or a zero port or
    /// timeout is a validation error naming the field.
    pub fn new(cfg: SmtpConfig) -> Result<SmtpMailer> {
        let mode = if cfg.tls {
            TlsMode::Wrapper
        } else {
            TlsMode::Opportunistic
        };
        SmtpMailer::with_tls_mode(cfg, mode)
    }

    /// As [`new`](Self::new), with the TLS behaviour given by `mode` (`cfg.tls` ignored).
    pub fn with_tls_mode(cfg: SmtpConfig, mode: TlsMode) -> Result<SmtpMailer> {
        let host = cfg.host.trim().to_string();
        if host.is_empty() {
            return Err(Error::field(
                "host",
                "validation_required",
                "The SMTP host is required.",
            ));
        }
        if cfg.port == 0 {
            return Err(Error::field(
                "port",
                "validation_required",
                "The SMTP port is required.",
            ));
        }
        if cfg.timeout_secs == 0 {
            return Err(Error::field(
                "timeoutSecs",
                "validation_min_greater_equal",
                "The SMTP timeout must be at least 1 second.",
            ));
        }
        let setup =
            |e: lettre::transport::smtp::Error| Error::internal(format!("setting up TLS for SMTP server {host}: {e}"));
        let mut tls = TlsParameters::builder(host.clone());
        if !cfg.ca_cert.trim().is_empty() {
            let bad = || {
                Error::field(
                    "caCert",
                    "validation_invalid_certificate",
                    "caCert must hold one or more PEM certificates (-----BEGIN CERTIFICATE-----).",
                )
            };
            if !cfg.ca_cert.contains("-----BEGIN CERTIFICATE-----") {
                return Err(bad());
            }
            let cert = Certificate::from_pem(cfg.ca_cert.as_bytes()).map_err(|_| bad())?;
            tls = tls.add_root_certificate(cert);
        }
        let params = tls.build().map_err(setup)?;
        let builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone());
        let builder = match mode {
            TlsMode::Wrapper => builder.tls(Tls::Wrapper(params)),
            TlsMode::Opportunistic => builder.tls(Tls::Opportunistic(params)),
            TlsMode::Required => builder.tls(Tls::Required(params)),
            TlsMode::None => builder.tls(Tls::None),
        };
        let mut builder = builder
            .port(cfg.port)
            .timeout(Some(Duration::from_secs(cfg.timeout_secs)));
        if !cfg.local_name.trim().is_empty() {
            builder = builder.hello_name(ClientId::Domain(cfg.local_name.trim().to_string()));
        }
        if !cfg.username.is_empty() {
            let mechanism = match cfg.auth_method {
                SmtpAuthMethod::Plain => Mechanism::Plain,
                SmtpAuthMethod::Login => Mechanism::Login,
            };
            builder = builder
                .credentials(Credentials::new(cfg.username.clone(), cfg.password.clone()))
                .authentication(vec![mechanism]);
        }
        Ok(SmtpMailer {
            transport: builder.build(),
            server: format!("{host}:{}", cfg.port),
            password: cfg.password,
        })
    }

    /// The error for a failed send: names the server, never the password. A permanent
    /// refusal by the server (an SMTP 5xx reply) is a bad request, not worth retrying; any
    /// other failure (unreachable, timeout, a 4xx "try later") is `Internal`, which callers
    /// may retry.
    fn send_error(&self, cause: lettre::transport::smtp::Error) -> Error {
        let mut text = format!("sending email through SMTP server {} failed: {cause}", self.server);
        if !self.password.is_empty() {
            text = text.replace(&self.password, "***");
        }
        if cause.is_permanent() {
            Error::bad_request(text)
        } else {
            Error::internal(text)
        }
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: &Mail) -> Result<()> {
        let message = build_message(mail)?;
        self.transport.send(message).await.map_err(|e| self.send_error(e))?;
        Ok(())
    }
}

/// Builds the MIME message with lettre's typed builders after [`Mail::validate`].
pub(crate) fn build_message(mail: &Mail) -> Result<Message> {
    mail.validate()?;
    let from = mailbox("from", &mail.from)?;
    // `<random@sender-domain>`: unique, and names no machine of ours.
    let id = format!("<{}@{}>", random_string(24, ID_ALPHABET), from.email.domain());
    let mut builder = Message::builder()
        .message_id(Some(id))
        .from(from)
        .subject(mail.subject.clone());
    for (i, to) in mail.to.iter().enumerate() {
        builder = builder.to(mailbox(&format!("to.{i}"), to)?);
    }
    let text = match &mail.text {
        Some(text) => text.clone(),
        None => html_to_text(&mail.html),
    };
    let body = MultiPart::alternative()
        .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(text))
        .singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_HTML)
                .body(mail.html.clone()),
        );
    builder
        .multipart(body)
        .map_err(|e| Error::bad_request(format!("The email could not be built: {e}")))
}

fn mailbox(field: &str, addr: &Address) -> Result<Mailbox> {
    let email = addr.email.parse::<lettre::Address>().map_err(|_| {
        Error::field(
            format!("{field}.email"),
            "validation_invalid_email",
            "Must be a valid email address.",
        )
    })?;
    Ok(Mailbox::new(addr.name.clone(), email))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_reads_pocketbase_settings_and_hides_the_password() {
        let cfg: SmtpConfig = serde_json::from_value(serde_json::json!({
            "enabled": true, "host": "mail.x.test", "port": 465, "username": "u",
            "password": "s3cret-pw", "authMethod": "LOGIN", "tls": true, "localName": "keel.x.test"
        }))
        .unwrap();
        assert_eq!(cfg.auth_method, SmtpAuthMethod::Login);
        assert!(cfg.tls);
        assert_eq!(cfg.timeout_secs, 10);
        let debug = format!("{cfg:?}");
        assert!(!debug.contains("s3cret-pw"), "{debug}");
        let json = serde_json::to_value(SmtpConfig::default()).unwrap();
        assert_eq!(json["authMethod"], "PLAIN");
        assert_eq!(json["host"], "smtp.example.com");
        assert_eq!(json["port"], 587);
        assert_eq!(json["localName"], "");
    }

    #[test]
    fn an_empty_auth_method_means_plain() {
        let cfg: SmtpConfig = serde_json::from_str(r#"{"authMethod": ""}"#).unwrap();
        assert_eq!(cfg.auth_method, SmtpAuthMethod::Plain);
    }

    #[test]
    fn an_empty_host_is_refused() {
        let cfg = SmtpConfig {
            host: " ".into(),
            ..SmtpConfig::default()
        };
        assert!(matches!(SmtpMailer::new(cfg), Err(Error::BadRequest { .. })));
    }

    #[test]
    fn the_message_has_both_alternatives() {
        let mail = Mail {
            from: Address::named("Keel", "noreply@keel.test"),
            to: vec![Address::new("ann@x.test")],
            subject: "Hi".into(),
            html: "<p>Hello <b>Ann</b></p>".into(),
            text: None,
        };
        let raw = String::from_utf8(build_message(&mail).unwrap().formatted()).unwrap();
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(raw.contains("Hello Ann"), "{raw}");
        assert!(raw.contains("<b>Ann</b>"), "{raw}");
    }
}
