//! The OpenAPI 3.1 document (`GET /api/openapi.json`) and its browsable page (`/api/docs`,
//! Swagger UI compiled into the binary). Routes are registered through utoipa-axum's
//! `OpenApiRouter` with `routes!`, so a route and its documentation are one act: each
//! handler's `#[utoipa::path]` gives its method and path to the router and to the document.
//! [`finish`] then adds what every operation shares: its path parameters, the error shape and
//! the optional credentials.

use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::http::header;
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use axum::Router;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, Ref, Required, ResponseBuilder,
};
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::state::AppState;

pub mod auth;
pub mod params;
pub mod schemas;

/// The document's path.
pub const SPEC_PATH: &str = "/api/openapi.json";
/// The browsable page.
pub const DOCS_PATH: &str = "/api/docs";

/// The security scheme of an auth token (`Authorization: <token>`, PocketBase's form;
/// `Bearer <token>` works too).
pub const TOKEN: &str = "authToken";
/// The security scheme of an API key (`Authorization: keel_…`).
pub const API_KEY: &str = "apiKey";

/// The tags, in the order the page shows them.
const TAGS: &[(&str, &str)] = &[
    ("health", "Liveness, readiness, metrics"),
    (
        "install",
        "The first superuser, from the one-time link `keel serve` prints",
    ),
    ("collections", "Collections (PocketBase)"),
    ("records", "Records (PocketBase)"),
    ("auth", "Sign-in flows of auth collections (PocketBase)"),
    ("files", "Record files (PocketBase)"),
    ("batch", "Transactional record writes (PocketBase)"),
    ("realtime", "Server-sent record events (PocketBase)"),
    ("settings", "Application settings (PocketBase)"),
    (
        "backups",
        "Backups of the data dir: create, list, download, upload, restore (PocketBase)",
    ),
    (
        "search",
        "Full-text search across collections, and free-standing search indexes",
    ),
    ("cache", "Key-value cache"),
    ("jobs", "Background jobs and queues"),
    ("schedules", "Schedules that enqueue jobs"),
    ("roles", "Roles and their members"),
    ("apikeys", "API keys"),
    ("audit", "The audit trail"),
    ("logs", "Request logs (superusers), as PocketBase's `/api/logs`"),
    ("webhooks", "Webhook endpoints and their deliveries"),
    (
        "notifications",
        "Notifications: send, inbox, templates, topics, preferences, rules",
    ),
    ("vault", "Secrets, envelope-encrypted; their data is write-only"),
    (
        "ops",
        "Targets, versioned runbooks and their runs: logs, approvals, cancel, rerun",
    ),
    (
        "changes",
        "Schema-change governance: classify a collection change, diff two OpenAPI documents",
    ),
];

/// The document's base: info, tags, security schemes and the shared schemas.
pub fn base() -> OpenApi {
    let info = InfoBuilder::new()
        .title("Keel")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Keel's Web API. Records, collections, auth, files, realtime and batch follow \
             PocketBase's Web API; the other services sit beside it under `/api/`. Every error \
             is `{status, message, data}`. Send an auth token or an API key in `Authorization`.",
        ))
        .build();
    let tags = TAGS
        .iter()
        .map(|(name, about)| TagBuilder::new().name(*name).description(Some(*about)).build());
    let mut components = ComponentsBuilder::new()
        .schema_from::<schemas::ErrorBody>()
        .schema_from::<schemas::Object>()
        .build();
    components.add_security_scheme(
        TOKEN,
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            "Authorization",
            "An auth token from an auth-with-* route, sent as is (PocketBase's form) or as \
             `Bearer <token>`.",
        ))),
    );
    components.add_security_scheme(
        "bearerAuth",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    components.add_security_scheme(
        API_KEY,
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            "Authorization",
            "An API key (`keel_…`, from POST /api/apikeys), sent as is or as `Bearer <key>`.",
        ))),
    );
    OpenApiBuilder::new()
        .info(info)
        .tags(Some(tags))
        .components(Some(components))
        .build()
}

/// Completes every operation: a parameter for each `{name}` of its path it does not declare
/// (a string, required), the error shape as its `default` response, and, where the handler
/// does not say otherwise, optional credentials (a guest, a token or an API key: the route's
/// rules and permissions decide).
pub fn finish(doc: &mut OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let names = template_names(path);
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
            &mut item.options,
        ]
        .into_iter()
        .flatten()
        {
            add_path_params(op, &names);
            describe_path_params(op, path);
            add_error_response(op);
            if op.security.is_none() {
                op.security = Some(vec![
                    SecurityRequirement::default(),
                    SecurityRequirement::new(TOKEN, Vec::<String>::new()),
                    SecurityRequirement::new(API_KEY, Vec::<String>::new()),
                ]);
            }
        }
    }
}

/// `{a}` and `{b}` of `/x/{a}/y/{b}`.
fn template_names(path: &str) -> Vec<String> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(str::to_string)
        .collect()
}

fn add_path_params(op: &mut Operation, names: &[String]) {
    let params = op.parameters.get_or_insert_with(Vec::new);
    let declared: BTreeSet<String> = params
        .iter()
        .filter_map(|p| match p {
            utoipa::openapi::RefOr::T(p) if p.parameter_in == ParameterIn::Path => Some(p.name.clone()),
            _ => None,
        })
        .collect();
    let mut missing = Vec::new();
    for name in names.iter().filter(|n| !declared.contains(*n)) {
        missing.push(utoipa::openapi::RefOr::T(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(
                    utoipa::openapi::ObjectBuilder::new().schema_type(utoipa::openapi::Type::String),
                ))
                .build(),
        ));
    }
    // The added path parameters first, in the template's order.
    missing.append(params);
    *params = missing;
}

/// What each path parameter names, by the path it is in (first match), with the pattern the
/// handler checks where it checks one.
const PATH_PARAMS: &[(&str, &str, &str, Option<&str>)] = &[
    (
        "/api/cache/",
        "namespace",
        "A cache namespace (not starting with `keel-`)",
        Some(NAME),
    ),
    ("/api/cache/", "key", "A cache key", Some(NAME)),
    ("/api/queues/", "queue", "A queue name", Some("^[A-Za-z0-9_-]{1,64}$")),
    ("/api/roles/", "name", "A role name", None),
    ("/api/roles/", "collection", "An auth collection's name or id", None),
    ("/api/roles/", "record", "An auth record's id", None),
    ("/api/files/", "collection", "The collection's name or id", None),
    ("/api/files/", "record", "The record's id", None),
    (
        "/api/files/",
        "filename",
        "The stored file name (as in the record's file field)",
        None,
    ),
    ("/api/collections/", "collection", "A collection's name or id", None),
    ("/api/collections/", "id", "A record's id", None),
    (
        "/api/collections/",
        "version",
        "A version of the collection (`MAJOR.MINOR.PATCH`, see its versions)",
        Some("^[0-9]+\\.[0-9]+\\.[0-9]+$"),
    ),
    ("/api/changes/", "id", "A recorded change's id", None),
    ("/api/jobs/", "id", "A job's id", None),
    ("/api/logs/", "id", "A request log's id", None),
    (
        "/api/backups/",
        "key",
        "A backup's name, e.g. `pb_backup_keel_20260101120000.zip`",
        None,
    ),
    ("/api/schedules/", "id", "A schedule's id", None),
    ("/api/apikeys/", "id", "An API key's id", None),
    ("/api/webhooks/", "id", "A webhook endpoint's id", None),
    ("/api/webhooks/", "deliveryId", "A delivery attempt's id", None),
    ("/api/vault/secrets/", "id", "A secret's id or name", None),
    (
        "/api/search/indexes/",
        "name",
        "A free-standing search index's name",
        Some("^[A-Za-z0-9_-]{1,60}$"),
    ),
    (
        "/api/search/indexes/",
        "id",
        "A document's id",
        Some("^[A-Za-z0-9_.:-]{1,100}$"),
    ),
    ("/api/ops/targets/", "id", "A target's id or name", None),
    ("/api/ops/runbooks/", "id", "A runbook's id or name", None),
    (
        "/api/ops/runbooks/",
        "version",
        "A version number of the runbook (1, 2, …)",
        None,
    ),
    ("/api/ops/runs/", "id", "A run's id", None),
    (
        "/api/notifications/templates/",
        "id",
        "A notification template's id",
        None,
    ),
    ("/api/notifications/rules/", "id", "A notification rule's id", None),
    ("/api/notifications/topics/", "name", "A topic's name", None),
    (
        "/api/notifications/preferences/",
        "userId",
        "An auth record's id (`?collection=`, default `users`)",
        None,
    ),
    (
        "/api/notifications/",
        "id",
        "A notification's id (one recipient's)",
        None,
    ),
];

/// Cache namespaces, keys and tags (`routes/cache/mod.rs::check_name`).
const NAME: &str = "^[A-Za-z0-9_.:-]{1,200}$";

fn describe_path_params(op: &mut Operation, path: &str) {
    for param in op.parameters.iter_mut().flatten() {
        let utoipa::openapi::RefOr::T(param) = param else {
            continue;
        };
        if param.parameter_in != ParameterIn::Path {
            continue;
        }
        let Some((_, _, about, pattern)) = PATH_PARAMS
            .iter()
            .find(|(prefix, name, _, _)| path.starts_with(prefix) && *name == param.name)
        else {
            continue;
        };
        if param.description.is_none() {
            param.description = Some(about.to_string());
        }
        if let Some(pattern) = pattern {
            param.schema = Some(
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::Type::String)
                    .pattern(Some(*pattern))
                    .into(),
            );
        }
    }
}

fn add_error_response(op: &mut Operation) {
    if op.responses.responses.contains_key("default") {
        return;
    }
    let response = ResponseBuilder::new()
        .description("An error, `{status, message, data}`; `data` names the offending fields.")
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build();
    op.responses.responses.insert("default".into(), response.into());
}

/// `GET /api/openapi.json`, `/api/docs` (Swagger UI, its assets compiled in) and `/api/`
/// (a redirect to the page, the link the startup banner prints).
///
/// The document is written to JSON once, here, and only those bytes are kept: the structs it
/// is built from hold about 7 MB for as long as they live (heaptrack), its JSON 167 KB.
pub fn routes(doc: OpenApi) -> Router<AppState> {
    let json = match serde_json::to_vec(&doc) {
        Ok(json) => Bytes::from(json),
        Err(e) => {
            tracing::error!(error = %e, "the OpenAPI document could not be written as JSON");
            Bytes::from_static(b"{}")
        }
    };
    drop(doc);
    // No validator: Swagger UI would otherwise send the document to validator.swagger.io.
    let config = Config::new([SPEC_PATH]).validator_url("none");
    let docs: Router<AppState> = SwaggerUi::new(DOCS_PATH).config(config).into();
    docs.route(SPEC_PATH, get(move || spec(json.clone())))
        .route("/api", get(to_docs))
        .route("/api/", get(to_docs))
}

async fn spec(json: Bytes) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], json)
}

async fn to_docs() -> impl IntoResponse {
    Redirect::temporary(&format!("{DOCS_PATH}/"))
}
