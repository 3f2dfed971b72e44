//! Microsoft Teams incoming webhooks. `format = "adaptive"` (the default) posts what a Teams
//! Workflows ("Post to a channel when a webhook request is received") webhook takes: a
//! `message` with one Adaptive Card attachment (a bold title and the text; `data.card`, an
//! Adaptive Card object, replaces it). `format = "messagecard"` posts a legacy Office 365
//! connector `MessageCard` (`summary`, `title`, `text`). Workflows answer 202, connectors 200.

use std::sync::Arc;

use async_trait::async_trait;
use keel_core::notify::{Channel, Message, Notifier, NotifyError, Sent};
use keel_core::outbound::OutboundGuard;
use keel_core::{Error, Result};
use serde_json::{json, Map, Value};

use super::chat::{Webhook, WebhookConfig};
use super::config::parse;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Adaptive,
    MessageCard,
}

pub(crate) struct Teams {
    hook: Webhook,
    format: Format,
}

pub(crate) fn build(at: &str, table: &Map<String, Value>, outbound: &OutboundGuard) -> Result<Arc<dyn Notifier>> {
    let cfg: WebhookConfig = parse(at, table)?;
    let format = match cfg.format.as_deref().map(str::trim) {
        None | Some("adaptive") => Format::Adaptive,
        Some("messagecard") => Format::MessageCard,
        Some(_) => {
            return Err(Error::field(
                format!("{at}.format"),
                "validation_invalid_value",
                "format must be adaptive or messagecard",
            ))
        }
    };
    Ok(Arc::new(Teams {
        hook: Webhook::new(at, "Teams", &cfg, outbound)?,
        format,
    }))
}

/// The JSON a Teams webhook takes for `message`.
fn payload(format: Format, message: &Message) -> Value {
    let subject = message.subject.as_deref().map(str::trim).filter(|s| !s.is_empty());
    match format {
        Format::MessageCard => {
            let mut card = json!({
                "@type": "MessageCard",
                "@context": "https://schema.org/extensions",
                "summary": subject.unwrap_or(&message.text).chars().take(100).collect::<String>(),
                "text": message.text,
            });
            if let Some(subject) = subject {
                card["title"] = json!(subject);
            }
            card
        }
        Format::Adaptive => {
            let content = match message.data.get("card").filter(|c| c.is_object()) {
                Some(card) => card.clone(),
                None => {
                    let mut body = Vec::new();
                    if let Some(subject) = subject {
                        body.push(json!({"type": "TextBlock", "text": subject, "weight": "Bolder", "size": "Medium", "wrap": true}));
                    }
                    body.push(json!({"type": "TextBlock", "text": message.text, "wrap": true}));
                    json!({
                        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                        "type": "AdaptiveCard",
                        "version": "1.4",
                        "body": body,
                    })
                }
            };
            json!({
                "type": "message",
                "attachments": [{
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "contentUrl": null,
                    "content": content,
                }],
            })
        }
    }
}

#[async_trait]
impl Notifier for Teams {
    fn name(&self) -> &str {
        &self.hook.name
    }

    fn channel(&self) -> Channel {
        Channel::Chat
    }

    fn rate_per_second(&self) -> Option<u32> {
        self.hook.rate
    }

    async fn send(&self, message: &Message) -> std::result::Result<Sent, NotifyError> {
        let hook = &self.hook;
        hook.service.chat_of(message)?;
        let body = payload(self.format, message);
        let request = hook.outbound.post(hook.url.expose()).map(|r| r.json(&body));
        hook.service.classify(hook.service.exchange(request).await?)?;
        Ok(Sent::default())
    }
}
