//! The schedules API over HTTP: create with validation, view with upcoming fire times,
//! trigger, run history, pause/resume, delete, and authorization.

mod support;

use axum::http::{Method, StatusCode};
use serde_json::json;
use support::TestApp;

#[tokio::test]
async fn schedules_round_trip() {
    let app = TestApp::new().await;
    let su = app.superuser_token().await;

    let bad = [
        (json!({"cron": "61 * * * *"}), "schedule.cron"),
        (
            json!({"cron": "0 9 * * *", "timezone": "Europe/Nowhere"}),
            "schedule.timezone",
        ),
        (json!({"every": "0s"}), "schedule.every"),
        (json!({"at": "2001-01-01T00:00:00Z"}), "schedule.at"),
    ];
    for (spec, field) in bad {
        let r = app
            .send(
                Method::POST,
                "/api/schedules",
                Some(&su),
                Some(json!({"name": "x", "schedule": spec, "queue": "q"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{spec}: {}", r.text);
        assert!(
            r.json["data"][field]["message"].is_string(),
            "{spec} should name {field}: {}",
            r.text
        );
    }
    let r = app
        .send(
            Method::POST,
            "/api/schedules",
            Some(&su),
            Some(json!({"name": "x", "queue": "q"})),
        )
        .await;
    assert!(r.json["data"]["schedule"].is_object(), "{}", r.text);
    let r = app
        .send(
            Method::POST,
            "/api/schedules",
            Some(&su),
            Some(json!({"name": "x", "schedule": {"every": "1m"}, "queue": "q", "colour": 1})),
        )
        .await;
    assert!(r.json["data"]["colour"].is_object(), "{}", r.text);

    let body = json!({
        "name": "nightly-report",
        "schedule": {"cron": "30 2 * * *", "timezone": "America/New_York"},
        "queue": "reports",
        "job": {"name": "report", "payload": {"kind": "nightly"}},
        "overlap": "allow",
        "catchup": "runOnce",
    });
    let r = app
        .send(Method::POST, "/api/schedules", Some(&su), Some(body.clone()))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let id = r.json["id"].as_str().unwrap().to_string();
    assert_eq!(
        (r.json["overlap"].as_str(), r.json["catchup"].as_str()),
        (Some("allow"), Some("runOnce"))
    );
    let dup = app.send(Method::POST, "/api/schedules", Some(&su), Some(body)).await;
    assert!(dup.json["data"]["name"].is_object(), "{}", dup.text);

    let r = app
        .send(Method::GET, "/api/schedules/nightly-report?next=3", Some(&su), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["id"], id.as_str());
    let upcoming = r.json["upcoming"].as_array().unwrap();
    assert_eq!(upcoming.len(), 3);
    assert!(
        upcoming.iter().all(|t| t.as_str().unwrap().contains(":30:00")),
        "{upcoming:?}"
    );
    let r = app
        .send(Method::GET, "/api/schedules/nightly-report?next=500", Some(&su), None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    let r = app
        .send(Method::POST, &format!("/api/schedules/{id}/trigger"), Some(&su), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        (r.json["queue"].as_str(), r.json["payload"]["kind"].as_str()),
        (Some("reports"), Some("nightly"))
    );
    let job_id = r.json["id"].as_str().unwrap().to_string();
    let r = app
        .send(Method::GET, &format!("/api/schedules/{id}/runs"), Some(&su), None)
        .await;
    let runs = r.json["items"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(
        (runs[0]["outcome"].as_str(), runs[0]["jobId"].as_str()),
        (Some("triggered"), Some(job_id.as_str()))
    );
    assert_eq!(runs[0]["jobState"], "waiting");

    let r = app
        .send(Method::POST, &format!("/api/schedules/{id}/pause"), Some(&su), None)
        .await;
    assert_eq!(r.json["paused"], true);
    let r = app
        .send(Method::POST, &format!("/api/schedules/{id}/resume"), Some(&su), None)
        .await;
    assert_eq!(r.json["paused"], false);
    let r = app
        .send(
            Method::PATCH,
            &format!("/api/schedules/{id}"),
            Some(&su),
            Some(json!({"schedule": {"every": "15m"}})),
        )
        .await;
    assert_eq!(r.json["schedule"]["every"], "15m", "{}", r.text);
    let r = app.send(Method::GET, "/api/schedules", Some(&su), None).await;
    assert_eq!(r.json["items"].as_array().unwrap().len(), 1);

    let r = app
        .send(Method::DELETE, &format!("/api/schedules/{id}"), Some(&su), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = app
        .send(Method::GET, &format!("/api/schedules/{id}"), Some(&su), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn guests_get_401_and_users_403_naming_the_permission() {
    let app = TestApp::new().await;
    app.create_auth("users", "u@example.com", "userpassword123").await;
    let user = app.login("users", "u@example.com", "userpassword123").await;
    for (method, uri, perm) in [
        (Method::GET, "/api/schedules", "jobs:read"),
        (Method::POST, "/api/schedules", "jobs:admin"),
        (Method::POST, "/api/schedules/x/trigger", "jobs:admin"),
        (Method::GET, "/api/schedules/x/runs", "jobs:read"),
    ] {
        let r = app.send(method.clone(), uri, None, Some(json!({}))).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {uri}");
        let r = app.send(method.clone(), uri, Some(&user), Some(json!({}))).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {uri}");
        assert!(r.json["message"].as_str().unwrap().contains(perm), "{}", r.text);
    }
}
