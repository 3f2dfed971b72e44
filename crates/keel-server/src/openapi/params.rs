//! Query parameters shared by several routes, for the OpenAPI document. The handlers parse
//! them from the URI themselves (`routes/records/params.rs` and each list route).

use utoipa::IntoParams;

/// A records-style list: PocketBase's `page`, `perPage`, `sort`, `filter`, `skipTotal`,
/// `expand` and `fields`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// The page, from 1.
    #[param(minimum = 1)]
    pub page: Option<u64>,
    /// Records per page, from 1 (default 30); more than 1000 is served as 1000.
    #[param(rename = "perPage", minimum = 1)]
    pub per_page: Option<u64>,
    /// Comma-separated fields, `-` for descending, `@random`; e.g. `-created,title`.
    pub sort: Option<String>,
    /// PocketBase's filter language, e.g. `title ~ "abc" && created > "2024-01-01"`.
    pub filter: Option<String>,
    /// `1`/`true` skips counting (`totalItems` and `totalPages` are then -1).
    #[param(rename = "skipTotal")]
    pub skip_total: Option<bool>,
    /// Relations to expand, comma-separated, dotted for nesting (`author,comments_via_post`).
    pub expand: Option<String>,
    /// Fields to return, comma-separated (`*`, `expand.author.name`, `title:excerpt(200)`).
    pub fields: Option<String>,
}

/// `expand` and `fields` on a response that holds records.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecordQuery {
    /// Relations to expand, comma-separated, dotted for nesting.
    pub expand: Option<String>,
    /// Fields to return, comma-separated.
    pub fields: Option<String>,
}

/// A plain page: `page` and `perPage`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    #[param(minimum = 1)]
    pub page: Option<u32>,
    #[param(rename = "perPage", minimum = 1, maximum = 500)]
    pub per_page: Option<u32>,
}
