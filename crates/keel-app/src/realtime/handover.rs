//! Requests for a realtime client that landed on another process than the one holding its
//! stream (behind a load balancer): a subscription change, an OAuth2 redirect. The receiving
//! process publishes the request on the event bus as `realtime.to.<clientId>`; the process
//! holding the client carries it out and answers on `realtime.ack.<requestId>`, which the
//! request waits for (at most [`ACK_WAIT`]; no answer means no process holds the client).

use std::time::Duration;

use bytes::Bytes;
use keel_core::bus::{BusDelivery, BusSubscription};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use super::oauth2::Redirect;
use crate::App;

/// The bus topics of handed-over requests (`realtime.to.<clientId>`).
pub const TOPIC: &str = "realtime.to.";
const ACK_TOPIC: &str = "realtime.ack.";
/// How long a handed-over request waits for the process holding its client.
pub const ACK_WAIT: Duration = Duration::from_secs(3);

/// What is asked of the process holding a client.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub(super) enum Request {
    /// Replace the subscriptions (`form` as posted) under the request's raw credential.
    Subscribe {
        credential: Option<String>,
        form: Map<String, Value>,
    },
    /// Forward a provider's redirect to the client's `@oauth2` subscription.
    OAuth2 { code: String, error: String },
}

/// What the holder answers.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) enum Reply {
    Subscribed,
    /// The credential does not match the one bound to the client.
    Forbidden,
    Redirect(Redirect),
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    reply_to: String,
    request: Request,
}

/// Hands `request` to whichever process holds `client_id`; `None` when none answered (or this
/// is the only process).
pub(super) async fn ask(app: &App, client_id: &str, request: Request) -> Option<Reply> {
    if app.bus.name() == "local" {
        return None;
    }
    let topic = format!("{TOPIC}{client_id}");
    // A client id that cannot be a topic (odd bytes, too long) is no client's.
    keel_core::bus::check(&topic, b"").ok()?;
    let reply_to = format!("{ACK_TOPIC}{}", uuid::Uuid::new_v4().simple());
    let mut acks = app.bus.subscribe(&reply_to).await.ok()?;
    let payload = serde_json::to_vec(&Envelope {
        reply_to: reply_to.clone(),
        request,
    })
    .ok()?;
    if let Err(e) = app.bus.publish(&topic, Bytes::from(payload)).await {
        tracing::warn!(error = %e, "cannot hand a realtime request to the other processes");
        return None;
    }
    let wait = async {
        while let Some(d) = acks.recv().await {
            if let BusDelivery::Message(m) = d {
                if m.topic == reply_to {
                    return serde_json::from_slice::<Reply>(&m.payload).ok();
                }
            }
        }
        None
    };
    tokio::time::timeout(ACK_WAIT, wait).await.ok().flatten()
}

/// Carries out the requests other processes handed over for the clients this process holds,
/// and answers; runs until shutdown or until the bus is gone.
pub(super) async fn run(app: App, mut requests: BusSubscription, shutdown: CancellationToken) {
    loop {
        let delivery = tokio::select! {
            _ = shutdown.cancelled() => break,
            d = requests.recv() => d,
        };
        let msg = match delivery {
            Some(BusDelivery::Message(m)) => m,
            Some(BusDelivery::Gap) => continue,
            None => break,
        };
        let (Some(client_id), Ok(envelope)) = (
            msg.topic.strip_prefix(TOPIC),
            serde_json::from_slice::<Envelope>(&msg.payload),
        ) else {
            continue;
        };
        let Some(reply) = carry_out(&app, client_id, envelope.request).await else {
            continue;
        };
        let payload = serde_json::to_vec(&reply).unwrap_or_default();
        if let Err(e) = app.bus.publish(&envelope.reply_to, Bytes::from(payload)).await {
            tracing::warn!(error = %e, "cannot answer a handed-over realtime request");
        }
    }
}

/// `None` when this process does not hold the client (another may).
async fn carry_out(app: &App, client_id: &str, request: Request) -> Option<Reply> {
    let client = app.realtime.client(client_id).filter(|c| !c.is_closed())?;
    match request {
        Request::OAuth2 { code, error } => Some(Reply::Redirect(super::oauth2::deliver(
            &app.realtime,
            &client,
            &code,
            &error,
        ))),
        Request::Subscribe { credential, form } => {
            // The credential was accepted where the request landed; a failure here (revoked
            // in between) binds nothing.
            let caller = crate::caller::resolve(app, credential.as_deref()).await.ok()?;
            let (_, subscriptions) = super::subscribe::check(&form).ok()?;
            Some(match super::subscribe::bind(&client, &caller, subscriptions) {
                Ok(()) => Reply::Subscribed,
                Err(_) => Reply::Forbidden,
            })
        }
    }
}
