//! The error vocabulary every service speaks. `keel-server` is the one place that maps it to HTTP.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::Serialize;

/// One field's problem, as PocketBase reports it: `{"code": "validation_required", "message": "..."}`,
/// with the constraint's `params` (`{"min": 3}`) where PocketBase sends them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<serde_json::Value>,
}

impl FieldError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            params: None,
        }
    }

    /// The same error with the constraint's parameters (`{"max": 40}`), as PocketBase reports them.
    pub fn with_params(mut self, params: serde_json::Value) -> Self {
        self.params = Some(params);
        self
    }
}

/// Field name → its problem. A `BTreeMap` so the order in responses is stable.
pub type FieldErrors = BTreeMap<String, FieldError>;

/// What went wrong, in terms a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input: HTTP 400, with the offending fields in `data`.
    #[error("{message}")]
    BadRequest { message: String, fields: FieldErrors },
    /// Missing or invalid credentials: HTTP 401.
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated but not allowed: HTTP 403.
    #[error("{0}")]
    Forbidden(String),
    /// Nothing there, or nothing the caller may see: HTTP 404.
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state (e.g. a lease another consumer now
    /// holds): HTTP 409.
    #[error("{0}")]
    Conflict(String),
    /// A body or file over its limit: HTTP 413.
    #[error("{0}")]
    TooLarge(String),
    /// Too many requests: HTTP 429, with the seconds to wait.
    #[error("{message}")]
    TooManyRequests { message: String, retry_after_secs: u64 },
    /// A first sign-in factor passed and another is needed: HTTP 401 carrying `mfa_id`, the
    /// MFA session to send with the second sign-in.
    #[error("{message}")]
    MfaRequired { message: String, mfa_id: String },
    /// The service cannot take the request now (it is shutting down): HTTP 503.
    #[error("{0}")]
    Unavailable(String),
    /// The engine or the disk failed. The cause (with its source chain) is logged once by the
    /// server and never sent to a client.
    #[error("internal error: {0}")]
    Internal(#[source] Cause),
}

impl Error {
    /// A 400 with a message and no field details.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Error::BadRequest {
            message: message.into(),
            fields: FieldErrors::new(),
        }
    }

    /// A 400 naming one field.
    pub fn field(field: impl Into<String>, code: impl Into<String>, message: impl Into<String>) -> Self {
        let mut fields = FieldErrors::new();
        fields.insert(field.into(), FieldError::new(code, message));
        Error::BadRequest {
            message: "Failed to validate the submitted data.".into(),
            fields,
        }
    }

    /// A 400 for a set of field errors.
    pub fn fields(fields: FieldErrors) -> Self {
        Error::BadRequest {
            message: "Failed to validate the submitted data.".into(),
            fields,
        }
    }

    /// An internal error described by a message (logged by the server, not sent). For an
    /// error value, [`Error::wrap`] keeps its source chain.
    pub fn internal(cause: impl fmt::Display) -> Self {
        Error::Internal(Cause(Arc::new(Message(cause.to_string()))))
    }

    /// An internal error caused by `e`, kept whole: `source()` walks its chain.
    pub fn wrap(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::Internal(Cause(Arc::new(e)))
    }

    pub fn not_found() -> Self {
        Error::NotFound("The requested resource wasn't found.".into())
    }

    /// An internal error with `what` said before its cause (`jobs store` → the chain reads
    /// "jobs store", then the cause); any other error unchanged.
    pub fn context(self, what: &'static str) -> Self {
        match self {
            Error::Internal(cause) => Error::wrap(Context { what, cause }),
            other => other,
        }
    }
}

/// Where an internal error happened, in front of its cause ([`Error::context`]).
#[derive(Debug, thiserror::Error)]
#[error("{what}")]
struct Context {
    what: &'static str,
    #[source]
    cause: Cause,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The cause of an [`Error::Internal`]: an error kept whole (its `source()` chain intact), or
/// a message. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Cause(Arc<dyn std::error::Error + Send + Sync>);

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// A cause known only by its message.
#[derive(Debug)]
struct Message(String);

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Message {}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn a_wrapped_error_keeps_its_source_chain() {
        let e = Error::wrap(Outer(std::io::Error::other("disk gone")));
        let mut chain = Vec::new();
        let mut next: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(err) = next {
            chain.push(err.to_string());
            next = err.source();
        }
        assert_eq!(chain, ["internal error: outer", "outer", "disk gone"]);
        assert_eq!(Error::internal("plain").to_string(), "internal error: plain");
    }
}
