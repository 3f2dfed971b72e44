//! Realtime over SSE (`/api/realtime`), PocketBase's protocol.
//!
//! OWNED BY THE REALTIME WORK.

/// The realtime broker: connected clients and their subscriptions.
#[derive(Default)]
pub struct Realtime {}
