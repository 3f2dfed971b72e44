//! The realtime half of the SDK's `authWithOAuth2`: the provider's redirect carries the
//! `state` (the client's id) and the `code`, which are forwarded once to that client's
//! `@oauth2` subscription; the subscription is then dropped.
//!
//! The redirect may land on another process than the one holding the client (behind a load
//! balancer). Then it is published on the event bus as `oauth2.redirect.<state>`; the process
//! holding the client forwards it and answers on `oauth2.ack.<state>` with the outcome, which
//! the redirect waits for (at most [`ACK_WAIT`]; no answer means no process holds the client).

use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use keel_core::bus::{BusDelivery, BusSubscription, EventBus};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::{Message, Realtime};
use crate::App;

/// The subscription topic the SDK listens on.
pub const TOPIC: &str = "@oauth2";

/// The bus topics of redirects handed to another process (`oauth2.redirect.<state>`).
pub const REDIRECT_TOPIC: &str = "oauth2.redirect.";
/// The bus topics of their outcomes (`oauth2.ack.<state>`).
const ACK_TOPIC: &str = "oauth2.ack.";
/// How long a redirect waits for the process holding its client to answer.
pub const ACK_WAIT: Duration = Duration::from_secs(3);

/// What became of a provider's redirect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Redirect {
    /// No live client subscribed to `@oauth2` under that state (unknown, expired or used).
    Refused,
    /// Forwarded, but the provider reported an error or sent no code.
    Failed,
    /// Forwarded: the client finishes the sign-in with the code.
    Forwarded,
}

/// A redirect as it crosses the bus.
#[derive(Serialize, Deserialize)]
struct Handed {
    code: String,
    error: String,
}

/// Forwards a redirect's `state`, `code` and `error` to the client whose id is `state`, on
/// this process or, through the bus, on another one.
pub async fn forward_redirect(app: &App, state: &str, code: &str, error: &str) -> Redirect {
    if state.is_empty() {
        return Redirect::Refused;
    }
    if let Some(outcome) = deliver(&app.realtime, state, code, error) {
        return outcome;
    }
    if app.bus.name() == "local" {
        // One process: nobody else can hold the client.
        return Redirect::Refused;
    }
    hand_over(app.bus.as_ref(), state, code, error)
        .await
        .unwrap_or(Redirect::Refused)
}

/// Publishes the redirect for the other processes and waits for the holder's answer.
async fn hand_over(bus: &dyn EventBus, state: &str, code: &str, error: &str) -> Option<Redirect> {
    let topic = format!("{REDIRECT_TOPIC}{state}");
    let ack_topic = format!("{ACK_TOPIC}{state}");
    // A state that cannot be a topic (odd bytes, too long) is no client's id.
    keel_core::bus::check(&topic, b"").ok()?;
    let mut acks = bus.subscribe(&ack_topic).await.ok()?;
    let handed = Handed {
        code: code.to_string(),
        error: error.to_string(),
    };
    let payload = serde_json::to_vec(&handed).ok()?;
    if let Err(e) = bus.publish(&topic, Bytes::from(payload)).await {
        tracing::warn!(error = %e, "cannot hand an OAuth2 redirect to the other processes");
        return None;
    }
    let wait = async {
        while let Some(d) = acks.recv().await {
            if let BusDelivery::Message(m) = d {
                if m.topic == ack_topic {
                    return serde_json::from_slice::<Redirect>(&m.payload).ok();
                }
            }
        }
        None
    };
    tokio::time::timeout(ACK_WAIT, wait).await.ok().flatten()
}

/// Forwards a redirect to the client `state` if this process holds it (`None` if not).
fn deliver(rt: &Realtime, state: &str, code: &str, error: &str) -> Option<Redirect> {
    let client = rt.client(state).filter(|c| !c.is_closed())?;
    let (subs, _) = client.snapshot();
    let is_oauth2 = |raw: &str| raw.split('?').next() == Some(TOPIC);
    let Some(sub) = subs.iter().find(|s| is_oauth2(&s.raw)) else {
        return Some(Redirect::Refused);
    };
    let mut data = json!({"state": state, "code": code});
    if !error.is_empty() {
        data["error"] = Value::String(error.to_string());
    }
    let sent = client.send(Message::new(client.id(), &sub.raw, data.to_string()));
    client.set_subscriptions(subs.iter().filter(|s| !is_oauth2(&s.raw)).cloned().collect());
    if !sent {
        rt.disconnect(client.id());
        return Some(Redirect::Refused);
    }
    Some(if !error.is_empty() || code.is_empty() {
        Redirect::Failed
    } else {
        Redirect::Forwarded
    })
}

/// Forwards the redirects other processes handed over to the clients this process holds,
/// and answers with the outcome; runs until shutdown or until the bus is gone.
pub(super) async fn run(
    realtime: Weak<Realtime>,
    bus: Arc<dyn EventBus>,
    mut redirects: BusSubscription,
    shutdown: CancellationToken,
) {
    loop {
        let delivery = tokio::select! {
            _ = shutdown.cancelled() => break,
            d = redirects.recv() => d,
        };
        let Some(rt) = realtime.upgrade() else { break };
        let msg = match delivery {
            Some(BusDelivery::Message(m)) => m,
            Some(BusDelivery::Gap) => continue,
            None => break,
        };
        let (Some(state), Ok(handed)) = (
            msg.topic.strip_prefix(REDIRECT_TOPIC),
            serde_json::from_slice::<Handed>(&msg.payload),
        ) else {
            continue;
        };
        let Some(outcome) = deliver(&rt, state, &handed.code, &handed.error) else {
            continue;
        };
        let ack = serde_json::to_vec(&outcome).unwrap_or_default();
        if let Err(e) = bus.publish(&format!("{ACK_TOPIC}{state}"), Bytes::from(ack)).await {
            tracing::warn!(error = %e, "cannot answer a handed-over OAuth2 redirect");
        }
    }
}
