//! `GET /api/queues/{queue}/jobs?state=&name=&page=1&perPage=30`: the queue's jobs, newest
//! first, optionally in one state (`waiting`, `delayed`, `active`, `completed`, `failed`,
//! `dead`, `cancelled`) and whose name starts with `name` (ignoring case), as `{"page",
//! "perPage", "totalItems", "totalPages", "items"}`.

use axum::extract::{Path, State};
use axum::http::Uri;
use axum::Json;
use keel_jobs::{JobFilter, JobState};
use serde_json::Value;

use super::to_json;
use crate::error::{ApiError, ApiResult};
use crate::request::{form_pairs, Caller};
use crate::state::AppState;
use keel_app::jobs::{self, Op};

/// The largest page.
const MAX_PER_PAGE: u32 = 500;
const DEFAULT_PER_PAGE: u32 = 30;

#[utoipa::path(
    get, path = "/api/queues/{queue}/jobs", operation_id = "listJobs", tag = "jobs",
    security(("authToken" = []), ("apiKey" = [])), params(("state" = Option<String>, Query, description = "waiting, delayed, active, completed, failed, dead or cancelled"), ("name" = Option<String>, Query, description = "only jobs whose name starts with this, ignoring case"), crate::openapi::params::PageQuery), responses((status = 200, description = "`{page, perPage, totalItems, totalPages, items: [Job]}`", body = crate::openapi::schemas::Object))
)]
pub(super) async fn list_jobs(
    State(state): State<AppState>,
    caller: Caller,
    Path(queue): Path<String>,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    jobs::guard(&caller, Op::Read, Some(&queue))?;
    let (filter, page, per_page) = parse_query(uri.query().unwrap_or(""))?;
    let page = jobs::list(&state, &caller, &queue, &filter, page, per_page).await?;
    Ok(Json(to_json(&page)?))
}

/// `state` (empty = any), `name` (a prefix; empty = any), `page` (≥ 1) and `perPage` (1–500).
fn parse_query(query: &str) -> ApiResult<(JobFilter, u32, u32)> {
    let mut filter = JobFilter::default();
    let mut page = 1;
    let mut per_page = DEFAULT_PER_PAGE;
    for (k, v) in form_pairs(query) {
        match k.as_str() {
            "state" if v.is_empty() => filter.state = None,
            "state" => filter.state = Some(JobState::parse("state", &v)?),
            "name" if v.chars().count() > 200 => {
                return Err(ApiError::field(
                    "name",
                    "validation_length_out_of_range",
                    "name is at most 200 characters (a job's name is no longer).",
                ))
            }
            "name" => filter.name = Some(v),
            "page" => page = parse_number("page", &v, u32::MAX)?,
            "perPage" => per_page = parse_number("perPage", &v, MAX_PER_PAGE)?,
            _ => {}
        }
    }
    Ok((filter, page, per_page))
}

/// A whole number from 1 to `max` in query parameter `field`, or a 400 naming it.
pub(super) fn parse_number(field: &str, raw: &str, max: u32) -> ApiResult<u32> {
    match raw.trim().parse::<u32>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::field(
            field,
            "validation_out_of_range",
            format!("{field} must be a whole number from 1 to {max}."),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query() {
        let parsed = |q: &str| {
            let (f, page, per_page) = parse_query(q).unwrap();
            (f.state, f.name, page, per_page)
        };
        assert_eq!(parsed(""), (None, None, 1, 30));
        assert_eq!(
            parsed("state=dead&page=2&perPage=5&name=send-"),
            (Some(JobState::Dead), Some("send-".into()), 2, 5)
        );
        assert_eq!(parsed("state=").0, None);
        for bad in [
            "state=sleeping",
            "page=0",
            "page=x",
            "perPage=501",
            "perPage=-1",
            "page=1.5",
            &*format!("name={}", "x".repeat(201)),
        ] {
            assert!(parse_query(bad).is_err(), "{bad}");
        }
    }
}
