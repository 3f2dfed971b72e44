//! HTTP client options every cloud provider shares: bounded retries and timeouts, so a
//! wrong endpoint fails within seconds (the settings' S3 test answers) rather than after
//! `object_store`'s default three minutes of retries.

use std::time::Duration;

use object_store::{BackoffConfig, ClientOptions, RetryConfig};

/// Retries of one request: a few, within 15 seconds.
pub fn retry() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig::default(),
        max_retries: 3,
        retry_timeout: Duration::from_secs(15),
    }
}

/// Connect within 5 s; one request (a 5 MiB part at most) within 120 s.
pub fn options(allow_http: bool) -> ClientOptions {
    ClientOptions::new()
        .with_allow_http(allow_http)
        .with_connect_timeout(Duration::from_secs(5))
        .with_timeout(Duration::from_secs(120))
}

/// Whether `endpoint` is plain HTTP (an emulator, or a service on a private network).
pub fn is_http(endpoint: &str) -> bool {
    endpoint.trim().to_ascii_lowercase().starts_with("http://")
}
