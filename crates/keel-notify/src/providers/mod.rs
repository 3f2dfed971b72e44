//! Channel providers behind keel-core's `Notifier` contract, and [`build`], which turns
//! `[[notify.providers]]` into them.

use std::sync::Arc;

use keel_core::config::NotifyConfig;
use keel_core::notify::Notifier;
use keel_core::outbound::OutboundGuard;
use keel_core::{Error, Result};
use serde_json::{Map, Value};

pub mod apns;
mod chat;
pub mod config;
mod discord;
mod es256;
pub mod fcm;
pub(crate) mod http;
mod mailgun;
mod push_common;
mod sendgrid;
mod ses;
pub mod sigv4;
mod slack;
mod smtp;
mod teams;
mod twilio;
pub mod webpush;

/// The providers `[[notify.providers]]` configures, each checked: a 400 naming
/// `notify.providers[i].key` for a missing, unknown or invalid key (never its value), or a
/// duplicate name.
pub fn build(cfg: &NotifyConfig, outbound: &OutboundGuard) -> Result<Vec<Arc<dyn Notifier>>> {
    let mut out: Vec<Arc<dyn Notifier>> = Vec::new();
    for (i, table) in cfg.providers.iter().enumerate() {
        let at = format!("notify.providers[{i}]");
        let provider = build_one(&at, table, outbound)?;
        if out.iter().any(|p| p.name() == provider.name()) {
            return Err(Error::field(
                format!("{at}.name"),
                "validation_not_unique",
                "another provider has this name; give each a unique name",
            ));
        }
        out.push(provider);
    }
    Ok(out)
}

fn build_one(at: &str, table: &Map<String, Value>, outbound: &OutboundGuard) -> Result<Arc<dyn Notifier>> {
    let kind = table.get("kind").and_then(Value::as_str).unwrap_or_default();
    match kind {
        "webpush" => Ok(Arc::new(webpush::WebPush::from_config(at, table, outbound)?)),
        "fcm" => Ok(Arc::new(fcm::Fcm::from_config(at, table, outbound)?)),
        "apns" => Ok(Arc::new(apns::Apns::from_config(at, table, outbound)?)),
        "smtp" => smtp::build(at, table),
        "ses" => ses::build(at, table, outbound),
        "sendgrid" => sendgrid::build(at, table, outbound),
        "mailgun" => mailgun::build(at, table, outbound),
        "twilio" => twilio::build(at, table, outbound),
        "slack" => slack::build(at, table, outbound),
        "teams" => teams::build(at, table, outbound),
        "discord" => discord::build(at, table, outbound),
        _ => Err(Error::field(
            format!("{at}.kind"),
            "validation_invalid_value",
            "kind must be one of ses, sendgrid, mailgun, smtp, twilio, slack, teams, discord, webpush, fcm, apns",
        )),
    }
}
