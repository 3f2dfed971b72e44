//! Slack incoming webhooks: `POST <webhook_url>` with `{"text", "blocks"?}` (`blocks` from the
//! message's `data.blocks`; `text` stays as the notification's fallback). Slack answers
//! `200 ok`; errors are plain-text codes (`400 invalid_payload`, `403 action_prohibited`,
//! `404 channel_not_found`, `410 channel_is_archived`), rate limiting a 429 with `Retry-After`.

use std::sync::Arc;

use async_trait::async_trait;
use keel_core::notify::{Channel, Message, Notifier, NotifyError, Sent};
use keel_core::outbound::OutboundGuard;
use keel_core::{Error, Result};
use serde_json::{json, Map, Value};

use super::chat::{with_subject, Webhook, WebhookConfig};
use super::config::parse;

pub(crate) struct Slack(Webhook);

pub(crate) fn build(at: &str, table: &Map<String, Value>, outbound: &OutboundGuard) -> Result<Arc<dyn Notifier>> {
    let cfg: WebhookConfig = parse(at, table)?;
    if cfg.format.is_some() {
        return Err(Error::field(
            format!("{at}.format"),
            "validation_invalid_value",
            "unknown key; format is a key of teams only",
        ));
    }
    Ok(Arc::new(Slack(Webhook::new(at, "Slack", &cfg, outbound)?)))
}

/// Slack's `mrkdwn` bold.
fn bold(s: &str) -> String {
    format!("*{s}*")
}

#[async_trait]
impl Notifier for Slack {
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
        let channel = hook.service.chat_of(message)?;
        let mut body = json!({"text": with_subject(message, bold)});
        if let Some(blocks) = message.data.get("blocks").filter(|b| b.is_array()) {
            body["blocks"] = blocks.clone();
        }
        if let Some(channel) = channel {
            body["channel"] = json!(channel);
        }
        let request = hook.outbound.post(hook.url.expose()).map(|r| r.json(&body));
        hook.service.classify(hook.service.exchange(request).await?)?;
        Ok(Sent::default())
    }
}
