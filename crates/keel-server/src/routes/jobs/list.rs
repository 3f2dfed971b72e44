//! `GET /api/queues/{queue}/jobs?state=&page=1&perPage=30`: the queue's jobs, newest first,
//! optionally in one state (`waiting`, `delayed`, `active`, `completed`, `failed`, `dead`,
//! `cancelled`), as `{"page", "perPage", "totalItems", "totalPages", "items"}`.

use axum::extract::{Path, State};
use axum::http::Uri;
use axum::Json;
use keel_jobs::JobState;
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
    security(("authToken" = []), ("apiKey" = [])), params(("state" = Option<String>, Query, description = "waiting, delayed, active, completed, failed, dead or cancelled"), crate::openapi::params::PageQuery), responses((status = 200, description = "`{page, perPage, totalItems, totalPages, items: [Job]}`", body = crate::openapi::schemas::Object))
)]
pub(super) async fn list_jobs(
    State(state): State<AppState>,
    caller: Caller,
    Path(queue): Path<String>,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    jobs::guard(&caller, Op::Read, Some(&queue))?;
    let (job_state, page, per_page) = parse_query(uri.query().unwrap_or(""))?;
    let page = jobs::list(&state, &caller, &queue, job_state, page, per_page).await?;
    Ok(Json(to_json(&page)?))
}

/// `state` (empty = any), `page` (≥ 1) and `perPage` (1–500).
fn parse_query(query: &str) -> ApiResult<(Option<JobState>, u32, u32)> {
    let mut state = None;
    let mut page = 1;
    let mut per_page = DEFAULT_PER_PAGE;
    for (k, v) in form_pairs(query) {
        match k.as_str() {
            "state" if v.is_empty() => state = None,
            "state" => state = Some(JobState::parse("state", &v)?),
            "page" => page = parse_number("page", &v, u32::MAX)?,
            "perPage" => per_page = parse_number("perPage", &v, MAX_PER_PAGE)?,
            _ => {}
        }
    }
    Ok((state, page, per_page))
}

fn parse_number(field: &str, raw: &str, max: u32) -> ApiResult<u32> {
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
        assert_eq!(parse_query("").unwrap(), (None, 1, 30));
        assert_eq!(
            parse_query("state=dead&page=2&perPage=5").unwrap(),
            (Some(JobState::Dead), 2, 5)
        );
        assert_eq!(parse_query("state=").unwrap().0, None);
        for bad in [
            "state=sleeping",
            "page=0",
            "page=x",
            "perPage=501",
            "perPage=-1",
            "page=1.5",
        ] {
            assert!(parse_query(bad).is_err(), "{bad}");
        }
    }
}
