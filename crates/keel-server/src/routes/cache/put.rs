//! `PUT /api/cache/{namespace}/{key}?ttl=SECONDS&tags=a,b`: stores the JSON body, replacing
//! any value, TTL and tags the key had. 204 on success.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use serde_json::Value;

use crate::body::{read_json, Limit};
use crate::error::{ApiError, ApiResult};
use crate::request::{form_pairs, Caller};
use crate::state::AppState;
use keel_app::cache::{self, Op};

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
    cache::guard(&caller, Op::Write, &namespace, Some(&key))?;
    let (ttl, tags) = parse_query(uri.query().unwrap_or(""))?;
    let value: Value = read_json(&state, body, Limit::Document).await?;
    cache::set(&state, &caller, &namespace, &key, value, ttl, tags).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `ttl` (positive seconds, fractions allowed) and `tags` (comma-separated), checked.
fn parse_query(query: &str) -> Result<(Option<Duration>, Vec<String>), ApiError> {
    let mut ttl = None;
    let mut tags = Vec::new();
    for (k, v) in form_pairs(query) {
        match k.as_str() {
            "ttl" => {
                let secs: f64 = v.trim().parse().map_err(|_| cache::bad_ttl("ttl"))?;
                ttl = Some(cache::ttl_from_secs("ttl", secs)?);
            }
            "tags" => tags.extend(v.split(',').map(str::trim).filter(|t| !t.is_empty()).map(String::from)),
            _ => {}
        }
    }
    Ok((ttl, cache::check_tags("tags", tags)?))
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
