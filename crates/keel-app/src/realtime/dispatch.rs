//! The broker task: turns committed record changes into messages for the clients whose
//! subscriptions match and whose auth passes the collection's rule.
//!
//! `COLLECTION/*` is checked against the list rule, `COLLECTION/ID` against the view rule
//! (`null` → superusers only, `""` → everyone), then against the subscription's own `filter`.
//! The message is the SSE event named by the subscription string as the client sent it, with
//! data `{"action", "record"}`; the record is shown as that client may see it, with the
//! subscription's `expand` and `fields` applied.

use std::sync::{Arc, Weak};

use super::Message;
use keel_core::bus::{BusDelivery, BusSubscription};
use keel_core::events::{RecordAction, RecordEvent};
use keel_data::{system, Collection, Record, RequestInfo, Store};
use serde_json::{json, Map, Value};
use tokio_util::sync::CancellationToken;

use super::{Realtime, Subscription, Target};
use crate::serialize::{pick_fields, record_json};
use crate::Caller;

/// Consumes the bus's `records.*` messages until shutdown or until the bus is gone.
pub(super) async fn run(
    realtime: Weak<Realtime>,
    store: Arc<Store>,
    mut events: BusSubscription,
    shutdown: CancellationToken,
) {
    loop {
        let delivery = tokio::select! {
            _ = shutdown.cancelled() => break,
            d = events.recv() => d,
        };
        let Some(rt) = realtime.upgrade() else { break };
        match delivery {
            Some(BusDelivery::Message(msg)) => match serde_json::from_slice::<RecordEvent>(&msg.payload) {
                Ok(event) => dispatch(&rt, &store, &event).await,
                Err(e) => tracing::warn!(error = %e, topic = %msg.topic, "unreadable record event on the event bus"),
            },
            Some(BusDelivery::Gap) => {
                // Changes may have been missed: whoever a client is may have changed.
                tracing::warn!("realtime broker may have missed record events; re-checking every client's auth");
                recheck_callers(&rt.snapshot(), &store).await;
            }
            None => break,
        }
    }
    tracing::debug!("realtime broker stopped");
}

/// Re-reads what every client's caller rests on (its auth record and token key, its API
/// key, its roles), when the events that would have told may have been missed.
pub(super) async fn recheck_callers(clients: &[Arc<super::Client>], store: &Arc<Store>) {
    let current = |collection: String, id: String| async move {
        let col = store.collection(&collection).ok()?;
        let req = RequestInfo::default();
        let r = store.get_record(&col, &id, &req, keel_data::Access::Superuser).await;
        r.ok().map(|r| r.data)
    };
    for c in clients {
        let caller = c.caller();
        if let Some(a) = &caller.auth {
            let now = current(a.collection.id.clone(), a.id().to_string()).await;
            c.refresh_auth(&a.collection.id, a.id(), now.as_ref());
        }
        if let Some(k) = &caller.api_key {
            let now = current(system::API_KEYS.to_string(), k.id.clone()).await;
            let live = now
                .as_ref()
                .filter(|r| !r.get("revoked").and_then(Value::as_bool).unwrap_or(false))
                .and_then(|r| r.get("hash").and_then(Value::as_str));
            c.drop_api_key(&k.id, live);
        }
    }
    refresh_roles(clients, store).await;
}

/// Delivers one event to every matching client.
pub(super) async fn dispatch(rt: &Realtime, store: &Arc<Store>, event: &RecordEvent) {
    let Ok(collection) = store.collection(&event.collection_id) else {
        return;
    };
    let record_id = event.record.get("id").and_then(Value::as_str).unwrap_or("");
    let clients = rt.snapshot();

    if collection.is_auth() && event.action != RecordAction::Create {
        let update = (event.action == RecordAction::Update).then_some(&event.record);
        for c in &clients {
            c.refresh_auth(&collection.id, record_id, update);
        }
    }
    if collection.name == keel_data::system::API_KEYS && event.action != RecordAction::Create {
        // A revoked, rotated or deleted key stops being the clients' caller: only a client
        // whose key still hashes to the stored hash of a live key keeps it.
        let live_hash = (event.action == RecordAction::Update
            && !event.record.get("revoked").and_then(Value::as_bool).unwrap_or(false))
        .then(|| event.record.get("hash").and_then(Value::as_str))
        .flatten();
        for c in &clients {
            c.drop_api_key(record_id, live_hash);
        }
    }

    let roles_changed = matches!(collection.name.as_str(), system::ROLES | system::ROLE_ASSIGNMENTS)
        || (collection.name == system::API_KEYS && event.action == RecordAction::Update);
    if roles_changed {
        refresh_roles(&clients, store).await;
    }

    for client in clients {
        if client.is_closed() {
            continue;
        }
        let (subs, caller) = client.snapshot_caller();
        for sub in subs.iter().filter(|s| targets(s, &collection, record_id)) {
            let Some(data) = message(store, &collection, event, sub, &caller).await else {
                continue;
            };
            let msg = Message::new(client.id(), &sub.raw, data);
            if !client.send(msg) {
                rt.disconnect(client.id());
                break;
            }
        }
    }
}

/// Re-reads the roles and permissions of every signed-in client (a record's assignments, a
/// key's roles), so a role taken away or changed stops reaching its subscriptions with the
/// next event. Superusers and guests have no roles to re-read.
async fn refresh_roles(clients: &[Arc<super::Client>], store: &Arc<Store>) {
    let identity = keel_auth::identity::Identity::new(store.clone());
    for c in clients {
        let caller = c.caller();
        if caller.is_guest() || caller.is_superuser() {
            continue;
        }
        let roles = match (&caller.auth, &caller.api_key) {
            (Some(a), _) => identity.roles_of(&a.collection.id, a.id()).await,
            (None, Some(k)) => identity
                .api_key(&k.id)
                .await
                .map(|k| k.map(|k| k.roles).unwrap_or_default()),
            (None, None) => continue,
        };
        let resolved = match roles {
            Ok(roles) => identity.permissions_of(&roles).await.map(|p| (roles, p)),
            Err(e) => Err(e),
        };
        match resolved {
            Ok((roles, permissions)) => c.set_roles(&caller.actor(), roles, permissions),
            Err(e) => {
                // Fail closed: a caller whose roles cannot be read keeps none.
                tracing::warn!(error = %e, client = %c.id(), "could not re-read a realtime client's roles");
                c.set_roles(&caller.actor(), Vec::new(), Vec::new());
            }
        }
    }
}

/// Whether `sub` listens to record `id` of `collection` (named by name or id).
fn targets(sub: &Subscription, collection: &Collection, id: &str) -> bool {
    let names = |c: &str| c == collection.name || c == collection.id;
    match &sub.target {
        Target::All { collection } => names(collection),
        Target::Record { collection, id: rid } => names(collection) && rid == id,
        Target::Other => false,
    }
}

/// The message data for one subscription, or `None` when the client may not see the record.
async fn message(
    store: &Store,
    collection: &Arc<Collection>,
    event: &RecordEvent,
    sub: &Subscription,
    caller: &Caller,
) -> Option<String> {
    let req = RequestInfo {
        auth: caller.rule_auth(),
        manages_records: caller.manages_records(),
        method: "GET".into(),
        query: sub.query.clone().into(),
        headers: sub.headers.clone().into(),
        body: Map::new(),
        context: "realtime".into(),
    };
    let rule = match sub.target {
        Target::Record { .. } => &collection.view_rule,
        _ => &collection.list_rule,
    };
    if !req.skips_rules(collection) {
        match rule.as_deref() {
            None => return None,
            Some(r) if r.trim().is_empty() => {}
            Some(r) => {
                if !matches(store, collection, &event.record, r, &req).await {
                    return None;
                }
            }
        }
    }
    if let Some(filter) = sub.query_str("filter") {
        // A caller's filter reaches only what the caller could read directly; one that
        // reaches further (`@collection`, …) fails to compile and delivers nothing.
        match store.filter_matches(collection, &event.record, filter, &req).await {
            Ok(true) => {}
            Ok(false) => return None,
            Err(e) => {
                tracing::debug!(error = %e, "realtime filter refused; not delivering");
                return None;
            }
        }
    }

    let mut records = [Record {
        collection: collection.clone(),
        data: event.record.clone(),
        expand: Default::default(),
        expand_shown: false,
    }];
    if let Some(expand) = sub.query_str("expand") {
        if let Err(e) = store.expand(&mut records, expand, &req).await {
            tracing::debug!(error = %e, "realtime expand failed; sending the record unexpanded");
        }
    }
    let mut record = record_json(&records[0], &req);
    pick_fields(&mut record, sub.query_str("fields"));
    serde_json::to_string(&json!({"action": event.action.as_str(), "record": record})).ok()
}

/// A rule or filter check; an error (a bad filter) counts as no match.
async fn matches(
    store: &Store,
    collection: &Arc<Collection>,
    record: &Map<String, Value>,
    rule: &str,
    req: &RequestInfo,
) -> bool {
    match store.record_matches(collection, record, rule, req).await {
        Ok(ok) => ok,
        Err(e) => {
            tracing::debug!(error = %e, "realtime rule check failed; not delivering");
            false
        }
    }
}
