//! Query parameters shared by list endpoints: `page`, `perPage`, `sort`, `filter`,
//! `skipTotal`, plus `expand` and `fields` on every record response.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::Uri;
use keel_data::ListParams;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::request::form_pairs;

/// The largest `page` accepted: its rows' offset, `(page - 1) * perPage`, fits the
/// engine's 64-bit integers.
pub const MAX_PAGE: u64 = i64::MAX as u64 / MAX_PER_PAGE;

/// The largest `perPage` served; a larger one is lowered to it (PocketBase's `MaxPerPage`).
pub const MAX_PER_PAGE: u64 = 1000;
/// `perPage` when none is given.
pub const DEFAULT_PER_PAGE: u64 = 30;

/// The query parameters of a record request, decoded once.
#[derive(Debug, Default, Clone)]
pub struct Query {
    pub page: Option<String>,
    pub per_page: Option<String>,
    pub sort: Option<String>,
    pub filter: Option<String>,
    pub skip_total: Option<String>,
    pub expand: Option<String>,
    pub fields: Option<String>,
    pub search: Option<String>,
}

impl Query {
    /// Reads the parameters from a URI's query string (the last occurrence wins).
    pub fn from_uri(uri: &Uri) -> Query {
        Query::from_query_str(uri.query().unwrap_or(""))
    }

    /// Reads the parameters from a raw query string.
    pub fn from_query_str(q: &str) -> Query {
        let mut out = Query::default();
        for (k, v) in form_pairs(q) {
            let slot = match k.as_str() {
                "page" => &mut out.page,
                "perPage" => &mut out.per_page,
                "sort" => &mut out.sort,
                "filter" => &mut out.filter,
                "skipTotal" => &mut out.skip_total,
                "expand" => &mut out.expand,
                "fields" => &mut out.fields,
                "search" => &mut out.search,
                _ => continue,
            };
            *slot = Some(v);
        }
        out
    }

    /// `expand`, when non-empty.
    pub fn expand(&self) -> Option<&str> {
        self.expand.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }

    /// `fields`, when non-empty.
    pub fn fields(&self) -> Option<&str> {
        self.fields.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }

    /// Validates paging and turns the parameters into `ListParams`. Bad values are a 400
    /// naming the parameter.
    pub fn list_params(&self) -> ApiResult<ListParams> {
        let page = parse_positive("page", self.page.as_deref(), 1, MAX_PAGE)?;
        // PocketBase lowers a larger perPage to its maximum rather than refusing it.
        let per_page =
            parse_positive("perPage", self.per_page.as_deref(), DEFAULT_PER_PAGE, u64::MAX)?.min(MAX_PER_PAGE);
        let skip_total = match self.skip_total.as_deref().map(str::trim) {
            None | Some("") | Some("0") | Some("false") => false,
            Some("1") | Some("true") => true,
            Some(_) => {
                return Err(ApiError::field(
                    "skipTotal",
                    "validation_invalid_value",
                    "skipTotal must be true or false.",
                ))
            }
        };
        let nonempty = |s: &Option<String>| s.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(String::from);
        Ok(ListParams {
            page,
            per_page,
            sort: nonempty(&self.sort),
            filter: nonempty(&self.filter),
            skip_total,
        })
    }
}

fn parse_positive(name: &str, raw: Option<&str>, default: u64, max: u64) -> ApiResult<u64> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(default);
    };
    match raw.parse::<u64>() {
        Ok(n) if n >= 1 && n <= max => Ok(n),
        Ok(n) if n > max => Err(ApiError::field(
            name,
            "validation_max_less_equal_than_required",
            format!("{name} must be at most {max}."),
        )),
        _ => Err(ApiError::field(
            name,
            "validation_invalid_value",
            format!("{name} must be a positive integer."),
        )),
    }
}

/// The list-query extractor: `page`, `perPage`, `sort`, `filter`, `skipTotal`, `expand`,
/// `fields` and Keel's `search` read once into the plain [`keel_app::records::ListQuery`] (bad paging is a 400
/// naming the parameter). Take it as `Result<ListQuery, ApiError>` to answer a missing
/// collection's 404 first, as PocketBase does.
pub struct ListQuery(pub keel_app::records::ListQuery);

impl<S: Send + Sync> FromRequestParts<S> for ListQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let q = Query::from_uri(&parts.uri);
        Ok(ListQuery(keel_app::records::ListQuery {
            params: q.list_params()?,
            expand: q.expand().map(String::from),
            fields: q.fields().map(String::from),
            search: q
                .search
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from),
        }))
    }
}

/// PocketBase's list shape: `{page, perPage, totalItems, totalPages, items}`.
pub fn list_json(page: u64, per_page: u64, total_items: i64, total_pages: i64, items: Vec<Value>) -> Value {
    json!({
        "page": page,
        "perPage": per_page,
        "totalItems": total_items,
        "totalPages": total_pages,
        "items": items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_validates_paging() {
        let q = Query::from_query_str("page=2&perPage=50&sort=-created&filter=a%3D1&skipTotal=1&expand=x&fields=id");
        let p = q.list_params().unwrap();
        assert_eq!((p.page, p.per_page, p.skip_total), (2, 50, true));
        assert_eq!(p.sort.as_deref(), Some("-created"));
        assert_eq!(p.filter.as_deref(), Some("a=1"));
        assert_eq!(q.expand(), Some("x"));
        let d = Query::from_query_str("").list_params().unwrap();
        assert_eq!((d.page, d.per_page, d.skip_total), (1, 30, false));
        let big = Query::from_query_str("perPage=1001").list_params().unwrap();
        assert_eq!(big.per_page, MAX_PER_PAGE);
        for bad in [
            "perPage=0",
            "page=-1",
            "page=abc",
            "skipTotal=maybe",
            "page=9223372036854775807",
            "page=99999999999999999999",
        ] {
            assert!(Query::from_query_str(bad).list_params().is_err(), "{bad}");
        }
    }
}
