//! The one way a request body is read. Every route that takes a body goes through here:
//!
//! - the body is read with the route's [`Limit`] (413 beyond it) within
//!   `limits.body_timeout_secs` (a 400 naming `body` after it, so a slow client cannot hold a
//!   request open);
//! - a JSON body's nesting depth and the member count of each array and object are checked
//!   on the raw bytes before anything is built (400 naming `body`), so a small body cannot
//!   expand into a large tree;
//! - an object body is decoded straight into the route's type `T` (an unknown, missing or
//!   mistyped member is a 400 naming it), or into a `Map` where the route takes free-form
//!   data (records); URL-encoded forms are accepted too, as PocketBase does.
//!
//! Handlers take [`JsonBody<T>`] (small bodies) or [`JsonBody<T, DOCUMENT>`]; records and
//! batch (JSON or multipart) call [`read_bytes`] and [`decode_object`] themselves.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use keel_core::config::{Config, LimitsConfig};
use keel_core::error::{FieldError, FieldErrors};
use keel_core::Error;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use serde_path_to_error::Segment;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use keel_app::caller::form_json;

/// How large a body a route accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// `limits.small_body_bytes` (64 KiB): sign-ins, auth flows, job attempts, cache key
    /// operations, roles, API keys, realtime subscriptions.
    Small,
    /// `limits.json_body_bytes` (1 MiB): JSON documents (records, collections, settings,
    /// jobs, schedules, cache values).
    Document,
    /// `max_body_bytes` (64 MiB): multipart uploads and `/api/batch`.
    Upload,
}

impl Limit {
    /// The limit in bytes under `config`.
    pub fn bytes(self, config: &Config) -> usize {
        match self {
            Limit::Small => config.limits.small_body_bytes,
            Limit::Document => config.limits.json_body_bytes,
            Limit::Upload => config.max_body_bytes,
        }
    }
}

/// [`JsonBody`]'s limit parameter for [`Limit::Small`] (the default).
pub const SMALL: u8 = 0;
/// [`JsonBody`]'s limit parameter for [`Limit::Document`].
pub const DOCUMENT: u8 = 1;

/// A JSON (or URL-encoded form) object body decoded into `T`, read with the limit `L`
/// ([`SMALL`] or [`DOCUMENT`]). An empty body is `{}`.
#[derive(Debug)]
pub struct JsonBody<T, const L: u8 = SMALL>(pub T);

impl<T: DeserializeOwned, const L: u8> FromRequest<AppState> for JsonBody<T, L> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let limit = if L == DOCUMENT { Limit::Document } else { Limit::Small };
        let (parts, body) = req.into_parts();
        read_object(state, &parts.headers, body, limit).await.map(JsonBody)
    }
}

/// Reads an object body with `limit` and decodes it into `T` ([`decode_object`]). For
/// handlers that check the caller's permission before reading the body.
pub async fn read_object<T: DeserializeOwned>(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    limit: Limit,
) -> ApiResult<T> {
    let bytes = read_bytes(state, body, limit).await?;
    decode_object(&state.config, headers, &bytes)
}

/// Reads a JSON body of any shape with `limit` and decodes it into `T` ([`decode_json`]).
pub async fn read_json<T: DeserializeOwned>(state: &AppState, body: Body, limit: Limit) -> ApiResult<T> {
    let bytes = read_bytes(state, body, limit).await?;
    decode_json(&state.config, &bytes)
}

/// Reads the whole body: a 413 beyond `limit`, a 400 naming `body` when it does not arrive
/// within `limits.body_timeout_secs`.
pub async fn read_bytes(state: &AppState, body: Body, limit: Limit) -> ApiResult<Bytes> {
    let max = limit.bytes(&state.config);
    let secs = state.config.limits.body_timeout_secs;
    let read = Limited::new(body, max).collect();
    match tokio::time::timeout(Duration::from_secs(secs), read).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(ApiError(Error::TooLarge(format!(
            "The request body is larger than the {max} bytes this endpoint accepts."
        )))),
        Ok(Err(_)) => Err(ApiError::field(
            "body",
            "validation_invalid_body",
            "Failed to read the request body.",
        )),
        Err(_) => Err(ApiError::field(
            "body",
            "validation_body_timeout",
            format!("The request body did not arrive within {secs} seconds."),
        )),
    }
}

/// The body as a stream of chunks that fails once more than `max` bytes arrived, for the one
/// route whose bodies may be larger than any limit above and are written to disk as they
/// arrive (`POST /api/backups/upload`). The caller checks permissions before reading it; the
/// connection's idle timeout bounds a stalled client.
pub fn stream_limited(
    body: Body,
    max: u64,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    use futures::StreamExt;
    let mut seen: u64 = 0;
    body.into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(std::io::Error::other)?;
        seen += chunk.len() as u64;
        if seen > max {
            return Err(std::io::Error::other(format!(
                "The request body is larger than the {max} bytes this endpoint accepts."
            )));
        }
        Ok(chunk)
    })
}

/// Decodes an object body into `T`: URL-encoded forms by their content type, anything else
/// as JSON (an empty body is `{}`); multipart is refused (400).
pub fn decode_object<T: DeserializeOwned>(config: &Config, headers: &HeaderMap, bytes: &[u8]) -> ApiResult<T> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim_start()
        .to_ascii_lowercase();
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let text = std::str::from_utf8(bytes).map_err(|_| ApiError::bad_request(INVALID_BODY))?;
        let form = form_json(text);
        if form.len() > config.limits.json_max_items {
            return Err(too_long(&config.limits));
        }
        return from_object(Value::Object(form), "");
    }
    if content_type.starts_with("multipart/form-data") {
        return Err(ApiError::bad_request(
            "This endpoint accepts JSON or URL-encoded form bodies.",
        ));
    }
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => from_object(Value::Object(Map::new()), ""),
        Some(b'{') => decode_json(config, bytes),
        Some(_) => Err(ApiError::bad_request(INVALID_BODY)),
    }
}

/// Decodes a JSON body of any shape (a cache value, a batch of jobs) into `T`, checking its
/// depth and member counts first. An empty body is a 400.
pub fn decode_json<T: DeserializeOwned>(config: &Config, bytes: &[u8]) -> ApiResult<T> {
    check_shape(bytes, &config.limits)?;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(v) => de.end().map(|()| v).map_err(|_| ApiError::bad_request(INVALID_BODY)),
        Err(e) if e.inner().is_syntax() && e.inner().to_string().starts_with(OUT_OF_RANGE) => {
            Err(out_of_range(e.path()))
        }
        Err(e) if e.inner().is_syntax() || e.inner().is_eof() => Err(ApiError::bad_request(INVALID_BODY)),
        Err(e) => {
            let inner = e.inner().to_string();
            // serde_json appends " at line L column C"; the field is named instead.
            let inner = match inner.rfind(" at line ") {
                Some(i) => inner[..i].to_string(),
                None => inner,
            };
            Err(path_error(e.path(), inner, ""))
        }
    }
}

/// serde_json's message for a number too large for a float (`1e400`): PocketBase's parser
/// would read it as infinity, which no field stores.
const OUT_OF_RANGE: &str = "number out of range";

/// A number out of range is named by its field (the first key of its path) when it has one.
fn out_of_range(path: &serde_path_to_error::Path) -> ApiError {
    match path.iter().next() {
        Some(Segment::Map { key }) => field_error(
            key,
            "validation_invalid_number",
            format!("{key} is too large a number (it overflows to infinity)."),
        ),
        _ => ApiError::bad_request("The request body holds a number too large to store (it overflows to infinity)."),
    }
}

/// PocketBase's message for a body it cannot parse.
pub const INVALID_BODY: &str = "Failed to load the submitted data due to invalid formatting.";

/// Checks, without building anything, that `bytes` nests arrays and objects at most
/// `json_max_depth` deep, that none holds more than `json_max_items` members, and that the
/// whole body holds at most `json_max_values` values. Malformed JSON passes
/// (the parser reports it).
pub fn check_shape(bytes: &[u8], limits: &LimitsConfig) -> ApiResult<()> {
    let max_depth = limits.json_max_depth;
    // Members seen so far (commas) in each open array or object.
    let mut open: Vec<usize> = Vec::new();
    // Values seen so far, all levels together: every array or object opened and every
    // separator (each comma starts one more value).
    let mut values: usize = 1;
    let too_many = || {
        ApiError::field(
            "body",
            "validation_too_long",
            format!(
                "The request body holds more than {} values in all.",
                limits.json_max_values
            ),
        )
    };
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                if open.len() >= max_depth {
                    return Err(ApiError::field(
                        "body",
                        "validation_too_deep",
                        format!("The request body nests arrays and objects more than {max_depth} levels deep."),
                    ));
                }
                open.push(0);
                values += 1;
                if values > limits.json_max_values {
                    return Err(too_many());
                }
            }
            b']' | b'}' => {
                open.pop();
            }
            b',' => {
                if let Some(commas) = open.last_mut() {
                    *commas += 1;
                    if *commas >= limits.json_max_items {
                        return Err(too_long(limits));
                    }
                }
                values += 1;
                if values > limits.json_max_values {
                    return Err(too_many());
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn too_long(limits: &LimitsConfig) -> ApiError {
    let max = limits.json_max_items;
    ApiError::field(
        "body",
        "validation_too_long",
        format!("An array or object in the request body has more than {max} members."),
    )
}

/// Deserializes the JSON object `value` into `T`, turning a serde error into a 400 naming
/// the top-level field at fault (prefixed with `prefix`, e.g. `3.` for the fourth job of a
/// batch): an unknown or missing field, or the member whose value (or a part of it: the
/// message gives the full path) has the wrong type, an unknown variant, a missing or unknown
/// nested field.
pub fn from_object<T: DeserializeOwned>(value: Value, prefix: &str) -> ApiResult<T> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(v) => Ok(v),
        Err(e) => Err(path_error(e.path(), e.inner().to_string(), prefix)),
    }
}

/// The 400 for a serde error `inner` at `path` (see [`from_object`]).
fn path_error(path: &serde_path_to_error::Path, inner: String, prefix: &str) -> ApiError {
    let unknown = quoted(&inner, "unknown field `");
    let segments: Vec<&Segment> = path.iter().collect();
    match segments.as_slice() {
        // The path of an unknown field ends with the field itself.
        [Segment::Map { key }] if unknown == Some(key.as_str()) => {
            let known = inner.split_once(", ").map_or("", |(_, rest)| rest);
            field_error(
                &format!("{prefix}{key}"),
                "validation_unknown_field",
                format!("Unknown field {key:?} ({known})."),
            )
        }
        [Segment::Map { key }, ..] => field_error(
            &format!("{prefix}{key}"),
            "validation_invalid_value",
            format!("Invalid value for {path}: {inner}."),
        ),
        _ => match quoted(&inner, "missing field `") {
            Some(name) => field_error(
                &format!("{prefix}{name}"),
                "validation_required",
                format!("Missing required field {name:?}."),
            ),
            None => ApiError::bad_request(format!("Invalid request body: {inner}.")),
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

#[cfg(test)]
mod tests {
    use super::*;
    use keel_jobs::NewJob;
    use serde_json::json;

    fn field_of<T: std::fmt::Debug>(r: ApiResult<T>) -> String {
        match r {
            Err(ApiError(Error::BadRequest { fields, .. })) => fields.keys().next().cloned().unwrap_or_default(),
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn shape_bounds_count_depth_and_members_outside_strings() {
        let limits = |depth, items| LimitsConfig {
            json_max_depth: depth,
            json_max_items: items,
            ..LimitsConfig::default()
        };
        assert!(check_shape(br#"{"a":[1,2,3],"b":{"c":"[[[,,,"}}"#, &limits(3, 3)).is_ok());
        assert_eq!(field_of(check_shape(br#"{"a":[[1]]}"#, &limits(2, 10))), "body");
        assert_eq!(field_of(check_shape(br#"{"a":[1,2,3,4]}"#, &limits(5, 3))), "body");
        assert!(check_shape(br#"{"a":"\"[[[[","b":1}"#, &limits(1, 10)).is_ok());
    }

    #[test]
    fn many_small_arrays_cannot_add_up_past_the_values_bound() {
        // Each array is within json_max_items, but together they are a huge tree.
        let limits = LimitsConfig {
            json_max_items: 1000,
            json_max_values: 5000,
            ..LimitsConfig::default()
        };
        let array = format!("[{}]", vec!["0"; 900].join(","));
        let body = |n: usize| {
            let members: Vec<String> = (0..n).map(|i| format!("\"k{i}\":{array}")).collect();
            format!("{{{}}}", members.join(","))
        };
        assert!(check_shape(body(5).as_bytes(), &limits).is_ok());
        let err = check_shape(body(6).as_bytes(), &limits);
        assert_eq!(field_of(err), "body");
    }

    #[test]
    fn json_objects_decode_into_the_shape_or_name_the_field() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Sign {
            identity: String,
            #[serde(default)]
            n: u32,
        }
        let cfg = Config::default();
        let h = HeaderMap::new();
        assert_eq!(
            decode_object::<Sign>(&cfg, &h, br#"{"identity":"a"}"#)
                .unwrap()
                .identity,
            "a"
        );
        assert_eq!(
            field_of(decode_object::<Sign>(&cfg, &h, br#"{"identity":[0,0]}"#)),
            "identity"
        );
        assert_eq!(field_of(decode_object::<Sign>(&cfg, &h, br#"{"n":1}"#)), "identity");
        assert_eq!(
            field_of(decode_object::<Sign>(&cfg, &h, br#"{"identity":"a","x":1}"#)),
            "x"
        );
        assert!(decode_object::<Map<String, Value>>(&cfg, &h, b"  ").unwrap().is_empty());
        assert!(decode_object::<Map<String, Value>>(&cfg, &h, b"[1]").is_err());
        assert!(decode_object::<Map<String, Value>>(&cfg, &h, b"{nope").is_err());
        assert!(decode_object::<Map<String, Value>>(&cfg, &h, b"{} x").is_err());
    }

    #[test]
    fn serde_errors_name_the_field() {
        assert!(from_object::<NewJob>(json!({"name": "x", "payload": {"a": 1}}), "").is_ok());
        assert_eq!(
            field_of::<NewJob>(from_object(json!({"name": "x", "colour": 1}), "")),
            "colour"
        );
        assert_eq!(
            field_of::<NewJob>(from_object(json!({"maxAttempts": "three"}), "")),
            "maxAttempts"
        );
        assert_eq!(
            field_of::<NewJob>(from_object(json!({"backoff": {"type": "linear"}}), "2.")),
            "2.backoff"
        );
        assert_eq!(
            field_of::<NewJob>(from_object(json!({"runAt": "yesterday"}), "")),
            "runAt"
        );
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
