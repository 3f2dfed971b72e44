//! What the chat providers (Slack, Teams, Discord) share: the incoming-webhook config (the
//! URL is the credential: checked when built, scrubbed from every error, never logged) and
//! the line that carries a message's subject.

use keel_core::notify::Message;
use keel_core::outbound::OutboundGuard;
use keel_core::Result;
use reqwest::Url;
use serde::Deserialize;

use super::config::{blank, check_rate, Secret};
use super::http::{check_url, Service};

/// The keys of the chat providers (`format` is Teams' own: Slack and Discord refuse it).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebhookConfig {
    pub name: String,
    #[allow(dead_code)]
    pub kind: String,
    #[serde(default)]
    pub rate_per_second: Option<u32>,
    pub webhook_url: Secret,
    /// Teams only: `adaptive` (default) or `messagecard`.
    #[serde(default)]
    pub format: Option<String>,
}

/// A checked webhook: its provider name, rate, URL and the `Service` that scrubs it.
pub(crate) struct Webhook {
    pub name: String,
    pub rate: Option<u32>,
    pub url: Secret,
    pub outbound: OutboundGuard,
    pub service: Service,
}

impl Webhook {
    pub fn new(at: &str, label: &'static str, cfg: &WebhookConfig, outbound: &OutboundGuard) -> Result<Webhook> {
        if cfg.name.trim().is_empty() {
            return Err(blank(at, "name"));
        }
        if cfg.webhook_url.expose().trim().is_empty() {
            return Err(blank(at, "webhook_url"));
        }
        let url = check_url(outbound, at, "webhook_url", cfg.webhook_url.expose())?;
        let mut secrets = vec![url.clone(), cfg.webhook_url.expose().trim().to_string()];
        if let Ok(parsed) = Url::parse(&url) {
            secrets.push(parsed.path().to_string());
            if let Some(last) = parsed.path_segments().and_then(|mut s| s.next_back()) {
                secrets.push(last.to_string());
            }
        }
        Ok(Webhook {
            name: cfg.name.trim().to_string(),
            rate: check_rate(at, cfg.rate_per_second)?,
            url: Secret::from(url.as_str()),
            outbound: outbound.clone(),
            service: Service::new(label, secrets),
        })
    }
}

/// The message as one text: `subject` (in `bold`'s markup) on its own line, then the text.
pub(crate) fn with_subject(message: &Message, bold: fn(&str) -> String) -> String {
    match message.subject.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(subject) if message.text.trim().is_empty() => bold(subject),
        Some(subject) => format!("{}\n{}", bold(subject), message.text),
        None => message.text.clone(),
    }
}
