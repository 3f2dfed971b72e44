//! Liveness (`/api/health`) and readiness (`/api/ready`); `/metrics` is `routes/metrics.rs`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// `GET|HEAD /api/health`, `GET /api/ready`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health)).routes(routes!(ready))
}

/// PocketBase's liveness answer: the process serves requests.
#[utoipa::path(
    get, path = "/api/health", operation_id = "health", tag = "health",
    responses((status = 200, description = "The process serves requests: `{code: 200, message, data}`", body = crate::openapi::schemas::Object))
)]
async fn health() -> Json<serde_json::Value> {
    Json(json!({"code": 200, "message": "API is healthy.", "data": {}}))
}

/// Readiness: every engine answers (the database, the file store, the cache provider and the
/// jobs store). 503 naming what is down otherwise.
#[utoipa::path(
    get, path = "/api/ready", operation_id = "ready", tag = "health",
    responses((status = 200, description = "Every engine answers", body = crate::openapi::schemas::Object), (status = 503, description = "An engine is down (named in `data`)", body = crate::openapi::schemas::ErrorBody))
)]
async fn ready(State(state): State<AppState>) -> Response {
    let (status, body) = readiness(&keel_app::health::checks(&state).await);
    (status, Json(body)).into_response()
}

/// The readiness answer for named check results: 200 with `"ok"` for each, or 503 with
/// `"unavailable"` for the failed ones, named in the message (causes are logged, not sent).
fn readiness(checks: &[(&str, keel_core::Result<()>)]) -> (StatusCode, serde_json::Value) {
    let mut data = serde_json::Map::new();
    let mut down = Vec::new();
    for (name, result) in checks {
        let status = match result {
            Ok(()) => "ok",
            Err(e) => {
                tracing::warn!(error = %e, component = name, "readiness check failed");
                down.push(*name);
                "unavailable"
            }
        };
        data.insert((*name).into(), status.into());
    }
    let (status, message) = if down.is_empty() {
        (StatusCode::OK, "ready".to_string())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {} unavailable", down.join(", ")),
        )
    };
    (
        status,
        json!({"code": status.as_u16(), "message": message, "data": data}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_names_what_is_down() {
        let (status, body) = readiness(&[("database", Ok(())), ("cache", Ok(()))]);
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["data"], json!({"database": "ok", "cache": "ok"}));
        let down = || Err(keel_core::Error::internal("connection refused"));
        let (status, body) = readiness(&[("database", Ok(())), ("cache", down()), ("jobs", down())]);
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["code"], 503);
        assert_eq!(body["message"], "not ready: cache, jobs unavailable");
        assert_eq!(
            body["data"],
            json!({"database": "ok", "cache": "unavailable", "jobs": "unavailable"})
        );
        assert!(!body.to_string().contains("refused"), "{body}");
    }
}
