//! The HTTP face of Keel: the axum app with PocketBase-compatible routes, realtime (SSE),
//! request ids, logs and metrics. `router(state)` builds it; tests call it without a socket.
#![forbid(unsafe_code)]

pub mod body;
pub mod error;
pub mod listen;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod ratelimit;
pub mod request;
mod request_line;
pub mod routes;
pub mod state;
pub mod tls;

pub use error::ApiError;
pub use state::{AppState, Services};

/// The whole app.
pub fn router(state: AppState) -> axum::Router {
    routes::router(state)
}
