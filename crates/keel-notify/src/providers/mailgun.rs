//! Mailgun, Messages API: `POST {base_url}/v3/{domain}/messages`, form-encoded (`from`, `to`,
//! `subject`, `text`, `html`), HTTP Basic `api:<api_key>`. Mailgun answers 200 with
//! `{"id": "<…>", "message": "Queued. Thank you."}`. The default base is
//! `https://api.mailgun.net`; a domain in Mailgun's EU region uses `https://api.eu.mailgun.net`.

use std::sync::Arc;

use async_trait::async_trait;
use keel_core::notify::{Channel, Message, Notifier, NotifyError, Sent};
use keel_core::outbound::OutboundGuard;
use keel_core::{Error, Result};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::config::{check_rate, parse, require, Secret};
use super::http::{check_url, Service};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MailgunConfig {
    name: String,
    #[allow(dead_code)]
    kind: String,
    #[serde(default)]
    rate_per_second: Option<u32>,
    #[serde(default)]
    base_url: Option<String>,
    domain: String,
    api_key: Secret,
    from: String,
}

pub(crate) struct Mailgun {
    name: String,
    rate: Option<u32>,
    url: String,
    api_key: Secret,
    from: String,
    outbound: OutboundGuard,
    service: Service,
}

pub(crate) fn build(at: &str, table: &Map<String, Value>, outbound: &OutboundGuard) -> Result<Arc<dyn Notifier>> {
    let cfg: MailgunConfig = parse(at, table)?;
    require(
        at,
        &[
            ("name", &cfg.name),
            ("domain", &cfg.domain),
            ("api_key", cfg.api_key.expose()),
            ("from", &cfg.from),
        ],
    )?;
    let domain = cfg.domain.trim();
    if !domain
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    {
        return Err(Error::field(
            format!("{at}.domain"),
            "validation_invalid_value",
            "domain must be a domain name (letters, digits, dots and hyphens)",
        ));
    }
    let base = check_url(
        outbound,
        at,
        "base_url",
        cfg.base_url.as_deref().unwrap_or("https://api.mailgun.net"),
    )?;
    Ok(Arc::new(Mailgun {
        name: cfg.name.trim().to_string(),
        rate: check_rate(at, cfg.rate_per_second)?,
        url: format!("{base}/v3/{domain}/messages"),
        service: Service::new("Mailgun", [cfg.api_key.expose().to_string()]),
        api_key: cfg.api_key,
        from: cfg.from.trim().to_string(),
        outbound: outbound.clone(),
    }))
}

#[async_trait]
impl Notifier for Mailgun {
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
        let mut form: Vec<(&str, &str)> = vec![
            ("from", &self.from),
            ("to", to),
            ("subject", message.subject.as_deref().unwrap_or_default()),
            ("text", &message.text),
        ];
        if let Some(html) = &message.html {
            form.push(("html", html));
        }
        let request = self
            .outbound
            .post(&self.url)
            .map(|r| r.basic_auth("api", Some(self.api_key.expose())).form(&form));
        let answer = self.service.classify(self.service.exchange(request).await?)?;
        let id = answer
            .json()
            .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_string));
        Ok(Sent { provider_id: id })
    }
}
