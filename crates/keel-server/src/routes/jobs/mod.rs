//! The jobs API (`/api/queues`, `/api/jobs`): enqueue, claim and work jobs over HTTP, read
//! and administer them and their queues.
//!
//! - `POST /api/queues/{queue}/jobs` enqueue one job or a batch (`jobs:enqueue`);
//! - `GET /api/queues/{queue}/jobs?state=&page=&perPage=` list a queue's jobs (`jobs:read`);
//! - `POST /api/queues/{queue}/claim` lease jobs, long-polling up to `waitMs` (`jobs:work`);
//! - `POST /api/jobs/{id}/heartbeat|progress|complete|fail` with the claim's `lease`
//!   (`jobs:work`);
//! - `GET /api/jobs/{id}` (`jobs:read`); `POST /api/jobs/{id}/retry|cancel` (`jobs:admin`);
//! - `GET /api/queues` and `GET /api/queues/{queue}`: settings and counts (`jobs:read`);
//! - `PATCH /api/queues/{queue}`, `POST /api/queues/{queue}/pause|resume` (`jobs:admin`).
//!
//! Bodies are read as bytes and deserialized here, so a malformed body, a wrong type or an
//! unknown field is a 400 naming the field in PocketBase's error shape (never axum's
//! plain-text 422). Queue names match `[A-Za-z0-9_-]{1,64}`.

use axum::body::Body;
use axum::routing::{get, post};
use axum::Router;
use keel_core::error::{FieldError, FieldErrors};
use keel_core::Error;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use serde_path_to_error::Segment;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

mod admin;
mod attempt;
mod claim;
mod enqueue;
mod get;
mod list;
mod queues;
mod settings;

/// The jobs and queues routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/queues", get(queues::list_queues))
        .route("/api/queues/{queue}", get(queues::get_queue).patch(settings::patch))
        .route("/api/queues/{queue}/jobs", get(list::list_jobs).post(enqueue::enqueue))
        .route("/api/queues/{queue}/claim", post(claim::claim))
        .route("/api/queues/{queue}/pause", post(settings::pause))
        .route("/api/queues/{queue}/resume", post(settings::resume))
        .route("/api/jobs/{id}", get(get::get_job))
        .route("/api/jobs/{id}/heartbeat", post(attempt::heartbeat))
        .route("/api/jobs/{id}/progress", post(attempt::progress))
        .route("/api/jobs/{id}/complete", post(attempt::complete))
        .route("/api/jobs/{id}/fail", post(attempt::fail))
        .route("/api/jobs/{id}/retry", post(admin::retry))
        .route("/api/jobs/{id}/cancel", post(admin::cancel))
}

/// Reads the whole body (413 beyond the configured limit) and parses it as JSON. An empty
/// body is `None`.
pub(crate) async fn read_json(state: &AppState, body: Body) -> ApiResult<Option<Value>> {
    let limit = state.config.max_body_bytes;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError(Error::TooLarge(format!(
            "The request body is larger than the {limit} bytes allowed."
        )))
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| ApiError::bad_request(format!("The request body is not valid JSON: {e}.")))
}

/// Reads a JSON object body (empty → `{}`) into `T`, naming the offending field on error.
pub(crate) async fn read_object<T: DeserializeOwned>(state: &AppState, body: Body) -> ApiResult<T> {
    match read_json(state, body).await? {
        None => from_object(Value::Object(Map::new()), ""),
        Some(v @ Value::Object(_)) => from_object(v, ""),
        Some(_) => Err(ApiError::bad_request("The request body must be a JSON object.")),
    }
}

/// Deserializes the JSON object `value` into `T`, turning a serde error into a 400 naming
/// the top-level field at fault (prefixed with `prefix`, e.g. `3.` for the fourth job of a
/// batch): an unknown or missing field, or the member whose value (or a part of it: the
/// message gives the full path) has the wrong type, an unknown variant, a missing or unknown
/// nested field.
pub(crate) fn from_object<T: DeserializeOwned>(value: Value, prefix: &str) -> ApiResult<T> {
    let err = match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    let inner = err.inner().to_string();
    let unknown = quoted(&inner, "unknown field `");
    let segments: Vec<&Segment> = err.path().iter().collect();
    match segments.as_slice() {
        // The path of an unknown field ends with the field itself.
        [Segment::Map { key }] if unknown == Some(key.as_str()) => {
            let known = inner.split_once(", ").map_or("", |(_, rest)| rest);
            Err(field_error(
                &format!("{prefix}{key}"),
                "validation_unknown_field",
                format!("Unknown field {key:?} ({known})."),
            ))
        }
        [Segment::Map { key }, ..] => Err(field_error(
            &format!("{prefix}{key}"),
            "validation_invalid_value",
            format!("Invalid value for {}: {inner}.", err.path()),
        )),
        _ => match quoted(&inner, "missing field `") {
            Some(name) => Err(field_error(
                &format!("{prefix}{name}"),
                "validation_required",
                format!("Missing required field {name:?}."),
            )),
            None => Err(ApiError::bad_request(format!("Invalid request body: {inner}."))),
        },
    }
}

/// The name in serde's "`start`name`…" messages.
fn quoted<'a>(message: &'a str, start: &str) -> Option<&'a str> {
    message.strip_prefix(start)?.split('`').next()
}

/// A 400 whose message is the field's own message (clearer than the generic one).
fn field_error(field: &str, code: &str, message: String) -> ApiError {
    let mut fields = FieldErrors::new();
    fields.insert(field.to_string(), FieldError::new(code, message.clone()));
    ApiError(Error::BadRequest { message, fields })
}

/// `Some(s)` when `value` is a non-blank string, else a 400 naming `field` as required.
pub(crate) fn required(field: &str, value: Option<String>) -> ApiResult<String> {
    match value {
        Some(s) if !s.trim().is_empty() => Ok(s),
        _ => Err(ApiError::field(
            field,
            "validation_required",
            format!("{field} is required."),
        )),
    }
}

/// Serializes an API value (a job, settings, counts) to JSON.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> ApiResult<Value> {
    serde_json::to_value(value).map_err(|e| ApiError(Error::internal(e)))
}

/// Checks a queue name from the path: a 400 naming `queue` unless `[A-Za-z0-9_-]{1,64}`.
pub(crate) fn check_queue(queue: &str) -> ApiResult<()> {
    keel_core::queue::validate_queue_name(queue).map_err(ApiError)
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_jobs::NewJob;
    use serde_json::json;

    fn field_of(r: ApiResult<NewJob>) -> String {
        match r {
            Err(ApiError(Error::BadRequest { fields, .. })) => fields.keys().next().cloned().unwrap_or_default(),
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn serde_errors_name_the_field() {
        assert!(from_object::<NewJob>(json!({"name": "x", "payload": {"a": 1}}), "").is_ok());
        assert_eq!(field_of(from_object(json!({"name": "x", "colour": 1}), "")), "colour");
        assert_eq!(
            field_of(from_object(json!({"maxAttempts": "three"}), "")),
            "maxAttempts"
        );
        assert_eq!(
            field_of(from_object(json!({"backoff": {"type": "linear"}}), "2.")),
            "2.backoff"
        );
        assert_eq!(field_of(from_object(json!({"runAt": "yesterday"}), "")), "runAt");
        match from_object::<NewJob>(json!({"name": "x", "colour": 1}), "") {
            Err(ApiError(Error::BadRequest { message, fields })) => {
                assert!(message.contains("colour") && message.contains("payload"), "{message}");
                assert_eq!(fields["colour"].code, "validation_unknown_field");
            }
            other => panic!("{other:?}"),
        }
        match from_object::<NewJob>(json!({"backoff": {"type": "linear"}}), "") {
            Err(ApiError(Error::BadRequest { message, fields })) => {
                assert!(
                    message.contains("backoff.type") && message.contains("exponential"),
                    "{message}"
                );
                assert_eq!(fields["backoff"].code, "validation_invalid_value");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn missing_required_fields_are_named() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Needs {
            lease: String,
            name: String,
            #[serde(default)]
            n: u32,
            #[serde(default)]
            inner: Option<keel_jobs::model::RateLimit>,
        }
        let field = |v: Value| match from_object::<Needs>(v, "") {
            Err(ApiError(Error::BadRequest { fields, .. })) => fields.keys().next().cloned().unwrap_or_default(),
            other => panic!("{other:?}"),
        };
        assert_eq!(field(json!({"n": 1, "name": "x"})), "lease");
        assert_eq!(field(json!({"lease": "x", "n": 1})), "name");
        assert_eq!(field(json!({"lease": "x", "name": "y", "n": -1})), "n");
        assert_eq!(field(json!({"lease": "x", "name": "y", "extra": 1})), "extra");
        // a nested problem names the member holding it; the message has the full path
        assert_eq!(field(json!({"lease": "x", "name": "y", "inner": {"max": 1}})), "inner");
        match from_object::<Needs>(
            json!({"lease": "x", "name": "y", "inner": {"max": "z", "intervalMs": 1}}),
            "",
        ) {
            Err(ApiError(Error::BadRequest { message, .. })) => assert!(message.contains("inner.max"), "{message}"),
            other => panic!("{other:?}"),
        }
        let settings = json!({"paused": true, "rateLimit": {"max": 1}});
        match from_object::<keel_jobs::QueueSettings>(settings, "") {
            Err(ApiError(Error::BadRequest { fields, .. })) => assert!(fields.contains_key("rateLimit"), "{fields:?}"),
            other => panic!("{other:?}"),
        }
    }
}
