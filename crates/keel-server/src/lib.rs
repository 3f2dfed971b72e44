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
pub fn router(state: AppState) -> impl HttpApp {
    routes::router(state)
}

/// What [`router`] builds: every route inside Keel's middleware, as one service that is cloned
/// for each request (`tower::ServiceExt::oneshot`) and served by [`listen::serve`].
pub trait HttpApp:
    tower::Service<
        axum::extract::Request,
        Response = axum::response::Response,
        Error = std::convert::Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + Sync
    + 'static
{
}

impl<T> HttpApp for T where
    T: tower::Service<
            axum::extract::Request,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + Sync
        + 'static
{
}
