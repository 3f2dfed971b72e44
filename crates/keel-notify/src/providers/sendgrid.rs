//! SendGrid, v3 Mail Send API: `POST {base_url}/v3/mail/send` with `Authorization: Bearer
//! <api_key>` and a JSON body (`personalizations`, `from`, `subject`, `content` with the text
//! and, when there is one, the HTML part). SendGrid answers `202 Accepted` with the message's
//! id in `X-Message-Id`. The default base is `https://api.sendgrid.com` (EU subusers:
//! `https://api.eu.sendgrid.com`).

use std::sync::Arc;

use async_trait::async_trait;
use keel_core::notify::{Channel, Message, Notifier, NotifyError, Sent};
use keel_core::outbound::OutboundGuard;
use keel_core::Result;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::config::{check_rate, parse, require, Secret};
use super::http::{check_url, Service};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SendgridConfig {
    name: String,
    #[allow(dead_code)]
    kind: String,
    #[serde(default)]
    rate_per_second: Option<u32>,
    #[serde(default)]
    base_url: Option<String>,
    api_key: Secret,
    from: String,
    #[serde(default)]
    from_name: Option<String>,
}

pub(crate) struct Sendgrid {
    name: String,
    rate: Option<u32>,
    url: String,
    api_key: Secret,
    from: Value,
    outbound: OutboundGuard,
    service: Service,
}

pub(crate) fn build(at: &str, table: &Map<String, Value>, outbound: &OutboundGuard) -> Result<Arc<dyn Notifier>> {
    let cfg: SendgridConfig = parse(at, table)?;
    require(
        at,
        &[
            ("name", &cfg.name),
            ("api_key", cfg.api_key.expose()),
            ("from", &cfg.from),
        ],
    )?;
    let base = check_url(
        outbound,
        at,
        "base_url",
        cfg.base_url.as_deref().unwrap_or("https://api.sendgrid.com"),
    )?;
    let mut from = json!({"email": cfg.from.trim()});
    if let Some(name) = cfg.from_name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        from["name"] = json!(name);
    }
    Ok(Arc::new(Sendgrid {
        name: cfg.name.trim().to_string(),
        rate: check_rate(at, cfg.rate_per_second)?,
        url: format!("{base}/v3/mail/send"),
        service: Service::new("SendGrid", [cfg.api_key.expose().to_string()]),
        api_key: cfg.api_key,
        from,
        outbound: outbound.clone(),
    }))
}

#[async_trait]
impl Notifier for Sendgrid {
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
        let mut content = vec![json!({"type": "text/plain", "value": message.text})];
        if let Some(html) = &message.html {
            content.push(json!({"type": "text/html", "value": html}));
        }
        let body = json!({
            "personalizations": [{"to": [{"email": to}]}],
            "from": self.from,
            "subject": message.subject.clone().unwrap_or_default(),
            "content": content,
        });
        let request = self
            .outbound
            .post(&self.url)
            .map(|r| r.bearer_auth(self.api_key.expose()).json(&body));
        let answer = self.service.classify(self.service.exchange(request).await?)?;
        let id = answer
            .headers
            .get("x-message-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Ok(Sent { provider_id: id })
    }
}
