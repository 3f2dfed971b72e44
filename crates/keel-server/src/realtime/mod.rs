//! Realtime over SSE (`/api/realtime`), PocketBase's protocol: a client opens the stream,
//! receives `PB_CONNECT` with its id, then sets its subscriptions (`posts/*`, `posts/ID`, with
//! optional `?options=` query/headers) with a POST. A broker task turns every committed record
//! change into messages for the clients allowed to see it.
//!
//! Wiring (the binary):
//! ```text
//! let realtime = Arc::new(Realtime::new());
//! realtime.start(store.clone());   // spawns the broker; needs a Tokio runtime
//!                                  // (or `keel_server::realtime::start(&state)`)
//! // ... serve with AppState { realtime: realtime.clone(), .. } ...
//! realtime.shutdown();             // on SIGTERM, before waiting for in-flight requests:
//!                                  // ends every SSE stream so graceful shutdown can finish
//! ```
//! Tests may use `Realtime::default()` without `start` when they need no events.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use axum::response::sse::Event;
use keel_data::Store;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

mod client;
mod dispatch;

pub use client::{Client, Subscription, Target};

/// Starts `state.realtime`'s broker over `state.store` (see `Realtime::start`).
pub fn start(state: &crate::state::AppState) {
    state.realtime.start(state.store.clone());
}

/// Messages a client may have queued before it counts as too slow and is disconnected.
pub const CLIENT_BUFFER: usize = 512;

/// The realtime broker: connected clients and their subscriptions.
pub struct Realtime {
    clients: RwLock<HashMap<String, Arc<Client>>>,
    shutdown: CancellationToken,
    broker: Mutex<Option<JoinHandle<()>>>,
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

    /// Spawns the task that delivers `store`'s record events to subscribed clients. Calling it
    /// again while the task runs does nothing. Must run inside a Tokio runtime.
    pub fn start(self: &Arc<Self>, store: Arc<Store>) {
        let mut slot = self.broker.lock().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref().is_some_and(|h| !h.is_finished()) || self.shutdown.is_cancelled() {
            return;
        }
        let events = store.subscribe();
        let task = dispatch::run(Arc::downgrade(self), store, events, self.shutdown.clone());
        *slot = Some(tokio::spawn(task));
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
    pub fn connect(&self) -> Option<(Arc<Client>, mpsc::Receiver<Event>)> {
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

    pub(crate) fn snapshot(&self) -> Vec<Arc<Client>> {
        self.read_clients().values().cloned().collect()
    }

    fn read_clients(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<Client>>> {
        self.clients.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_clients(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<Client>>> {
        self.clients.write().unwrap_or_else(|p| p.into_inner())
    }
}
