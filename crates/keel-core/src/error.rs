//! The error vocabulary every service speaks. `keel-server` is the one place that maps it to HTTP.

use std::collections::BTreeMap;

use serde::Serialize;

/// One field's problem, as PocketBase reports it: `{"code": "validation_required", "message": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub code: String,
    pub message: String,
}

impl FieldError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
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
    /// The engine or the disk failed. The cause is logged once by the server and never sent to a client.
    #[error("internal error: {0}")]
    Internal(String),
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

    /// An internal error wrapping any cause (logged by the server, not sent).
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Error::Internal(cause.to_string())
    }

    pub fn not_found() -> Self {
        Error::NotFound("The requested resource wasn't found.".into())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
