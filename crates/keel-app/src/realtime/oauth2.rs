//! The realtime half of the SDK's `authWithOAuth2`: the provider's redirect carries the
//! `state` (the client's id) and the `code`, which are forwarded once to that client's
//! `@oauth2` subscription; the subscription is then dropped. A redirect that lands on another
//! process than the one holding the client is handed over through the event bus
//! (`super::handover`).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::handover::{self, Reply, Request};
use super::{Client, Message, Realtime};
use crate::App;

/// The subscription topic the SDK listens on.
pub const TOPIC: &str = "@oauth2";

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

/// Forwards a redirect's `state`, `code` and `error` to the client whose id is `state`, on
/// this process or on the one holding it.
pub async fn forward_redirect(app: &App, state: &str, code: &str, error: &str) -> Redirect {
    if state.is_empty() {
        return Redirect::Refused;
    }
    if let Some(client) = app.realtime.client(state).filter(|c| !c.is_closed()) {
        return deliver(&app.realtime, &client, code, error);
    }
    let request = Request::OAuth2 {
        code: code.to_string(),
        error: error.to_string(),
    };
    match handover::ask(app, state, request).await {
        Some(Reply::Redirect(outcome)) => outcome,
        _ => Redirect::Refused,
    }
}

/// Forwards a redirect to `client`, held by this process.
pub(super) fn deliver(rt: &Realtime, client: &Arc<Client>, code: &str, error: &str) -> Redirect {
    let (subs, _) = client.snapshot();
    let is_oauth2 = |raw: &str| raw.split('?').next() == Some(TOPIC);
    let Some(sub) = subs.iter().find(|s| is_oauth2(&s.raw)) else {
        return Redirect::Refused;
    };
    let mut data = json!({"state": client.id(), "code": code});
    if !error.is_empty() {
        data["error"] = Value::String(error.to_string());
    }
    let sent = client.send(Message::new(client.id(), &sub.raw, data.to_string()));
    client.set_subscriptions(subs.iter().filter(|s| !is_oauth2(&s.raw)).cloned().collect());
    if !sent {
        rt.disconnect(client.id());
        return Redirect::Refused;
    }
    if !error.is_empty() || code.is_empty() {
        Redirect::Failed
    } else {
        Redirect::Forwarded
    }
}
