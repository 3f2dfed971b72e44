//! The realtime half of the SDK's `authWithOAuth2`: the provider's redirect carries the
//! `state` (the client's id) and the `code`, which are forwarded once to that client's
//! `@oauth2` subscription; the subscription is then dropped.

use serde_json::{json, Value};

use super::Message;
use crate::App;

/// The subscription topic the SDK listens on.
pub const TOPIC: &str = "@oauth2";

/// What became of a provider's redirect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redirect {
    /// No live client subscribed to `@oauth2` under that state (unknown, expired or used).
    Refused,
    /// Forwarded, but the provider reported an error or sent no code.
    Failed,
    /// Forwarded: the client finishes the sign-in with the code.
    Forwarded,
}

/// Forwards a redirect's `state`, `code` and `error` to the client whose id is `state`.
pub fn forward_redirect(app: &App, state: &str, code: &str, error: &str) -> Redirect {
    if state.is_empty() {
        return Redirect::Refused;
    }
    let Some(client) = app.realtime.client(state).filter(|c| !c.is_closed()) else {
        return Redirect::Refused;
    };
    let (subs, _) = client.snapshot();
    let is_oauth2 = |raw: &str| raw.split('?').next() == Some(TOPIC);
    let Some(sub) = subs.iter().find(|s| is_oauth2(&s.raw)) else {
        return Redirect::Refused;
    };
    let mut data = json!({"state": state, "code": code});
    if !error.is_empty() {
        data["error"] = Value::String(error.to_string());
    }
    let sent = client.send(Message::new(client.id(), &sub.raw, data.to_string()));
    client.set_subscriptions(subs.iter().filter(|s| !is_oauth2(&s.raw)).cloned().collect());
    if !sent {
        app.realtime.disconnect(client.id());
        return Redirect::Refused;
    }
    if !error.is_empty() || code.is_empty() {
        Redirect::Failed
    } else {
        Redirect::Forwarded
    }
}
