//! EventBus providers behind `keel_core::bus::EventBus`: `local` (in process), and the
//! providers that fan out across processes over an engine the deployment already runs.
#![forbid(unsafe_code)]

pub mod local;

pub use local::LocalBus;
