//! Reading a submitted record body into `keel_app::records::Submitted`: JSON, or multipart
//! form data the way PocketBase's SDK sends it (plain fields as strings, repeated keys as
//! arrays, non-file data as JSON in one or more `@jsonPayload` parts, files as parts with a
//! file name).

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap};
use bytes::BytesMut;
use keel_app::records::{base_key, Spool, Submitted, Upload};
use keel_core::config::LimitsConfig;
use keel_core::Error;
use keel_data::{Collection, FieldKind};
use multer::{Constraints, SizeLimit};
use serde_json::{Map, Value};

use crate::body::{check_shape, decode_object, read_bytes, Limit, INVALID_BODY};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Whether the request carries multipart form data.
pub fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.trim_start().to_ascii_lowercase().starts_with("multipart/form-data"))
}

/// Reads and parses the body. Multipart is read as it arrives, up to `max_body_bytes` (413
/// beyond), within `limits.body_timeout_secs` in all: plain parts up to the JSON limit,
/// file parts spooled (in memory while small, else to a temporary file in the data dir's
/// `.uploads`), so an upload of any size never sits whole in memory. Anything else is read
/// as a JSON (or URL-encoded) object up to `json_limit`. With `collection`, plain multipart
/// strings are converted to the field's type (numbers, booleans, JSON, arrays for
/// multi-value fields).
pub async fn read_submitted(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    collection: Option<&Collection>,
    json_limit: Limit,
) -> ApiResult<Submitted> {
    if is_multipart(headers) {
        let secs = state.config.limits.body_timeout_secs;
        match tokio::time::timeout(
            Duration::from_secs(secs),
            parse_multipart(state, headers, body, collection),
        )
        .await
        {
            Ok(res) => res,
            Err(_) => Err(ApiError::field(
                "body",
                "validation_body_timeout",
                format!("The request body did not arrive within {secs} seconds."),
            )),
        }
    } else {
        let bytes = read_bytes(state, body, json_limit).await?;
        Ok(Submitted {
            data: decode_object(&state.config, headers, &bytes)?,
            uploads: Vec::new(),
        })
    }
}

/// A multer error as the client's: too large → 413, anything else a malformed body.
fn multipart_error(e: multer::Error, max: usize) -> ApiError {
    match e {
        multer::Error::StreamSizeExceeded { .. } | multer::Error::FieldSizeExceeded { .. } => {
            ApiError(Error::TooLarge(format!(
                "The request body is larger than the {max} bytes this endpoint accepts."
            )))
        }
        _ => ApiError::bad_request(INVALID_BODY),
    }
}

async fn parse_multipart(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    collection: Option<&Collection>,
) -> ApiResult<Submitted> {
    let limits = &state.config.limits;
    let max = Limit::Upload.bytes(&state.config);
    let text_max = Limit::Document.bytes(&state.config);
    let spool_dir = state.config.data_dir.join(".uploads");
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let boundary = multer::parse_boundary(content_type).map_err(|_| ApiError::bad_request(INVALID_BODY))?;
    let constraints = Constraints::new().size_limit(SizeLimit::new().whole_stream(max as u64));
    let mut multipart = multer::Multipart::with_constraints(body.into_data_stream(), boundary, constraints);
    let mut plain = Map::new();
    let mut payload = Map::new();
    let mut uploads = Vec::new();
    loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(multipart_error(e, max)),
        };
        let key = field.name().unwrap_or("").to_string();
        if key.is_empty() {
            continue;
        }
        let file_name = field.file_name().map(str::to_string);
        let content_type = field.content_type().map(|m| m.to_string());
        if let Some(file_name) = file_name.filter(|_| key != "@jsonPayload") {
            let mut spool = Spool::new(&spool_dir);
            while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(e, max))? {
                spool.write(&chunk).await?;
            }
            let data = spool.finish().await?;
            // An empty file input (no file chosen) sends an empty part with an empty name.
            if file_name.is_empty() && data.is_empty() {
                continue;
            }
            uploads.push(Upload {
                key,
                file_name,
                content_type,
                data,
            });
            continue;
        }
        let mut data = BytesMut::new();
        while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(e, max))? {
            if data.len() + chunk.len() > text_max {
                return Err(ApiError(Error::TooLarge(format!(
                    "The form field {key:?} is larger than the {text_max} bytes a field may hold."
                ))));
            }
            data.extend_from_slice(&chunk);
        }
        if key == "@jsonPayload" {
            let m: Map<String, Value> = decode_object(&state.config, &HeaderMap::new(), &data)?;
            payload.extend(m);
            continue;
        }
        let text = String::from_utf8(data.to_vec()).map_err(|_| ApiError::bad_request(INVALID_BODY))?;
        push_value(&mut plain, key, Value::String(text));
    }
    if let Some(col) = collection {
        for (key, value) in plain.iter_mut() {
            normalize(col, key, value, limits)?;
        }
    }
    plain.extend(payload);
    Ok(Submitted { data: plain, uploads })
}

/// Adds `value` under `key`, turning repeated keys into an array.
fn push_value(map: &mut Map<String, Value>, key: String, value: Value) {
    match map.get_mut(&key) {
        None => {
            map.insert(key, value);
        }
        Some(Value::Array(items)) => items.push(value),
        Some(existing) => {
            let first = existing.take();
            *existing = Value::Array(vec![first, value]);
        }
    }
}

/// Converts a plain form value (strings) to what the field expects. JSON text is held to
/// the same depth and member bounds as a JSON body.
fn normalize(col: &Collection, key: &str, value: &mut Value, limits: &LimitsConfig) -> ApiResult<()> {
    let Some(field) = col.field(base_key(key)) else {
        return Ok(());
    };
    let modifier = key != field.name;
    match &field.kind {
        FieldKind::Number(_) => map_strings(value, &|s| {
            let t = s.trim();
            if t.is_empty() {
                return Some(Value::from(0));
            }
            if let Ok(i) = t.parse::<i64>() {
                return Some(Value::from(i));
            }
            t.parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
        }),
        FieldKind::Bool(_) => map_strings(value, &|s| match s.trim() {
            "true" | "1" | "on" => Some(Value::Bool(true)),
            "false" | "0" | "" | "off" => Some(Value::Bool(false)),
            _ => None,
        }),
        FieldKind::Json(_) => {
            check_json_texts(value, limits)?;
            map_strings(value, &|s| {
                let t = s.trim();
                if t.is_empty() {
                    return Some(Value::Null);
                }
                Some(serde_json::from_str(t).unwrap_or_else(|_| Value::String(s.to_string())))
            })
        }
        _ if field.is_multiple() || modifier => {
            if let Value::String(s) = value {
                *value = if s.is_empty() {
                    Value::Array(vec![])
                } else {
                    Value::Array(vec![Value::String(s.clone())])
                };
            }
        }
        _ => {}
    }
    Ok(())
}

/// Checks the JSON text in `value` (a string or an array of strings) with [`check_shape`].
fn check_json_texts(value: &Value, limits: &LimitsConfig) -> ApiResult<()> {
    match value {
        Value::String(s) => check_shape(s.as_bytes(), limits),
        Value::Array(items) => items.iter().try_for_each(|i| check_json_texts(i, limits)),
        _ => Ok(()),
    }
}

fn map_strings(value: &mut Value, f: &dyn Fn(&str) -> Option<Value>) {
    match value {
        Value::String(s) => {
            if let Some(v) = f(s) {
                *value = v;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| map_strings(i, f)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_become_arrays() {
        let mut m = Map::new();
        push_value(&mut m, "a".into(), Value::from("1"));
        push_value(&mut m, "a".into(), Value::from("2"));
        push_value(&mut m, "a".into(), Value::from("3"));
        assert_eq!(m["a"], serde_json::json!(["1", "2", "3"]));
    }
}
