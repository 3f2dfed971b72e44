//! Discord webhooks: `POST <webhook_url>?wait=true` with `{"content", "embeds"?}` (`embeds`
//! from the message's `data.embeds`; `content` is cut to Discord's 2000 characters). With
//! `wait=true` Discord answers 200 with the created message, whose `id` is the provider id.
//! A 429 carries `retry_after` (seconds, fractional) in its JSON body, which is honoured.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use keel_core::notify::{Channel, Message, Notifier, NotifyError, Sent};
use keel_core::outbound::OutboundGuard;
use keel_core::{Error, Result};
use reqwest::{StatusCode, Url};
use serde_json::{json, Map, Value};

use super::chat::{with_subject, Webhook, WebhookConfig};
use super::config::{parse, Secret};
use super::http::retry_after;

/// Discord's limit on `content`, in characters.
const MAX_CONTENT: usize = 2000;

pub(crate) struct Discord(Webhook);

pub(crate) fn build(at: &str, table: &Map<String, Value>, outbound: &OutboundGuard) -> Result<Arc<dyn Notifier>> {
    let cfg: WebhookConfig = parse(at, table)?;
    if cfg.format.is_some() {
        return Err(Error::field(
            format!("{at}.format"),
            "validation_invalid_value",
            "unknown key; format is a key of teams only",
        ));
    }
    let mut hook = Webhook::new(at, "Discord", &cfg, outbound)?;
    if let Ok(mut url) = Url::parse(hook.url.expose()) {
        url.query_pairs_mut().append_pair("wait", "true");
        hook.url = Secret::from(url.as_str());
    }
    Ok(Arc::new(Discord(hook)))
}

fn bold(s: &str) -> String {
    format!("**{s}**")
}

#[async_trait]
impl Notifier for Discord {
    fn name(&self) -> &str {
        &self.0.name
    }

    fn channel(&self) -> Channel {
        Channel::Chat
    }

    fn rate_per_second(&self) -> Option<u32> {
        self.0.rate
    }

    async fn send(&self, message: &Message) -> std::result::Result<Sent, NotifyError> {
        let hook = &self.0;
        hook.service.chat_of(message)?;
        let content: String = with_subject(message, bold).chars().take(MAX_CONTENT).collect();
        let mut body = json!({"content": content});
        if let Some(embeds) = message.data.get("embeds").filter(|e| e.is_array()) {
            body["embeds"] = embeds.clone();
        }
        let request = hook.outbound.post(hook.url.expose()).map(|r| r.json(&body));
        let answer = hook.service.exchange(request).await?;
        if answer.status == StatusCode::TOO_MANY_REQUESTS {
            let after = answer
                .json()
                .and_then(|v| v.get("retry_after").and_then(Value::as_f64))
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(Duration::from_secs_f64)
                .or_else(|| retry_after(&answer.headers));
            return Err(hook.service.retry("answered 429 (rate limited)", after));
        }
        let answer = hook.service.classify(answer)?;
        let id = answer
            .json()
            .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_string));
        Ok(Sent { provider_id: id })
    }
}
