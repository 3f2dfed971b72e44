//! Several processes as one, in one test process: two apps over the same databases and one
//! shared event bus, each with its own schema, settings and realtime clients (what two
//! `keel serve` processes hold). What one changes, the other serves. Every case runs on the
//! in-process bus and, with `KEEL_TEST_POSTGRES_URL`, on two PostgreSQL buses (one pool each,
//! as two processes have) in a fresh channel.

mod support;

use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use bytes::Bytes;
use keel_core::bus::{BusSubscription, EventBus};
use serde_json::{json, Value};
use support::TestApp;

/// The in-process bus under another name: a redirect not held locally is handed over (the
/// `local` provider knows it is alone and skips that).
struct SharedBus(keel_events::LocalBus);

#[async_trait]
impl EventBus for SharedBus {
    fn name(&self) -> &'static str {
        "shared-for-tests"
    }
    async fn publish(&self, topic: &str, payload: Bytes) -> keel_core::Result<()> {
        self.0.publish(topic, payload).await
    }
    async fn subscribe(&self, prefix: &str) -> keel_core::Result<BusSubscription> {
        self.0.subscribe(prefix).await
    }
    fn subscriptions(&self) -> usize {
        self.0.subscriptions()
    }
}

/// Which bus the two processes share.
#[derive(Clone, Copy)]
enum Bus {
    Local,
    Postgres,
}

/// Two "processes" on one data dir and one bus (keep the first's `TestApp` alive: it owns
/// the dir); `None` when the bus's engine is not configured.
async fn two(kind: Bus) -> Option<(TestApp, TestApp)> {
    let (bus_a, bus_b): (Arc<dyn EventBus>, Arc<dyn EventBus>) = match kind {
        Bus::Local => {
            let bus: Arc<dyn EventBus> = Arc::new(SharedBus(keel_events::LocalBus::new()));
            (bus.clone(), bus)
        }
        Bus::Postgres => {
            let url = keel_testkit::engine_url("KEEL_TEST_POSTGRES_URL")?;
            let channel = keel_testkit::random_name();
            let open = || async {
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(4)
                    .connect(&url)
                    .await
                    .unwrap();
                Arc::new(keel_events::PostgresBus::new(pool, &channel).await.unwrap()) as Arc<dyn EventBus>
            };
            (open().await, open().await)
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let a = TestApp::process(dir.path(), bus_a).await;
    let b = TestApp::process(dir.path(), bus_b).await;
    // The databases live in `dir`: hand it to `a` so it lives as long as the test.
    let a = TestApp { dir, ..a };
    Some((a, b))
}

/// Runs `case` on each bus.
macro_rules! on_every_bus {
    ($($case:ident),+ $(,)?) => {
        mod local {
            $(#[tokio::test]
            async fn $case() {
                let (a, b) = super::two(super::Bus::Local).await.unwrap();
                super::$case(a, b).await;
            })+
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some((a, b)) = super::two(super::Bus::Postgres).await else { return };
                super::$case(a, b).await;
            })+
        }
    };
}

on_every_bus!(
    writes_on_one_process_reach_subscribers_on_the_other_filtered_by_rules,
    collection_rule_and_settings_changes_on_one_process_are_enforced_by_the_other,
    a_role_removed_on_one_process_cuts_off_a_subscription_on_the_other,
    job_events_and_wakeups_cross_processes,
    an_oauth2_redirect_landing_on_another_process_reaches_the_client,
    subscriptions_set_through_another_process_reach_the_stream,
);

async fn subscribe(app: &TestApp, client: &str, subs: &[&str], token: Option<&str>) {
    let r = app
        .send(
            Method::POST,
            "/api/realtime",
            token,
            Some(json!({"clientId": client, "subscriptions": subs})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
}

async fn create_posts(app: &TestApp, su: &str, list_rule: Value, create_rule: Value) {
    let r = app
        .send(
            Method::POST,
            "/api/collections",
            Some(su),
            Some(json!({
                "name": "posts", "type": "base",
                "fields": [{"name": "title", "type": "text"}, {"name": "public", "type": "bool"}],
                "listRule": list_rule, "viewRule": "", "createRule": create_rule,
            })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

async fn post(app: &TestApp, token: Option<&str>, title: &str, public: bool) -> (StatusCode, Value) {
    let r = app
        .send(
            Method::POST,
            "/api/collections/posts/records",
            token,
            Some(json!({"title": title, "public": public})),
        )
        .await;
    (r.status, r.json)
}

async fn writes_on_one_process_reach_subscribers_on_the_other_filtered_by_rules(a: TestApp, b: TestApp) {
    let su = a.superuser_token().await;
    create_posts(&a, &su, json!("public = true"), json!("")).await;
    keel_testkit::eventually(support::WAIT, "the other process knows the collection", || async {
        b.state.store.collection("posts").is_ok()
    })
    .await;
    let (mut reader, id) = b.realtime_connect().await;
    subscribe(&b, &id, &["posts/*"], None).await;

    let (s, _) = post(&a, None, "secret", false).await;
    assert_eq!(s, StatusCode::OK);
    let (s, hello) = post(&a, None, "hello", true).await;
    assert_eq!(s, StatusCode::OK);
    let hello_id = hello["id"].as_str().unwrap().to_string();
    let path = format!("/api/collections/posts/records/{hello_id}");
    let r = a
        .send(Method::PATCH, &path, Some(&su), Some(json!({"title": "hello again"})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = a.send(Method::DELETE, &path, Some(&su), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);

    // The secret post never arrives; the public one's create, update, delete do, in order.
    let seen: Vec<(String, String, String)> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            let m = reader.next().await.expect("an event");
            assert_eq!(m.event, "posts/*");
            let d = m.json();
            v.push((
                d["action"].as_str().unwrap().to_string(),
                d["record"]["id"].as_str().unwrap().to_string(),
                d["record"]["title"].as_str().unwrap().to_string(),
            ));
        }
        v
    };
    let expect = |action: &str, title: &str| (action.to_string(), hello_id.clone(), title.to_string());
    assert_eq!(
        seen,
        vec![
            expect("create", "hello"),
            expect("update", "hello again"),
            expect("delete", "hello again")
        ]
    );
}

async fn collection_rule_and_settings_changes_on_one_process_are_enforced_by_the_other(a: TestApp, b: TestApp) {
    let su = a.superuser_token().await;
    create_posts(&a, &su, json!(""), json!("")).await;
    let took = keel_testkit::eventually(support::WAIT, "a guest can create on the other process", || async {
        post(&b, None, "first", true).await.0 == StatusCode::OK
    })
    .await;
    println!("collection created on A, served by B after {took:?}");

    // Tightened on A: B refuses the guest.
    let r = a
        .send(
            Method::PATCH,
            "/api/collections/posts",
            Some(&su),
            Some(json!({"createRule": null})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let took = keel_testkit::eventually(support::WAIT, "the other process refuses the guest", || async {
        post(&b, None, "second", true).await.0 != StatusCode::OK
    })
    .await;
    println!("rule tightened on A, enforced by B after {took:?}");
    let (s, _) = post(&b, Some(&su), "by a superuser", true).await;
    assert_eq!(s, StatusCode::OK);

    let r = a
        .send(
            Method::PATCH,
            "/api/settings",
            Some(&su),
            Some(json!({"meta": {"appName": "Renamed"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    keel_testkit::eventually(support::WAIT, "the other process serves the new settings", || async {
        b.state.settings.get().meta.app_name == "Renamed"
    })
    .await;
}

async fn a_role_removed_on_one_process_cuts_off_a_subscription_on_the_other(a: TestApp, b: TestApp) {
    let su = a.superuser_token().await;
    let user = a.create_auth("users", "watcher@example.com", "password-watcher").await;
    let token = a.login("users", "watcher@example.com", "password-watcher").await;
    let members = format!("/api/roles/viewer/members/users/{}", user.id());
    let r = a.send(Method::PUT, &members, Some(&su), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    create_posts(
        &a,
        &su,
        json!("@request.auth.roles ?= 'viewer' || title = 'marker'"),
        json!(""),
    )
    .await;
    keel_testkit::eventually(support::WAIT, "the other process knows the collection", || async {
        b.state.store.collection("posts").is_ok()
    })
    .await;

    let (mut reader, id) = b.realtime_connect().await;
    subscribe(&b, &id, &["posts/*"], Some(&token)).await;
    let (_, p) = post(&a, Some(&su), "for viewers", true).await;
    assert_eq!(reader.next().await.unwrap().json()["record"]["id"], p["id"]);

    let r = a.send(Method::DELETE, &members, Some(&su), None).await;
    assert!(r.status.is_success(), "{}", r.text);
    post(&a, Some(&su), "for viewers again", true).await;
    let (_, marker) = post(&a, Some(&su), "marker", true).await;
    let msg = reader.next().await.unwrap();
    assert_eq!(msg.json()["record"]["id"], marker["id"], "{}", msg.data);
}

async fn job_events_and_wakeups_cross_processes(a: TestApp, b: TestApp) {
    let su = a.superuser_token().await;
    let (mut reader, id) = b.realtime_connect().await;
    subscribe(&b, &id, &["jobs/emails"], Some(&su)).await;

    // A long-polling claim on B, then an enqueue on A: the claim gets the job.
    let claim = {
        let b_router = b.router();
        let su = su.clone();
        tokio::spawn(async move {
            let req = Request::post("/api/queues/emails/claim")
                .header("authorization", su)
                .header("content-type", "application/json")
                .body(Body::from(json!({"max": 1, "waitMs": 30000}).to_string()))
                .unwrap();
            let resp = tower::ServiceExt::oneshot(b_router, req).await.unwrap();
            let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
            serde_json::from_slice::<Value>(&bytes).unwrap()
        })
    };
    let r = a
        .send(
            Method::POST,
            "/api/queues/emails/jobs",
            Some(&su),
            Some(json!({"name": "welcome"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let job_id = r.json["id"].clone();

    // `enqueued` (published by A) and `active` (by B's claim) come from two processes: the
    // bus orders each one's messages, not the two against each other.
    let mut actions = Vec::new();
    for _ in 0..2 {
        let msg = reader.next().await.unwrap();
        assert_eq!(msg.event, "jobs/emails");
        assert_eq!(msg.json()["record"]["id"], job_id);
        actions.push(msg.json()["action"].as_str().unwrap().to_string());
    }
    actions.sort();
    assert_eq!(actions, ["active", "enqueued"]);
    let claimed = claim.await.unwrap();
    assert_eq!(claimed["items"][0]["id"], job_id, "{claimed}");
}

async fn an_oauth2_redirect_landing_on_another_process_reaches_the_client(a: TestApp, b: TestApp) {
    let (mut reader, id) = a.realtime_connect().await;
    subscribe(&a, &id, &["@oauth2"], None).await;
    let form = |body: String| {
        Request::post("/api/oauth2-redirect")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap()
    };
    let r = b.raw(form(format!("state={id}&code=the-code"))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.text.contains("Auth completed"), "{}", r.text);
    let msg = reader.next().await.expect("the @oauth2 message");
    assert_eq!(msg.event, "@oauth2");
    assert_eq!(msg.json(), json!({"state": id, "code": "the-code"}));
    // Used once, on every process.
    let r = b.raw(form(format!("state={id}&code=the-code"))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
}

async fn subscriptions_set_through_another_process_reach_the_stream(a: TestApp, b: TestApp) {
    let su = a.superuser_token().await;
    create_posts(&a, &su, json!("@request.auth.id != ''"), json!("")).await;
    let user = a.create_auth("users", "u@example.com", "password-user1").await;
    let token = a.login("users", "u@example.com", "password-user1").await;
    // The stream is on A; the SDK's subscription request lands on B, with the user's token.
    let (mut reader, id) = a.realtime_connect().await;
    subscribe(&b, &id, &["posts/*"], Some(&token)).await;
    // Bound to the user on A: a guest, through either process, may not change them.
    let r = b
        .send(
            Method::POST,
            "/api/realtime",
            None,
            Some(json!({"clientId": id, "subscriptions": []})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = b
        .send(
            Method::POST,
            "/api/realtime",
            None,
            Some(json!({"clientId": "nobody", "subscriptions": []})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    // The list rule passes for the bound user.
    let (s, p) = post(&b, Some(&su), "hello", true).await;
    assert_eq!(s, StatusCode::OK);
    let msg = reader.next().await.unwrap();
    assert_eq!(msg.json()["record"]["id"], p["id"], "{}", msg.data);
    assert!(!user.id().is_empty());
}
