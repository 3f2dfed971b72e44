//! Liveness (`/api/health`), readiness (`/api/ready`) and Prometheus metrics (`/metrics`).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::error::ApiError;
use crate::state::AppState;

/// `GET|HEAD /api/health`, `GET /api/ready`, `GET /metrics`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/health", get(health))
        .route("/api/ready", get(ready))
        .route("/metrics", get(metrics))
}

/// PocketBase's liveness answer: the process serves requests.
async fn health() -> Json<serde_json::Value> {
    Json(json!({"code": 200, "message": "API is healthy.", "data": {}}))
}

/// Readiness: every engine answers. 503 naming what is down otherwise.
async fn ready(State(state): State<AppState>) -> Response {
    let (db, files) = tokio::join!(state.store.engine().ping(), state.files.ping());
    let status_of = |r: &keel_core::Result<()>, what: &str| match r {
        Ok(()) => "ok",
        Err(e) => {
            tracing::warn!(error = %e, component = what, "readiness check failed");
            "unavailable"
        }
    };
    let data = json!({"database": status_of(&db, "database"), "files": status_of(&files, "files")});
    if db.is_ok() && files.is_ok() {
        (
            StatusCode::OK,
            Json(json!({"code": 200, "message": "ready", "data": data})),
        )
            .into_response()
    } else {
        let mut down = Vec::new();
        if db.is_err() {
            down.push("database");
        }
        if files.is_err() {
            down.push("files");
        }
        let message = format!("not ready: {} unavailable", down.join(" and "));
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"code": 503, "message": message, "data": data})),
        )
            .into_response()
    }
}

/// The Prometheus text exposition of every recorded metric; 404 when metrics are off.
async fn metrics(State(state): State<AppState>) -> Response {
    match &state.metrics {
        Some(handle) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
            handle.render(),
        )
            .into_response(),
        None => ApiError::not_found().into_response(),
    }
}
