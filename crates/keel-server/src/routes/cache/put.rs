//! `PUT /api/cache/{namespace}/{key}?ttl=SECONDS&tags=a,b`: stores the JSON body, replacing
//! any value, TTL and tags the key had. 204 on success.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use serde_json::Value;

use super::check_name;
use crate::authz::{authorize, Permission};
use crate::error::{ApiError, ApiResult};
use crate::request::{form_pairs, Caller};
use crate::state::AppState;

/// The longest TTL accepted: ten years.
const MAX_TTL_SECS: f64 = 10.0 * 365.0 * 24.0 * 3600.0;
/// The most tags one entry may carry.
const MAX_TAGS: usize = 64;

pub(super) async fn put_value(
    State(state): State<AppState>,
    caller: Caller,
    Path((namespace, key)): Path<(String, String)>,
    uri: Uri,
    body: Bytes,
) -> ApiResult<StatusCode> {
    authorize(&caller, Permission::CacheWrite)?;
    check_name("namespace", &namespace)?;
    check_name("key", &key)?;
    let (ttl, tags) = parse_query(uri.query().unwrap_or(""))?;
    let value: Value =
        serde_json::from_slice(&body).map_err(|_| ApiError::bad_request("The request body must be a JSON value."))?;
    state.cache.set(&namespace, &key, value, ttl, &tags).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `ttl` (positive seconds, fractions allowed) and `tags` (comma-separated).
fn parse_query(query: &str) -> Result<(Option<Duration>, Vec<String>), ApiError> {
    let mut ttl = None;
    let mut tags = Vec::new();
    for (k, v) in form_pairs(query) {
        match k.as_str() {
            "ttl" => ttl = Some(parse_ttl(&v)?),
            "tags" => {
                for tag in v.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                    check_name("tags", tag)?;
                    if !tags.iter().any(|t| t == tag) {
                        tags.push(tag.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(ApiError::field(
            "tags",
            "validation_too_many_tags",
            format!("At most {MAX_TAGS} tags per entry."),
        ));
    }
    Ok((ttl, tags))
}

fn parse_ttl(raw: &str) -> Result<Duration, ApiError> {
    let bad = || {
        ApiError::field(
            "ttl",
            "validation_invalid_ttl",
            "Must be a positive number of seconds (at most ten years).",
        )
    };
    let secs: f64 = raw.trim().parse().map_err(|_| bad())?;
    if !secs.is_finite() || secs <= 0.0 || secs > MAX_TTL_SECS {
        return Err(bad());
    }
    let d = Duration::try_from_secs_f64(secs).map_err(|_| bad())?;
    if d.is_zero() {
        return Err(bad());
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_and_tags() {
        let (ttl, tags) = parse_query("ttl=1.5&tags=a,%20b,,a").unwrap();
        assert_eq!(ttl, Some(Duration::from_millis(1500)));
        assert_eq!(tags, vec!["a", "b"]);
        for bad in [
            "ttl=0",
            "ttl=-1",
            "ttl=abc",
            "ttl=NaN",
            "ttl=inf",
            "ttl=1e300",
            "ttl=",
            "ttl=1e-12",
        ] {
            assert!(parse_query(bad).is_err(), "{bad}");
        }
        assert!(parse_query("tags=a%20b").is_err());
    }
}
