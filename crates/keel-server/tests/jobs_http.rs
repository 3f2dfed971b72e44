//! The jobs API over HTTP: enqueue (one, batch, unique keys), claim and the worker calls,
//! retry and cancel, listing and counts, queue settings, input errors, authorization and
//! long-poll claims. (Realtime `jobs/{queue}` delivery is in `realtime_http.rs`.)

mod support;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{json, Value};
use support::{Resp, TestApp};

async fn setup() -> (TestApp, String) {
    let app = TestApp::new().await;
    let su = app.superuser_token().await;
    (app, su)
}

async fn post(app: &TestApp, uri: &str, token: &str, body: Value) -> Resp {
    app.send(Method::POST, uri, Some(token), Some(body)).await
}

async fn get(app: &TestApp, uri: &str, token: &str) -> Resp {
    app.send(Method::GET, uri, Some(token), None).await
}

/// Sends a raw body (not necessarily JSON).
async fn post_raw(app: &TestApp, uri: &str, token: &str, body: &str) -> Resp {
    let req = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header("authorization", token)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    app.raw(req).await
}

/// Enqueues `job` into `queue`, expecting a 200; returns the job JSON.
async fn enqueue(app: &TestApp, su: &str, queue: &str, job: Value) -> Value {
    let r = post(app, &format!("/api/queues/{queue}/jobs"), su, job).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json
}

/// Claims up to `max` jobs of `queue` without waiting; returns the items.
async fn claim(app: &TestApp, su: &str, queue: &str, max: u32) -> Vec<Value> {
    let r = post(app, &format!("/api/queues/{queue}/claim"), su, json!({"max": max})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json["items"].as_array().unwrap().clone()
}

/// Asserts a 400 whose `data` names `field`.
fn assert_field(r: &Resp, field: &str) {
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "expected 400 naming {field}: {}",
        r.text
    );
    assert_eq!(r.json["status"], 400, "{}", r.text);
    assert!(r.json["data"][field].is_object(), "expected data.{field}: {}", r.text);
}

#[tokio::test]
async fn enqueue_one_and_a_batch_with_unique_keys() {
    let (app, su) = setup().await;
    let one = enqueue(
        &app,
        &su,
        "emails",
        json!({"name": "welcome", "payload": {"to": "a@b.c"}}),
    )
    .await;
    assert_eq!(one["created"], true);
    assert_eq!(one["queue"], "emails");
    assert_eq!(one["name"], "welcome");
    assert_eq!(one["payload"], json!({"to": "a@b.c"}));
    assert_eq!(one["state"], "waiting");
    assert_eq!(
        (one["attempts"].clone(), one["maxAttempts"].clone()),
        (json!(0), json!(3))
    );
    assert_eq!(one["priority"], 5);
    assert!(one["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert!(one.get("lease").is_none(), "an enqueued job carries no lease");

    let r = post(
        &app,
        "/api/queues/emails/jobs",
        &su,
        json!([{"name": "a"}, {"name": "b", "priority": 9}, {"name": "c", "delayMs": 60000}]),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let items = r.json["items"].as_array().unwrap();
    let names: Vec<_> = items.iter().map(|j| j["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a", "b", "c"], "in request order");
    assert!(items.iter().all(|j| j["created"] == true));
    assert_eq!(items[1]["priority"], 9);
    assert_eq!(items[2]["state"], "delayed");

    let keyed = json!({"name": "report", "uniqueKey": "r-42"});
    let first = enqueue(&app, &su, "reports", keyed.clone()).await;
    let second = enqueue(&app, &su, "reports", keyed).await;
    assert_eq!(
        (first["created"].clone(), second["created"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!(first["id"], second["id"], "the pending job with the key is returned");
    let r = post(
        &app,
        "/api/queues/reports/jobs",
        &su,
        json!([{"uniqueKey": "r-42"}, {"uniqueKey": "r-43"}]),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["items"][0]["created"], false);
    assert_eq!(r.json["items"][0]["id"], first["id"]);
    assert_eq!(r.json["items"][1]["created"], true);
    // keys are per queue
    let other = enqueue(&app, &su, "other", json!({"uniqueKey": "r-42"})).await;
    assert_eq!(other["created"], true);
}

#[tokio::test]
async fn claim_progress_complete_then_get_shows_the_result() {
    let (app, su) = setup().await;
    let job = enqueue(&app, &su, "work", json!({"name": "resize", "payload": {"w": 100}})).await;
    let id = job["id"].as_str().unwrap();

    let r = post(&app, "/api/queues/work/claim", &su, json!({"max": 5, "worker": "w1"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let items = r.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    let c = &items[0];
    assert_eq!(c["id"], id);
    assert_eq!(c["state"], "active");
    assert_eq!(c["attempts"], 1);
    assert_eq!(c["worker"], "w1");
    assert!(c["leaseExpiresAt"].is_string());
    let lease = c["lease"].as_str().unwrap().to_string();
    assert!(
        claim(&app, &su, "work", 5).await.is_empty(),
        "an active job is not claimed twice"
    );

    let r = post(
        &app,
        &format!("/api/jobs/{id}/progress"),
        &su,
        json!({"lease": lease, "percent": 50, "message": "half way"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["progress"], json!({"percent": 50.0, "message": "half way"}));
    let r = post(&app, &format!("/api/jobs/{id}/heartbeat"), &su, json!({"lease": lease})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["state"], "active");

    let r = post(
        &app,
        &format!("/api/jobs/{id}/complete"),
        &su,
        json!({"lease": lease, "result": {"url": "/thumbs/1.png"}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["state"], "completed");

    let r = get(&app, &format!("/api/jobs/{id}"), &su).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["state"], "completed");
    assert_eq!(r.json["result"], json!({"url": "/thumbs/1.png"}));
    assert!(r.json["finishedAt"].is_string());
    assert!(r.json.get("leaseExpiresAt").is_none());
    assert!(
        r.json.get("lease").is_none(),
        "the lease is never shown outside a claim"
    );

    // the lease is spent: every worker call is a 409
    for action in ["complete", "heartbeat", "fail"] {
        let r = post(&app, &format!("/api/jobs/{id}/{action}"), &su, json!({"lease": lease})).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{action}: {}", r.text);
        assert_eq!(r.json["status"], 409);
    }
    // missing lease: 400 naming it; unknown job: 404
    for action in ["heartbeat", "progress", "complete", "fail"] {
        let r = post(&app, &format!("/api/jobs/{id}/{action}"), &su, json!({})).await;
        assert_field(&r, "lease");
        let body = if action == "progress" {
            json!({"lease": "x", "percent": 1})
        } else {
            json!({"lease": "x"})
        };
        let r = post(&app, &format!("/api/jobs/nosuchjob000000/{action}"), &su, body).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{action}: {}", r.text);
    }
    let r = get(&app, "/api/jobs/nosuchjob000000", &su).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json["status"], 404);
}

#[tokio::test]
async fn fail_without_retry_is_dead_then_retry_and_cancel() {
    let (app, su) = setup().await;
    let id = enqueue(&app, &su, "q", json!({"name": "import"})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let c = claim(&app, &su, "q", 1).await.remove(0);
    let lease = c["lease"].as_str().unwrap();
    let r = post(
        &app,
        &format!("/api/jobs/{id}/fail"),
        &su,
        json!({"lease": lease, "error": "bad input", "retry": false}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["state"], "dead", "no retry even with attempts left");
    assert_eq!(r.json["attempts"], 1);
    assert_eq!(r.json["errors"][0]["message"], "bad input");
    assert_eq!(r.json["errors"][0]["attempt"], 1);

    let r = post(&app, &format!("/api/jobs/{id}/retry"), &su, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["state"], "waiting");
    assert_eq!(r.json["attempts"], 0);
    assert_eq!(r.json["errors"].as_array().unwrap().len(), 1, "the history is kept");
    let r = post(&app, &format!("/api/jobs/{id}/retry"), &su, json!({})).await;
    assert_eq!(
        r.status,
        StatusCode::CONFLICT,
        "a waiting job is not retried: {}",
        r.text
    );

    // a failed attempt with retry (the default) waits for its backoff
    let c = claim(&app, &su, "q", 1).await.remove(0);
    let lease = c["lease"].as_str().unwrap().to_string();
    let r = post(
        &app,
        &format!("/api/jobs/{id}/fail"),
        &su,
        json!({"lease": lease, "error": "flaky"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["state"], "failed");

    let r = post(&app, &format!("/api/jobs/{id}/cancel"), &su, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["state"], "cancelled");
    let r = post(&app, &format!("/api/jobs/{id}/cancel"), &su, json!({})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    let r = post(&app, "/api/jobs/nosuchjob000000/cancel", &su, json!({})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = post(&app, "/api/jobs/nosuchjob000000/retry", &su, json!({})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // cancelling a running job takes its worker's lease: the worker gets 409
    let id2 = enqueue(&app, &su, "q", json!({"name": "long"})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let c = claim(&app, &su, "q", 1).await.remove(0);
    assert_eq!(c["id"], id2.as_str());
    let lease = c["lease"].as_str().unwrap();
    let r = post(&app, &format!("/api/jobs/{id2}/cancel"), &su, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = post(
        &app,
        &format!("/api/jobs/{id2}/heartbeat"),
        &su,
        json!({"lease": lease}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "stale lease: {}", r.text);
    let r = post(&app, &format!("/api/jobs/{id2}/complete"), &su, json!({"lease": lease})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
}

#[tokio::test]
async fn a_wrong_lease_is_a_409() {
    let (app, su) = setup().await;
    let id = enqueue(&app, &su, "q", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    claim(&app, &su, "q", 1).await;
    let r = post(
        &app,
        &format!("/api/jobs/{id}/complete"),
        &su,
        json!({"lease": "not-the-lease"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert!(r.json["message"].as_str().unwrap().contains("lease"), "{}", r.text);
    assert_eq!(get(&app, &format!("/api/jobs/{id}"), &su).await.json["state"], "active");
}

#[tokio::test]
async fn list_by_state_and_queue_counts() {
    let (app, su) = setup().await;
    let r = post(
        &app,
        "/api/queues/reports/jobs",
        &su,
        json!([{"name": "a"}, {"name": "b"}, {"name": "c"}, {"name": "later", "delayMs": 3_600_000}]),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    enqueue(&app, &su, "other", json!({"name": "elsewhere"})).await;
    let c = claim(&app, &su, "reports", 1).await.remove(0);
    let r = post(
        &app,
        &format!("/api/jobs/{}/complete", c["id"].as_str().unwrap()),
        &su,
        json!({"lease": c["lease"]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    let total = |r: &Resp| r.json["totalItems"].as_i64().unwrap();
    for (state, n) in [
        ("waiting", 2),
        ("delayed", 1),
        ("completed", 1),
        ("active", 0),
        ("dead", 0),
    ] {
        let r = get(&app, &format!("/api/queues/reports/jobs?state={state}"), &su).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(total(&r), n, "{state}: {}", r.text);
        assert!(r.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|j| j["state"] == state && j["queue"] == "reports"));
    }
    let r = get(&app, "/api/queues/reports/jobs?state=delayed", &su).await;
    assert_eq!(r.json["items"][0]["name"], "later");
    let r = get(&app, "/api/queues/reports/jobs", &su).await;
    assert_eq!(
        (total(&r), r.json["page"].clone(), r.json["perPage"].clone()),
        (4, json!(1), json!(30))
    );
    let r = get(&app, "/api/queues/reports/jobs?page=2&perPage=1", &su).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        (r.json["totalPages"].clone(), r.json["page"].clone()),
        (json!(4), json!(2))
    );

    let r = get(&app, "/api/queues/reports", &su).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["name"], "reports");
    assert_eq!(r.json["settings"]["paused"], false);
    let counts = &r.json["counts"];
    assert_eq!(
        [
            &counts["waiting"],
            &counts["delayed"],
            &counts["active"],
            &counts["completed"]
        ],
        [&json!(2), &json!(1), &json!(0), &json!(1)],
        "{counts}"
    );
    assert_eq!(counts["completedLastMinute"], 1);
    assert_eq!(counts["failedLastMinute"], 0);

    let r = get(&app, "/api/queues", &su).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let items = r.json["items"].as_array().unwrap();
    let names: Vec<_> = items.iter().map(|q| q["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["other", "reports"]);
    assert_eq!(items[0]["counts"]["waiting"], 1);
    assert!(items[1]["settings"].is_object());

    // a queue never used: defaults and zero counts
    let r = get(&app, "/api/queues/fresh", &su).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["counts"]["waiting"], 0);
    assert_eq!(r.json["settings"]["keepCompleted"]["count"], 1000);
}

#[tokio::test]
async fn pause_resume_and_concurrency() {
    let (app, su) = setup().await;
    let jobs: Vec<Value> = (0..6).map(|i| json!({"name": format!("j{i}")})).collect();
    let r = post(&app, "/api/queues/q/jobs", &su, Value::Array(jobs)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    let r = post(&app, "/api/queues/q/pause", &su, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["paused"], true);
    assert!(
        claim(&app, &su, "q", 5).await.is_empty(),
        "a paused queue hands out nothing"
    );
    assert_eq!(get(&app, "/api/queues/q", &su).await.json["settings"]["paused"], true);
    let r = post(&app, "/api/queues/q/resume", &su, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["paused"], false);
    let first = claim(&app, &su, "q", 1).await.remove(0);
    let r = post(
        &app,
        &format!("/api/jobs/{}/complete", first["id"].as_str().unwrap()),
        &su,
        json!({"lease": first["lease"]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    let r = app
        .send(
            Method::PATCH,
            "/api/queues/q",
            Some(&su),
            Some(json!({"concurrency": 1})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["concurrency"], 1);
    assert_eq!(r.json["paused"], false, "other settings keep their value");
    assert_eq!(claim(&app, &su, "q", 5).await.len(), 1, "at most one active");
    assert!(claim(&app, &su, "q", 5).await.is_empty());
    let r = app
        .send(
            Method::PATCH,
            "/api/queues/q",
            Some(&su),
            Some(json!({"concurrency": null, "rateLimit": {"max": 2, "intervalMs": 3_600_000}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["concurrency"], Value::Null);
    assert_eq!(r.json["rateLimit"], json!({"max": 2, "intervalMs": 3_600_000}));
    assert_eq!(claim(&app, &su, "q", 5).await.len(), 2, "two per interval");

    // bad settings: 400 naming the setting, nothing changed
    for (body, field) in [
        (json!({"concurrency": 0}), "concurrency"),
        (json!({"concurrency": "many"}), "concurrency"),
        (json!({"concurrency": -1}), "concurrency"),
        (json!({"paused": null}), "paused"),
        (json!({"paused": "yes"}), "paused"),
        (json!({"speed": 3}), "speed"),
        (json!({"rateLimit": {"max": 1}}), "rateLimit"),
        (json!({"rateLimit": {"max": 0, "intervalMs": 1000}}), "rateLimit"),
        (json!({"pushUrl": "ftp://example.com"}), "pushUrl"),
        (json!({"keepDead": {"count": 1, "ageSecs": 1, "extra": 1}}), "keepDead"),
    ] {
        let r = app
            .send(Method::PATCH, "/api/queues/q", Some(&su), Some(body.clone()))
            .await;
        assert_field(&r, field);
    }
    for body in [json!([]), json!(5)] {
        let r = app.send(Method::PATCH, "/api/queues/q", Some(&su), Some(body)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    }
    let s = get(&app, "/api/queues/q", &su).await.json["settings"].clone();
    assert_eq!(s["rateLimit"]["max"], 2);
    assert_eq!(s["pushUrl"], Value::Null);
}

#[tokio::test]
async fn bad_input_is_4xx_naming_the_field() {
    let (app, su) = setup().await;
    let r = get(&app, "/api/queues/q/jobs?state=sleeping", &su).await;
    assert_field(&r, "state");
    assert!(r.json["data"]["state"]["message"].as_str().unwrap().contains("waiting"));
    assert_field(&get(&app, "/api/queues/q/jobs?page=0", &su).await, "page");
    assert_field(&get(&app, "/api/queues/q/jobs?perPage=1000", &su).await, "perPage");
    for minutes in ["0", "1441", "an%20hour"] {
        let r = get(&app, &format!("/api/queues/q/throughput?minutes={minutes}"), &su).await;
        assert_field(&r, "minutes");
        assert!(
            r.json["data"]["minutes"]["message"].as_str().unwrap().contains("1440"),
            "{}",
            r.text
        );
    }
    let r = get(&app, "/api/queues/q/throughput?minutes=5", &su).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["items"].as_array().map(Vec::len), Some(5), "one item a minute");

    let r = post(&app, "/api/queues/q/jobs", &su, json!({"name": "x", "delayMs": -5})).await;
    assert_field(&r, "delayMs");
    let r = post(&app, "/api/queues/q/jobs", &su, json!({"name": "x", "colour": "red"})).await;
    assert_field(&r, "colour");
    assert_eq!(r.json["data"]["colour"]["code"], "validation_unknown_field");
    let message = r.json["message"].as_str().unwrap();
    assert!(message.contains("colour") && message.contains("uniqueKey"), "{message}");
    assert_field(
        &post(&app, "/api/queues/q/jobs", &su, json!({"maxAttempts": "three"})).await,
        "maxAttempts",
    );
    assert_field(
        &post(&app, "/api/queues/q/jobs", &su, json!({"priority": 12})).await,
        "priority",
    );
    assert_field(
        &post(&app, "/api/queues/q/jobs", &su, json!({"backoff": {"type": "linear"}})).await,
        "backoff",
    );
    assert_field(
        &post(&app, "/api/queues/q/jobs", &su, json!({"runAt": "tomorrow"})).await,
        "runAt",
    );
    // a batch names the job's index; nothing of it is enqueued
    let r = post(
        &app,
        "/api/queues/q/jobs",
        &su,
        json!([{"name": "ok"}, {"name": "bad", "priority": 11}]),
    )
    .await;
    assert_field(&r, "1.priority");
    let r = post(
        &app,
        "/api/queues/q/jobs",
        &su,
        json!([{"name": "ok"}, {"nmae": "typo"}]),
    )
    .await;
    assert_field(&r, "1.nmae");
    assert_eq!(get(&app, "/api/queues/q/jobs", &su).await.json["totalItems"], 0);

    let big = json!({"name": "big", "payload": "x".repeat(1_100_000)});
    let r = post(&app, "/api/queues/q/jobs", &su, big).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text);
    assert_eq!(r.json["status"], 413);

    for body in ["{nope", "5", "\"job\"", "", "[]", "[1]"] {
        let r = post_raw(&app, "/api/queues/q/jobs", &su, body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body:?}: {}", r.text);
        assert_eq!(r.json["status"], 400, "{body:?}: {}", r.text);
    }
    let too_many: Vec<Value> = (0..1001).map(|_| json!({})).collect();
    let r = post(&app, "/api/queues/q/jobs", &su, Value::Array(too_many)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);

    for (body, field) in [
        (json!({"waitMs": 70000}), "waitMs"),
        (json!({"waitMs": -1}), "waitMs"),
        (json!({"waitMs": "soon"}), "waitMs"),
        (json!({"max": 0}), "max"),
        (json!({"max": 101}), "max"),
        (json!({"worker": "w".repeat(201)}), "worker"),
        (json!({"wait": 5}), "wait"),
    ] {
        let r = post(&app, "/api/queues/q/claim", &su, body.clone()).await;
        assert_field(&r, field);
    }
    let r = post_raw(&app, "/api/queues/q/claim", &su, "[]").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    // an empty body is every default
    let r = post_raw(&app, "/api/queues/q/claim", &su, "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    let long = "q".repeat(65);
    for uri in [
        "/api/queues/bad%20name/jobs".to_string(),
        "/api/queues/bad.name/claim".to_string(),
        format!("/api/queues/{long}/jobs"),
    ] {
        let r = post(&app, &uri, &su, json!({})).await;
        assert_field(&r, "queue");
    }
    assert_field(&get(&app, "/api/queues/bad%20name", &su).await, "queue");
    assert_field(&get(&app, "/api/queues/bad%20name/jobs", &su).await, "queue");
    assert_field(
        &post(&app, "/api/queues/bad%20name/pause", &su, json!({})).await,
        "queue",
    );

    // worker calls
    enqueue(&app, &su, "w", json!({})).await;
    let c = claim(&app, &su, "w", 1).await.remove(0);
    let (id, lease) = (c["id"].as_str().unwrap(), c["lease"].as_str().unwrap());
    let progress = format!("/api/jobs/{id}/progress");
    assert_field(&post(&app, &progress, &su, json!({"lease": lease})).await, "percent");
    assert_field(
        &post(&app, &progress, &su, json!({"lease": lease, "percent": 150})).await,
        "percent",
    );
    assert_field(
        &post(&app, &progress, &su, json!({"lease": lease, "percent": "half"})).await,
        "percent",
    );
    assert_field(
        &post(
            &app,
            &format!("/api/jobs/{id}/fail"),
            &su,
            json!({"lease": lease, "retry": "no"}),
        )
        .await,
        "retry",
    );
    assert_field(
        &post(&app, &format!("/api/jobs/{id}/heartbeat"), &su, json!({"lease": 7})).await,
        "lease",
    );
    assert_field(
        &post(
            &app,
            &format!("/api/jobs/{id}/complete"),
            &su,
            json!({"lease": lease, "reslt": 1}),
        )
        .await,
        "reslt",
    );
    assert_field(
        &post(&app, &format!("/api/jobs/{id}/heartbeat"), &su, json!({"lease": ""})).await,
        "lease",
    );
    let r = post(
        &app,
        &format!("/api/jobs/{id}/complete"),
        &su,
        json!({"lease": lease, "result": "x".repeat(1_100_000)}),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text);
    // none of that touched the job
    let r = get(&app, &format!("/api/jobs/{id}"), &su).await;
    assert_eq!(r.json["state"], "active");
}

#[tokio::test]
async fn guests_get_401_and_users_403_naming_the_permission() {
    let app = TestApp::new().await;
    app.create_auth("users", "user@example.com", "userpassword123").await;
    let user = app.login("users", "user@example.com", "userpassword123").await;
    let cases = [
        (Method::POST, "/api/queues/q/jobs", "jobs:enqueue"),
        (Method::POST, "/api/queues/q/claim", "jobs:work"),
        (Method::POST, "/api/jobs/j1/heartbeat", "jobs:work"),
        (Method::POST, "/api/jobs/j1/progress", "jobs:work"),
        (Method::POST, "/api/jobs/j1/complete", "jobs:work"),
        (Method::POST, "/api/jobs/j1/fail", "jobs:work"),
        (Method::POST, "/api/jobs/j1/retry", "jobs:admin"),
        (Method::POST, "/api/jobs/j1/cancel", "jobs:admin"),
        (Method::GET, "/api/jobs/j1", "jobs:read"),
        (Method::GET, "/api/queues", "jobs:read"),
        (Method::GET, "/api/queues/q", "jobs:read"),
        (Method::GET, "/api/queues/q/jobs", "jobs:read"),
        (Method::PATCH, "/api/queues/q", "jobs:admin"),
        (Method::POST, "/api/queues/q/pause", "jobs:admin"),
        (Method::POST, "/api/queues/q/resume", "jobs:admin"),
    ];
    for (method, uri, perm) in cases {
        let body = (method != Method::GET).then(|| json!({"lease": "x", "paused": true}));
        let r = app.send(method.clone(), uri, None, body.clone()).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {uri}: {}", r.text);
        assert_eq!(r.json["status"], 401);
        let r = app.send(method.clone(), uri, Some(&user), body).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {uri}: {}", r.text);
        assert_eq!(r.json["status"], 403);
        assert!(
            r.json["message"].as_str().unwrap().contains(perm),
            "{method} {uri}: {}",
            r.text
        );
    }
    // nothing was enqueued or changed
    let su = app.superuser_token().await;
    assert_eq!(get(&app, "/api/queues", &su).await.json["items"], json!([]));
}

/// A claim that is already waiting returns the job enqueued after it started.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_claim_gets_a_job_enqueued_after_it_started() {
    let (app, su) = setup().await;
    let router = app.router();
    let claim_req = Request::builder()
        .method(Method::POST)
        .uri("/api/queues/later/claim")
        .header("authorization", su.as_str())
        .header("content-type", "application/json")
        .body(Body::from(json!({"waitMs": 5000, "worker": "poller"}).to_string()))
        .unwrap();
    let waiting = tokio::spawn(async move {
        use tower::ServiceExt;
        let resp = router.oneshot(claim_req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
        (status, serde_json::from_slice::<Value>(&bytes).unwrap())
    });
    // The queue is empty: the claim can only answer with a job enqueued from here on. This
    // round trip lets the spawned claim reach its wait first (a claim that ignored waitMs
    // then fails this test); if it has not, the outcome is the same.
    assert_eq!(get(&app, "/api/queues/later", &su).await.json["counts"]["waiting"], 0);
    let job = enqueue(&app, &su, "later", json!({"name": "wake-up"})).await;
    let (status, body) = tokio::time::timeout(support::WAIT, waiting)
        .await
        .expect("the waiting claim did not return")
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{body}");
    assert_eq!(items[0]["id"], job["id"]);
    assert_eq!(items[0]["worker"], "poller");
    assert!(items[0]["lease"].is_string());

    // with nothing to come, a waiting claim ends empty after waitMs
    let r = post(&app, "/api/queues/later/claim", &su, json!({"waitMs": 200})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["items"], json!([]));
}
