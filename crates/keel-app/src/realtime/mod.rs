//! The realtime broker, PocketBase's protocol (served over SSE by `keel-server`): a client opens the stream,
//! receives `PB_CONNECT` with its id, then sets its subscriptions (`posts/*`, `posts/ID`, with
//! optional `?options=` query/headers) with a POST. A broker task turns every committed record
//! change, made by this process or another one, heard on the event bus as `records.*`, into
//! messages for the clients allowed to see it; a second task forwards job lifecycle events
//! (`jobs.*` on the bus) to `jobs/{queue}` and `jobs/*` subscribers holding `jobs:read`, and
//! recorded collection changes (`changes.*`) to `changes/*` subscribers holding
//! `changes:read` (changes.rs); another carries out the requests for its clients that landed on another process
//! (subscription changes, OAuth2 redirects: `handover`).
//!
//! Wiring (the binary):
//! ```text
//! keel_app::realtime::start(&app).await?; // publishes this process's changes on app.bus,
//!                                         // follows the others' (crate::sync), and spawns the
//!                                         // broker tasks; needs a Tokio runtime
//! // ... serve with AppState::new(Services { app, .. }) ...
//! app.realtime.shutdown();         // on SIGTERM, before waiting for in-flight requests:
//!                                  // ends every SSE stream so graceful shutdown can finish
//! ```
//! Tests may use `Realtime::default()` without `start` when they need no events.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

mod changes;
mod client;
mod dispatch;
mod jobs;

pub use client::{Client, JobsTopic, Subscription, Target};

mod handover;
pub mod oauth2;
mod subscribe;

pub use subscribe::set_subscriptions;

/// Starts keeping `app` in step with the other processes (`crate::sync`) and `app.realtime`'s
/// broker over `app.bus` (see `Realtime::start`). Call it once per `App`.
pub async fn start(app: &crate::App) -> keel_core::Result<()> {
    crate::sync::start(app).await?;
    app.realtime.start(app).await
}

/// One message for a client: PocketBase's SSE event (`id` the client's id, `event` the
/// subscription or `PB_CONNECT`, `data` JSON text). The entry point frames it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: String,
    pub event: String,
    pub data: String,
}

impl Message {
    pub fn new(id: &str, event: &str, data: impl Into<String>) -> Self {
        Message {
            id: id.into(),
            event: event.into(),
            data: data.into(),
        }
    }
}

/// Messages a client may have queued before it counts as too slow and is disconnected.
pub const CLIENT_BUFFER: usize = 512;

/// The realtime broker: connected clients and their subscriptions.
pub struct Realtime {
    clients: RwLock<HashMap<String, Arc<Client>>>,
    shutdown: CancellationToken,
    /// The record broker and the jobs forwarder, once started.
    broker: Mutex<Vec<JoinHandle<()>>>,
}

impl Default for Realtime {
    fn default() -> Self {
        Realtime::new()
    }
}

impl Realtime {
    /// A broker with no clients; call `start` to deliver record events.
    pub fn new() -> Self {
        Realtime {
            clients: RwLock::default(),
            shutdown: CancellationToken::new(),
            broker: Mutex::default(),
        }
    }

    /// Spawns the tasks that deliver the record events and job lifecycle events heard on
    /// `app.bus` (from every process) to subscribed clients, and OAuth2 redirects other
    /// processes received for them. The bus is subscribed before this returns, so no event
    /// published afterwards is missed. Calling it again while a task runs does nothing. Must
    /// run inside a Tokio runtime.
    pub async fn start(self: &Arc<Self>, app: &crate::App) -> keel_core::Result<()> {
        let records = app.bus.subscribe(keel_core::events::RECORDS_TOPIC).await?;
        let jobs = app.bus.subscribe(crate::sync::JOBS_TOPIC).await?;
        let handed = app.bus.subscribe(handover::TOPIC).await?;
        let ops = app.bus.subscribe(crate::ops::log::TOPIC).await?;
        let recorded = app.bus.subscribe(crate::changes::history::TOPIC).await?;
        let mut slot = self.broker.lock().unwrap_or_else(|p| p.into_inner());
        if slot.iter().any(|h| !h.is_finished()) || self.shutdown.is_cancelled() {
            return Ok(());
        }
        let weak = Arc::downgrade(self);
        let records = dispatch::run(weak.clone(), app.store.clone(), records, self.shutdown.clone());
        let forwarder = jobs::run(weak.clone(), jobs, self.shutdown.clone());
        let recorded = changes::run(weak.clone(), recorded, self.shutdown.clone());
        let ops = jobs::run_ops(weak, ops, self.shutdown.clone());
        // Holds the app until shutdown (or until the bus is gone).
        let handed = handover::run(app.clone(), handed, self.shutdown.clone());
        *slot = vec![
            tokio::spawn(records),
            tokio::spawn(forwarder),
            tokio::spawn(ops),
            tokio::spawn(recorded),
            tokio::spawn(handed),
        ];
        Ok(())
    }

    /// Ends every SSE stream, stops the broker and refuses new connections.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
        let clients: Vec<_> = self.write_clients().drain().map(|(_, c)| c).collect();
        for c in clients {
            c.close();
        }
    }

    /// Whether `shutdown` was called.
    pub fn is_shut_down(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    /// Registers a new client; returns it and the receiving end of its message queue.
    /// `None` after shutdown.
    pub fn connect(&self) -> Option<(Arc<Client>, mpsc::Receiver<Message>)> {
        if self.shutdown.is_cancelled() {
            return None;
        }
        let (tx, rx) = mpsc::channel(CLIENT_BUFFER);
        let client = Arc::new(Client::new(
            uuid::Uuid::new_v4().simple().to_string(),
            tx,
            self.shutdown.child_token(),
        ));
        self.write_clients().insert(client.id().to_string(), client.clone());
        Some((client, rx))
    }

    /// A connected client by id.
    pub fn client(&self, id: &str) -> Option<Arc<Client>> {
        self.read_clients().get(id).cloned()
    }

    /// Forgets a client and ends its stream (called when its stream is dropped).
    pub fn disconnect(&self, id: &str) {
        if let Some(c) = self.write_clients().remove(id) {
            c.close();
        }
    }

    /// How many clients are connected.
    pub fn client_count(&self) -> usize {
        self.read_clients().len()
    }

    pub fn snapshot(&self) -> Vec<Arc<Client>> {
        self.read_clients().values().cloned().collect()
    }

    fn read_clients(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<Client>>> {
        self.clients.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_clients(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<Client>>> {
        self.clients.write().unwrap_or_else(|p| p.into_inner())
    }
}
