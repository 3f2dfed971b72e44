//! `PUT /api/cache/{namespace}/{key}?ttl=SECONDS&tags=a,b`: stores the JSON body, replacing
//! any value, TTL and tags the key had. 204 on success.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use serde_json::Value;

use super::{check_name, check_namespace};
use crate::body::{read_json, Limit};
use crate::error::{ApiError, ApiResult};
use crate::request::{form_pairs, Caller};
use crate::state::AppState;
use keel_app::authz::{authorize, Permission};

/// The longest TTL accepted: ten years.
const MAX_TTL_SECS: f64 = 10.0 * 365.0 * 24.0 * 3600.0;
/// The most tags one entry may carry.
const MAX_TAGS: usize = 64;

#[utoipa::path(
    put, path = "/api/cache/{namespace}/{key}", operation_id = "cacheSet", tag = "cache",
    security(("authToken" = []), ("apiKey" = [])), params(("ttl" = Option<f64>, Query, description = "Seconds"), ("tags" = Option<String>, Query, description = "Comma-separated")), request_body(description = "Any JSON value", content = serde_json::Value, content_type = "application/json"), responses((status = 204, description = "Stored"))
)]
pub(super) async fn put_value(
    State(state): State<AppState>,
    caller: Caller,
    Path((namespace, key)): Path<(String, String)>,
    uri: Uri,
    body: Body,
) -> ApiResult<StatusCode> {
    authorize(&caller, Permission::CacheWrite)?;
    check_namespace(&namespace)?;
    check_name("key", &key)?;
    let (ttl, tags) = parse_query(uri.query().unwrap_or(""))?;
    let value: Value = read_json(&state, body, Limit::Document).await?;
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
            "tags" => tags.extend(v.split(',').map(str::trim).filter(|t| !t.is_empty()).map(String::from)),
            _ => {}
        }
    }
    Ok((ttl, check_tags("tags", tags)?))
}

/// Checks every tag with [`check_name`] (a 400 naming `field`), drops repeats and caps the
/// count at [`MAX_TAGS`]. Shared with `set-many`.
pub(super) fn check_tags(field: &str, tags: Vec<String>) -> Result<Vec<String>, ApiError> {
    let mut out: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        check_name(field, &tag)?;
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    if out.len() > MAX_TAGS {
        return Err(ApiError::field(
            field,
            "validation_too_many_tags",
            format!("At most {MAX_TAGS} tags per entry."),
        ));
    }
    Ok(out)
}

fn parse_ttl(raw: &str) -> Result<Duration, ApiError> {
    let secs: f64 = raw.trim().parse().map_err(|_| bad_ttl("ttl"))?;
    ttl_from_secs("ttl", secs)
}

/// A TTL of `secs` seconds: positive, finite, at most ten years, not rounding to zero; else
/// a 400 naming `field`. Shared with `set-many`.
pub(super) fn ttl_from_secs(field: &str, secs: f64) -> Result<Duration, ApiError> {
    if !secs.is_finite() || secs <= 0.0 || secs > MAX_TTL_SECS {
        return Err(bad_ttl(field));
    }
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(bad_ttl(field)),
    }
}

fn bad_ttl(field: &str) -> ApiError {
    ApiError::field(
        field,
        "validation_invalid_ttl",
        "Must be a positive number of seconds (at most ten years).",
    )
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
