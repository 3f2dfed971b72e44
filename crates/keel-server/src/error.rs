//! The one place errors become HTTP responses, in PocketBase's shape:
//! `{"status": 400, "message": "...", "data": {"field": {"code": "...", "message": "..."}}}`.
//! A 500 logs its cause once and sends a generic message.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use keel_core::Error;
use serde_json::{json, Value};

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError(Error::bad_request(message))
    }

    pub fn field(field: &str, code: &str, message: impl Into<String>) -> Self {
        ApiError(Error::field(field, code, message))
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError(Error::Forbidden(message.into()))
    }

    pub fn not_found() -> Self {
        ApiError(Error::not_found())
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError(Error::Unauthorized(message.into()))
    }

    /// The 403 PocketBase answers when a rule is `null` and the caller is not a superuser.
    pub fn superusers_only() -> Self {
        ApiError(Error::Forbidden("Only superusers can perform this action.".into()))
    }
}

impl ApiError {
    /// The status, the `{"status","message","data"}` body and the `Retry-After` seconds of
    /// this error. A 500 logs its cause here, once, and gets a generic message.
    fn shape(self) -> (StatusCode, Value, Option<u64>) {
        let mut mfa_id = None;
        let (status, message, data, retry) = match self.0 {
            Error::BadRequest { message, fields } => (StatusCode::BAD_REQUEST, message, json!(fields), None),
            Error::Unauthorized(m) => (StatusCode::UNAUTHORIZED, m, json!({}), None),
            Error::Forbidden(m) => (StatusCode::FORBIDDEN, m, json!({}), None),
            Error::NotFound(m) => (StatusCode::NOT_FOUND, m, json!({}), None),
            Error::Conflict(m) => (StatusCode::CONFLICT, m, json!({}), None),
            Error::TooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, m, json!({}), None),
            Error::MfaRequired { message, mfa_id: id } => {
                mfa_id = Some(id);
                (StatusCode::UNAUTHORIZED, message, json!({}), None)
            }
            Error::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, m, json!({}), None),
            Error::TooManyRequests {
                message,
                retry_after_secs,
            } => (
                StatusCode::TOO_MANY_REQUESTS,
                message,
                json!({}),
                Some(retry_after_secs),
            ),
            Error::Internal(cause) => {
                tracing::error!(error = %chain(&cause), "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong while processing your request.".to_string(),
                    json!({}),
                    None,
                )
            }
        };
        let mut body = json!({"status": status.as_u16(), "message": message, "data": data});
        if let (Some(id), Value::Object(m)) = (mfa_id, &mut body) {
            // PocketBase's MFA step: the session id beside the usual error members.
            m.insert("mfaId".into(), Value::String(id));
        }
        (status, body, retry)
    }

    /// PocketBase's failed-batch answer: a 400 naming the failing request (`index`) and
    /// carrying the answer its own error would have had.
    pub fn batch_failed(index: usize, error: Error) -> Response {
        let (_, response, _) = ApiError(error).shape();
        let body = json!({
            "status": 400,
            "message": "Batch transaction failed.",
            "data": {"requests": {index.to_string(): {
                "code": "batch_request_failed",
                "message": "Batch request failed.",
                "response": response,
            }}},
        });
        (StatusCode::BAD_REQUEST, Json(body)).into_response()
    }
}

/// The message and `data` of an error answer, kept in the response's extensions for the
/// request log (`middleware::request_log`).
#[derive(Debug, Clone)]
pub struct LoggedError {
    pub message: String,
    pub data: Value,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body, retry) = self.shape();
        let logged = LoggedError {
            message: body["message"].as_str().unwrap_or_default().to_string(),
            data: body["data"].clone(),
        };
        let mut resp = (status, Json(body)).into_response();
        resp.extensions_mut().insert(logged);
        if let Some(secs) = retry {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// An error and its sources, `outer: inner: …`, for the log line of a 500.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        next = cause.source();
    }
    out
}
