//! Amazon SES, v2 API: `POST {base_url}/v2/email/outbound-emails` (`SendEmail`) with a
//! `Simple` content, signed with AWS Signature Version 4 (service `ses`). The default base is
//! `https://email.{region}.amazonaws.com`. SES answers 200 with `{"MessageId"}`; throttling
//! (`TooManyRequestsException`, 429) and 5xx are retried, other 4xx (`MessageRejected`,
//! `BadRequestException`, an unverified sender) are rejected.

use std::sync::Arc;

use async_trait::async_trait;
use keel_core::notify::{Channel, Message, Notifier, NotifyError, Sent};
use keel_core::outbound::OutboundGuard;
use keel_core::Result;
use reqwest::Url;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::config::{check_rate, parse, require, Secret};
use super::http::{check_url, Service};
use super::sigv4;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SesConfig {
    name: String,
    #[allow(dead_code)]
    kind: String,
    #[serde(default)]
    rate_per_second: Option<u32>,
    #[serde(default)]
    base_url: Option<String>,
    region: String,
    access_key_id: String,
    secret_access_key: Secret,
    /// For temporary credentials (`X-Amz-Security-Token`).
    #[serde(default)]
    session_token: Option<Secret>,
    from: String,
    #[serde(default)]
    from_name: Option<String>,
    /// An SES configuration set to send with.
    #[serde(default)]
    configuration_set: Option<String>,
}

pub(crate) struct Ses {
    name: String,
    rate: Option<u32>,
    url: String,
    host: String,
    path: String,
    region: String,
    access_key_id: String,
    secret_access_key: Secret,
    session_token: Option<Secret>,
    from: String,
    configuration_set: Option<String>,
    outbound: OutboundGuard,
    service: Service,
}

pub(crate) fn build(at: &str, table: &Map<String, Value>, outbound: &OutboundGuard) -> Result<Arc<dyn Notifier>> {
    let cfg: SesConfig = parse(at, table)?;
    require(
        at,
        &[
            ("name", &cfg.name),
            ("region", &cfg.region),
            ("access_key_id", &cfg.access_key_id),
            ("secret_access_key", cfg.secret_access_key.expose()),
            ("from", &cfg.from),
        ],
    )?;
    let base = match &cfg.base_url {
        Some(b) => check_url(outbound, at, "base_url", b)?,
        None => check_url(
            outbound,
            at,
            "region",
            &format!("https://email.{}.amazonaws.com", cfg.region.trim()),
        )?,
    };
    let url = format!("{base}/v2/email/outbound-emails");
    let parsed = Url::parse(&url).map_err(|_| super::config::blank(at, "base_url"))?;
    let host = match (parsed.host_str(), parsed.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        (None, _) => return Err(super::config::blank(at, "base_url")),
    };
    let from = match cfg.from_name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        Some(name) => format!(
            "\"{}\" <{}>",
            name.replace(['"', '\\', '\r', '\n'], ""),
            cfg.from.trim()
        ),
        None => cfg.from.trim().to_string(),
    };
    let mut secrets = vec![cfg.secret_access_key.expose().to_string()];
    secrets.extend(cfg.session_token.iter().map(|t| t.expose().to_string()));
    Ok(Arc::new(Ses {
        name: cfg.name.trim().to_string(),
        rate: check_rate(at, cfg.rate_per_second)?,
        path: parsed.path().to_string(),
        url,
        host,
        region: cfg.region.trim().to_string(),
        access_key_id: cfg.access_key_id.trim().to_string(),
        secret_access_key: cfg.secret_access_key,
        session_token: cfg.session_token,
        from,
        configuration_set: cfg.configuration_set.filter(|c| !c.trim().is_empty()),
        outbound: outbound.clone(),
        service: Service::new("SES", secrets),
    }))
}

impl Ses {
    fn body(&self, to: &str, message: &Message) -> Value {
        let mut body = json!({"Text": {"Data": message.text, "Charset": "UTF-8"}});
        if let Some(html) = &message.html {
            body["Html"] = json!({"Data": html, "Charset": "UTF-8"});
        }
        let mut req = json!({
            "FromEmailAddress": self.from,
            "Destination": {"ToAddresses": [to]},
            "Content": {"Simple": {
                "Subject": {"Data": message.subject.clone().unwrap_or_default(), "Charset": "UTF-8"},
                "Body": body,
            }},
        });
        if let Some(set) = &self.configuration_set {
            req["ConfigurationSetName"] = json!(set);
        }
        req
    }
}

#[async_trait]
impl Notifier for Ses {
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
        let body = serde_json::to_vec(&self.body(to, message)).unwrap_or_default();
        let mut signed_headers: Vec<(&str, &str)> = vec![("content-type", "application/json")];
        if let Some(token) = &self.session_token {
            signed_headers.push(("x-amz-security-token", token.expose()));
        }
        let signed = sigv4::sign(
            &sigv4::Credentials {
                access_key_id: &self.access_key_id,
                secret_access_key: self.secret_access_key.expose(),
            },
            &self.region,
            "ses",
            &sigv4::Request {
                method: "POST",
                path: &self.path,
                host: &self.host,
                headers: &signed_headers,
                body: &body,
            },
            chrono::Utc::now(),
        );
        let request = self.outbound.post(&self.url).map(|r| {
            let mut r = r
                .header("content-type", "application/json")
                .header("x-amz-date", &signed.amz_date)
                .header("authorization", &signed.authorization);
            if let Some(token) = &self.session_token {
                r = r.header("x-amz-security-token", token.expose());
            }
            r.body(body)
        });
        let answer = self.service.classify(self.service.exchange(request).await?)?;
        let id = answer
            .json()
            .and_then(|v| v.get("MessageId").and_then(Value::as_str).map(str::to_string));
        Ok(Sent { provider_id: id })
    }
}
