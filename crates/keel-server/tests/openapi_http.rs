//! `/api/openapi.json` documents every route Keel serves, and `/api/docs` is a page whose
//! assets Keel serves itself.
//!
//! Two nets catch a route without documentation: routes are registered only through
//! utoipa-axum's `routes!` (a source scan below refuses `.route(` elsewhere), and the table
//! [`ROUTES`] lists every (method, path) Keel answers: each row must be answered (not the
//! router's 404 or 405) and be in the document, and the document must hold nothing else.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::App;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// Every route of the Web API: (method, path template as documented). Adding a route means
/// adding its row here, and its `#[utoipa::path]` (without which it cannot be registered).
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/health"),
    ("GET", "/api/ready"),
    ("GET", "/metrics"),
    ("GET", "/api/settings"),
    ("PATCH", "/api/settings"),
    ("GET", "/api/backups"),
    ("POST", "/api/backups"),
    ("POST", "/api/backups/upload"),
    ("GET", "/api/backups/{key}"),
    ("DELETE", "/api/backups/{key}"),
    ("POST", "/api/backups/{key}/restore"),
    ("POST", "/api/settings/test/s3"),
    ("POST", "/api/settings/test/email"),
    ("GET", "/api/collections"),
    ("POST", "/api/collections"),
    ("PUT", "/api/collections/import"),
    ("GET", "/api/collections/meta/scaffolds"),
    ("GET", "/api/collections/{collection}"),
    ("PATCH", "/api/collections/{collection}"),
    ("DELETE", "/api/collections/{collection}"),
    ("DELETE", "/api/collections/{collection}/truncate"),
    ("GET", "/api/collections/{collection}/records"),
    ("POST", "/api/collections/{collection}/records"),
    ("GET", "/api/collections/{collection}/records/{id}"),
    ("PATCH", "/api/collections/{collection}/records/{id}"),
    ("DELETE", "/api/collections/{collection}/records/{id}"),
    ("GET", "/api/collections/{collection}/records/{id}/roles"),
    ("POST", "/api/collections/{collection}/auth-with-password"),
    ("POST", "/api/collections/{collection}/auth-refresh"),
    ("GET", "/api/collections/{collection}/auth-methods"),
    ("POST", "/api/collections/{collection}/auth-with-totp"),
    ("GET", "/api/collections/{collection}/totp"),
    ("POST", "/api/collections/{collection}/totp/setup"),
    ("POST", "/api/collections/{collection}/totp/confirm"),
    ("POST", "/api/collections/{collection}/totp/disable"),
    ("POST", "/api/collections/{collection}/impersonate/{id}"),
    ("POST", "/api/collections/{collection}/auth-revoke"),
    ("POST", "/api/collections/{collection}/request-verification"),
    ("POST", "/api/collections/{collection}/confirm-verification"),
    ("POST", "/api/collections/{collection}/request-password-reset"),
    ("POST", "/api/collections/{collection}/confirm-password-reset"),
    ("POST", "/api/collections/{collection}/request-email-change"),
    ("POST", "/api/collections/{collection}/confirm-email-change"),
    ("POST", "/api/collections/{collection}/request-otp"),
    ("POST", "/api/collections/{collection}/auth-with-otp"),
    ("POST", "/api/collections/{collection}/auth-with-oauth2"),
    ("POST", "/api/collections/{collection}/auth-with-ldap"),
    ("GET", "/api/oauth2-redirect"),
    ("POST", "/api/oauth2-redirect"),
    ("POST", "/api/files/token"),
    ("GET", "/api/files/{collection}/{record}/{filename}"),
    ("POST", "/api/batch"),
    ("GET", "/api/realtime"),
    ("POST", "/api/realtime"),
    ("GET", "/api/cache/{namespace}"),
    ("DELETE", "/api/cache/{namespace}"),
    ("GET", "/api/cache/{namespace}/{key}"),
    ("PUT", "/api/cache/{namespace}/{key}"),
    ("DELETE", "/api/cache/{namespace}/{key}"),
    ("POST", "/api/cache/{namespace}/{key}"),
    ("POST", "/api/cache/{namespace}/{key}/incr"),
    ("POST", "/api/install"),
    ("GET", "/api/queues"),
    ("GET", "/api/queues/{queue}"),
    ("PATCH", "/api/queues/{queue}"),
    ("GET", "/api/queues/{queue}/throughput"),
    ("GET", "/api/queues/{queue}/jobs"),
    ("POST", "/api/queues/{queue}/jobs"),
    ("POST", "/api/queues/{queue}/claim"),
    ("POST", "/api/queues/{queue}/pause"),
    ("POST", "/api/queues/{queue}/resume"),
    ("GET", "/api/jobs/{id}"),
    ("POST", "/api/jobs/{id}/heartbeat"),
    ("POST", "/api/jobs/{id}/progress"),
    ("POST", "/api/jobs/{id}/complete"),
    ("POST", "/api/jobs/{id}/fail"),
    ("POST", "/api/jobs/{id}/retry"),
    ("POST", "/api/jobs/{id}/cancel"),
    ("GET", "/api/schedules"),
    ("POST", "/api/schedules"),
    ("GET", "/api/schedules/{id}"),
    ("PATCH", "/api/schedules/{id}"),
    ("DELETE", "/api/schedules/{id}"),
    ("POST", "/api/schedules/{id}/pause"),
    ("POST", "/api/schedules/{id}/resume"),
    ("POST", "/api/schedules/{id}/trigger"),
    ("GET", "/api/schedules/{id}/runs"),
    ("GET", "/api/roles"),
    ("POST", "/api/roles"),
    ("GET", "/api/roles/{name}"),
    ("PATCH", "/api/roles/{name}"),
    ("DELETE", "/api/roles/{name}"),
    ("GET", "/api/roles/{name}/members"),
    ("PUT", "/api/roles/{name}/members/{collection}/{record}"),
    ("DELETE", "/api/roles/{name}/members/{collection}/{record}"),
    ("GET", "/api/apikeys"),
    ("POST", "/api/apikeys"),
    ("GET", "/api/apikeys/{id}"),
    ("DELETE", "/api/apikeys/{id}"),
    ("POST", "/api/apikeys/{id}/revoke"),
    ("POST", "/api/apikeys/{id}/rotate"),
    ("GET", "/api/audit"),
    ("GET", "/api/logs"),
    ("GET", "/api/logs/stats"),
    ("GET", "/api/logs/{id}"),
    ("GET", "/api/webhooks"),
    ("POST", "/api/webhooks"),
    ("GET", "/api/webhooks/{id}"),
    ("PATCH", "/api/webhooks/{id}"),
    ("DELETE", "/api/webhooks/{id}"),
    ("POST", "/api/webhooks/{id}/rotate-secret"),
    ("GET", "/api/webhooks/{id}/deliveries"),
    ("POST", "/api/webhooks/{id}/deliveries/{deliveryId}/redeliver"),
    ("POST", "/api/webhooks/{id}/test"),
    ("GET", "/api/vault/secrets"),
    ("POST", "/api/vault/secrets"),
    ("GET", "/api/vault/secrets/{id}"),
    ("PATCH", "/api/vault/secrets/{id}"),
    ("DELETE", "/api/vault/secrets/{id}"),
    ("POST", "/api/vault/secrets/{id}/reveal"),
    ("GET", "/api/search"),
    ("GET", "/api/search/indexes"),
    ("GET", "/api/search/indexes/{name}"),
    ("PUT", "/api/search/indexes/{name}"),
    ("DELETE", "/api/search/indexes/{name}"),
    ("POST", "/api/search/indexes/{name}/documents"),
    ("DELETE", "/api/search/indexes/{name}/documents/{id}"),
    ("POST", "/api/changes/classify"),
    ("POST", "/api/changes/api-diff"),
    ("GET", "/api/changes"),
    ("GET", "/api/changes/{id}"),
    ("GET", "/api/changes/stats"),
    ("GET", "/api/changes/export"),
    ("POST", "/api/changes"),
    ("POST", "/api/changes/{id}/submit"),
    ("POST", "/api/changes/{id}/approve"),
    ("POST", "/api/changes/{id}/reject"),
    ("POST", "/api/changes/{id}/apply"),
    ("POST", "/api/changes/{id}/rollback"),
    ("GET", "/api/changes/{id}/comments"),
    ("GET", "/api/changes/{id}/impact"),
    ("GET", "/api/collections/{collection}/openapi.json"),
    ("POST", "/api/changes/{id}/comments"),
    ("GET", "/api/collections/{collection}/versions"),
    ("GET", "/api/collections/{collection}/versions/{version}"),
    ("GET", "/api/ops/targets"),
    ("POST", "/api/ops/targets"),
    ("GET", "/api/ops/targets/{id}"),
    ("PATCH", "/api/ops/targets/{id}"),
    ("DELETE", "/api/ops/targets/{id}"),
    ("POST", "/api/ops/targets/{id}/test"),
    ("GET", "/api/ops/runbooks"),
    ("POST", "/api/ops/runbooks"),
    ("POST", "/api/ops/runbooks/import"),
    ("GET", "/api/ops/runbooks/{id}"),
    ("PUT", "/api/ops/runbooks/{id}"),
    ("DELETE", "/api/ops/runbooks/{id}"),
    ("GET", "/api/ops/runbooks/{id}/versions"),
    ("GET", "/api/ops/runbooks/{id}/versions/{version}"),
    ("GET", "/api/ops/runbooks/{id}/export"),
    ("POST", "/api/ops/runbooks/{id}/run"),
    ("GET", "/api/ops/runs"),
    ("GET", "/api/ops/runs/{id}"),
    ("GET", "/api/ops/runs/{id}/log"),
    ("POST", "/api/ops/runs/{id}/cancel"),
    ("POST", "/api/ops/runs/{id}/rerun"),
    ("POST", "/api/ops/runs/{id}/approve"),
    ("POST", "/api/ops/runs/{id}/reject"),
    ("POST", "/api/notifications/send"),
    ("GET", "/api/notifications"),
    ("GET", "/api/notifications/{id}"),
    ("POST", "/api/notifications/{id}/read"),
    ("POST", "/api/notifications/{id}/ack"),
    ("GET", "/api/notifications/{id}/deliveries"),
    ("GET", "/api/notifications/templates"),
    ("POST", "/api/notifications/templates"),
    ("GET", "/api/notifications/templates/{id}"),
    ("PATCH", "/api/notifications/templates/{id}"),
    ("DELETE", "/api/notifications/templates/{id}"),
    ("POST", "/api/notifications/templates/preview"),
    ("GET", "/api/notifications/topics"),
    ("POST", "/api/notifications/topics"),
    ("DELETE", "/api/notifications/topics/{name}"),
    ("POST", "/api/notifications/topics/{name}/subscribers"),
    ("DELETE", "/api/notifications/topics/{name}/subscribers"),
    ("GET", "/api/notifications/preferences"),
    ("PATCH", "/api/notifications/preferences"),
    ("GET", "/api/notifications/preferences/{userId}"),
    ("PATCH", "/api/notifications/preferences/{userId}"),
    ("GET", "/api/notifications/rules"),
    ("POST", "/api/notifications/rules"),
    ("GET", "/api/notifications/rules/{id}"),
    ("PATCH", "/api/notifications/rules/{id}"),
    ("DELETE", "/api/notifications/rules/{id}"),
    ("POST", "/api/notifications/devices"),
    ("DELETE", "/api/notifications/devices"),
];

/// Served, but not part of the Web API the document describes: the document and its page, the
/// `/api/` redirect to it, and the console's HTML pages.
const NOT_DOCUMENTED: &[(&str, &str)] = &[
    ("GET", "/api/openapi.json"),
    ("GET", "/api/docs/"),
    ("GET", "/api/"),
    ("GET", "/api"),
    ("GET", "/_/"),
    ("GET", "/_"),
];

/// A concrete path for a template: each `{name}` becomes `name` (a missing collection, record,
/// job… which the handler answers with its own 404 or 400).
fn concrete(template: &str) -> String {
    template.replace(['{', '}'], "")
}

/// The status of `method path` and whether the answer came from a handler (a router 404 or 405
/// has an empty body; every Keel handler's error is JSON).
async fn probe(app: &App, method: &str, path: &str, token: &str) -> (StatusCode, bool) {
    let req = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(path)
        .header("authorization", token)
        .header("content-type", "application/json")
        .body(Body::from("{}"))
        .unwrap();
    let resp = keel_server::router(app.state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    if status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED {
        // Not read: `GET /api/realtime` is an endless event stream.
        return (status, true);
    }
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, !body.is_empty())
}

async fn document(app: &App) -> Value {
    let r = app.send(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), "application/json");
    r.json
}

/// The (METHOD, path) pairs of the document.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "put", "post", "delete", "patch", "head", "options"].contains(&method.as_str()) {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

#[tokio::test]
async fn every_route_keel_answers_is_in_the_document_and_the_document_holds_nothing_else() {
    let app = App::new().await;
    let token = app.superuser().await;
    let doc = document(&app).await;
    let documented = documented(&doc);
    let table: BTreeSet<(String, String)> = ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    assert_eq!(table.len(), ROUTES.len(), "a row of ROUTES is repeated");

    let mut unanswered = Vec::new();
    for (method, template) in ROUTES {
        let (status, from_handler) = probe(&app, method, &concrete(template), &token).await;
        if !from_handler {
            unanswered.push(format!("{method} {template} → {status}"));
        }
    }
    assert!(unanswered.is_empty(), "the router does not answer: {unanswered:#?}");

    let undocumented: Vec<_> = table.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "served but not in openapi.json: {undocumented:#?}"
    );
    let unlisted: Vec<_> = documented.difference(&table).collect();
    assert!(unlisted.is_empty(), "in openapi.json but not in ROUTES: {unlisted:#?}");

    for (method, path) in NOT_DOCUMENTED {
        let (status, _) = probe(&app, method, path, &token).await;
        assert!(
            status.is_success() || status.is_redirection(),
            "{method} {path} → {status}"
        );
    }
}

#[tokio::test]
async fn a_path_nobody_serves_is_still_a_404_for_the_probe() {
    // The probe's "answered" test itself: an unknown path is the router's empty 404.
    let app = App::new().await;
    let (status, from_handler) = probe(&app, "GET", "/api/no-such-route", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!from_handler);
    let (status, from_handler) = probe(&app, "PUT", "/api/health", "").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(!from_handler);
}

#[test]
fn routes_are_registered_only_through_their_documentation() {
    // `routes!` takes the method and path from each handler's `#[utoipa::path]`; a bare
    // `.route(` would serve a route the document does not know. The console's HTML pages are
    // the one exception (see NOT_DOCUMENTED).
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/routes");
    let mut offenders = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") || path.ends_with("console/mod.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for needle in [
                ".route(",
                ".route_service(",
                ".nest(",
                ".nest_service(",
                "Router::new()",
            ] {
                if text.contains(needle) && !(needle == "Router::new()" && text.contains("OpenApiRouter::new()")) {
                    offenders.push(format!("{}: {needle}", path.strip_prefix(&root).unwrap().display()));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "routes registered outside routes!(): {offenders:#?}"
    );
}

#[tokio::test]
async fn the_document_is_openapi_3_1_with_parameters_errors_and_credentials() {
    let app = App::new().await;
    let doc = document(&app).await;
    assert_eq!(doc["openapi"], "3.1.0");
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["authToken"]["type"], "apiKey");
    assert_eq!(schemes["authToken"]["in"], "header");
    assert_eq!(schemes["authToken"]["name"], "Authorization");
    assert_eq!(schemes["apiKey"]["name"], "Authorization");
    assert_eq!(schemes["bearerAuth"]["scheme"], "bearer");
    let error = &doc["components"]["schemas"]["ErrorBody"];
    for field in ["status", "message", "data"] {
        assert!(error["properties"][field].is_object(), "ErrorBody.{field}");
    }

    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let names: Vec<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        for (method, op) in item.as_object().unwrap() {
            let at = format!("{method} {path}");
            let id = op["operationId"].as_str().unwrap_or_default().to_string();
            assert!(
                !id.is_empty() && ids.insert(id.clone()),
                "{at}: operationId {id:?} missing or repeated"
            );
            assert!(op["tags"].as_array().is_some_and(|t| !t.is_empty()), "{at}: no tag");
            assert_eq!(
                op["responses"]["default"]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ErrorBody",
                "{at}: no error response"
            );
            assert!(
                op["responses"].as_object().unwrap().keys().any(|k| k.starts_with('2')),
                "{at}: no success response"
            );
            assert!(
                op["security"].as_array().is_some_and(|s| !s.is_empty()),
                "{at}: no security"
            );
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            for name in &names {
                assert!(
                    params
                        .iter()
                        .any(|p| p["in"] == "path" && p["name"] == *name && p["required"] == true),
                    "{at}: path parameter {name} not declared"
                );
            }
            for p in params.iter().filter(|p| p["in"] == "path") {
                assert!(
                    p["description"].as_str().is_some_and(|d| !d.is_empty()),
                    "{at}: path parameter {} is not described",
                    p["name"]
                );
            }
        }
    }

    // Spot checks of what a client needs to know.
    let list = &doc["paths"]["/api/collections/{collection}/records"]["get"];
    let query: Vec<&str> = list["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["in"] == "query")
        .filter_map(|p| p["name"].as_str())
        .collect();
    for name in ["page", "perPage", "sort", "filter", "skipTotal", "expand", "fields"] {
        assert!(query.contains(&name), "list records: {name} missing from {query:?}");
    }
    let create = &doc["paths"]["/api/collections/{collection}/records"]["post"]["requestBody"]["content"];
    assert!(create["application/json"].is_object() && create["multipart/form-data"].is_object());
    let record = &doc["components"]["schemas"]["Record"];
    for field in ["id", "collectionId", "collectionName"] {
        assert!(record["properties"][field].is_object(), "Record.{field}");
    }
    assert!(record["additionalProperties"].is_object() || record["additionalProperties"] == true);
    let queue = &doc["paths"]["/api/queues/{queue}"]["get"]["parameters"][0];
    assert_eq!(queue["schema"]["pattern"], "^[A-Za-z0-9_-]{1,64}$", "{queue}");
    let settings = &doc["paths"]["/api/settings"]["get"]["security"];
    assert_eq!(
        settings,
        &serde_json::json!([{"authToken": []}]),
        "settings: superusers only"
    );
}

#[tokio::test]
async fn the_docs_page_and_every_asset_it_loads_are_served_by_keel() {
    let app = App::new().await;
    let r = app.send(Method::GET, "/api/docs/", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.header("content-type").starts_with("text/html"),
        "{}",
        r.header("content-type")
    );
    let page = r.text();
    let mut assets = Vec::new();
    for attr in ["src=\"", "href=\""] {
        for part in page.split(attr).skip(1) {
            let url = part.split('"').next().unwrap();
            assert!(
                !url.contains("://") && !url.starts_with("//"),
                "the page loads {url} from elsewhere"
            );
            assets.push(url.trim_start_matches("./").to_string());
        }
    }
    assert!(assets.iter().any(|a| a.ends_with(".js")), "{page}");
    assert!(assets.iter().any(|a| a.ends_with(".css")), "{page}");
    for asset in &assets {
        let path = if asset.starts_with('/') {
            asset.clone()
        } else {
            format!("/api/docs/{asset}")
        };
        let r = app.send(Method::GET, &path, None, None).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert!(!r.bytes.is_empty(), "{path}");
        if path.ends_with("swagger-initializer.js") {
            // The page loads Keel's own document, and nothing from another host.
            let js = r.text();
            assert!(js.contains("/api/openapi.json"), "{js}");
            assert!(!js.contains("https://") && !js.contains("http://"), "{js}");
        }
    }

    for path in ["/api/", "/api"] {
        let r = app.send(Method::GET, path, None, None).await;
        assert!(r.status.is_redirection(), "{path}: {}", r.status);
        assert_eq!(r.header("location"), "/api/docs/", "{path}");
    }
}
