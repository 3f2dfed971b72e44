//! Twilio Programmable Messaging: `POST {base_url}/2010-04-01/Accounts/{account_sid}/Messages.json`,
//! form-encoded (`To`, `From` or `MessagingServiceSid`, `Body`), HTTP Basic
//! `account_sid:auth_token`. Twilio answers 201 with the message resource; its `sid` is the
//! provider id. An error answer is `{"code", "message", "more_info", "status"}`: code 21211
//! (invalid `To`) and 21614 (not a mobile number) are rejected, 429 (code 20429) is retried.
//! The default base is `https://api.twilio.com`.

use std::sync::Arc;

use async_trait::async_trait;
use keel_core::notify::{Channel, Message, Notifier, NotifyError, Sent};
use keel_core::outbound::OutboundGuard;
use keel_core::{Error, Result};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::config::{check_rate, nonblank, parse, require, Secret};
use super::http::{check_url, Service};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TwilioConfig {
    name: String,
    #[allow(dead_code)]
    kind: String,
    #[serde(default)]
    rate_per_second: Option<u32>,
    #[serde(default)]
    base_url: Option<String>,
    account_sid: String,
    auth_token: Secret,
    /// The sending number (E.164) …
    #[serde(default)]
    from: Option<String>,
    /// … or a Messaging Service that picks one.
    #[serde(default)]
    messaging_service_sid: Option<String>,
}

pub(crate) struct Twilio {
    name: String,
    rate: Option<u32>,
    url: String,
    account_sid: String,
    auth_token: Secret,
    /// `("From", number)` or `("MessagingServiceSid", sid)`.
    sender: (&'static str, String),
    outbound: OutboundGuard,
    service: Service,
}

pub(crate) fn build(at: &str, table: &Map<String, Value>, outbound: &OutboundGuard) -> Result<Arc<dyn Notifier>> {
    let cfg: TwilioConfig = parse(at, table)?;
    require(
        at,
        &[
            ("name", &cfg.name),
            ("account_sid", &cfg.account_sid),
            ("auth_token", cfg.auth_token.expose()),
        ],
    )?;
    let sid = cfg.account_sid.trim();
    if !sid.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(Error::field(
            format!("{at}.account_sid"),
            "validation_invalid_value",
            "account_sid must be letters and digits (AC…)",
        ));
    }
    let sender = match (nonblank(&cfg.messaging_service_sid), nonblank(&cfg.from)) {
        (Some(service), _) => ("MessagingServiceSid", service),
        (None, Some(from)) => ("From", from),
        (None, None) => {
            return Err(Error::field(
                format!("{at}.from"),
                "validation_required",
                "set from (a Twilio number) or messaging_service_sid",
            ))
        }
    };
    let base = check_url(
        outbound,
        at,
        "base_url",
        cfg.base_url.as_deref().unwrap_or("https://api.twilio.com"),
    )?;
    Ok(Arc::new(Twilio {
        name: cfg.name.trim().to_string(),
        rate: check_rate(at, cfg.rate_per_second)?,
        url: format!("{base}/2010-04-01/Accounts/{sid}/Messages.json"),
        account_sid: sid.to_string(),
        service: Service::new("Twilio", [cfg.auth_token.expose().to_string()]),
        auth_token: cfg.auth_token,
        sender,
        outbound: outbound.clone(),
    }))
}

/// Twilio error codes that mean "this message to this number will never go".
const REJECTED_CODES: [i64; 4] = [21211, 21408, 21610, 21614];

#[async_trait]
impl Notifier for Twilio {
    fn name(&self) -> &str {
        &self.name
    }

    fn channel(&self) -> Channel {
        Channel::Sms
    }

    fn rate_per_second(&self) -> Option<u32> {
        self.rate
    }

    async fn send(&self, message: &Message) -> std::result::Result<Sent, NotifyError> {
        let to = self.service.phone_of(message)?;
        let form = [
            ("To", to),
            (self.sender.0, self.sender.1.as_str()),
            ("Body", message.text.as_str()),
        ];
        let request = self.outbound.post(&self.url).map(|r| {
            r.basic_auth(&self.account_sid, Some(self.auth_token.expose()))
                .form(&form)
        });
        let answer = self.service.exchange(request).await?;
        if !answer.status.is_success() {
            if let Some(err) = answer.json() {
                let code = err.get("code").and_then(Value::as_i64).unwrap_or_default();
                let text = err.get("message").and_then(Value::as_str).unwrap_or_default();
                if REJECTED_CODES.contains(&code) {
                    return Err(self.service.rejected(&format!(
                        "answered {} (error {code}){}",
                        answer.status.as_u16(),
                        self.service.excerpt(text.as_bytes())
                    )));
                }
            }
        }
        let answer = self.service.classify(answer)?;
        let id = answer
            .json()
            .and_then(|v| v.get("sid").and_then(Value::as_str).map(str::to_string));
        Ok(Sent { provider_id: id })
    }
}
