//! Realtime (SSE) over HTTP: connect, subscribe, rule-filtered delivery, auth binding, shutdown.

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use keel_data::{Access, Collection, Record, RequestInfo};
use serde_json::{json, Value};
use support::TestApp;
use tower::ServiceExt;

async fn subscribe(app: &TestApp, client: &str, subs: &[&str], token: Option<&str>) -> StatusCode {
    app.send(
        Method::POST,
        "/api/realtime",
        token,
        Some(json!({"clientId": client, "subscriptions": subs})),
    )
    .await
    .status
}

async fn posts(app: &TestApp, list_rule: Value, view_rule: Value) -> Arc<Collection> {
    app.state
        .store
        .create_collection(json!({
            "name": "posts",
            "type": "base",
            "fields": [{"name": "title", "type": "text"}, {"name": "public", "type": "bool"}],
            "listRule": list_rule,
            "viewRule": view_rule,
        }))
        .await
        .unwrap()
}

async fn create(app: &TestApp, col: &Arc<Collection>, title: &str, public: bool) -> Record {
    let data = keel_data::store::obj(&[("title", json!(title)), ("public", json!(public))]);
    app.state
        .store
        .create_record(col, data, &RequestInfo::default(), Access::Superuser)
        .await
        .unwrap()
}

#[tokio::test]
async fn guests_receive_only_what_the_list_rule_allows() {
    let app = TestApp::new().await;
    let col = posts(&app, json!("public = true"), json!("public = true")).await;
    let (mut reader, id) = app.realtime_connect().await;
    assert_eq!(subscribe(&app, &id, &["posts/*"], None).await, StatusCode::NO_CONTENT);

    create(&app, &col, "secret", false).await;
    let public = create(&app, &col, "hello", true).await;
    let msg = reader.next().await.expect("an event");
    assert_eq!(msg.event, "posts/*");
    let data = msg.json();
    assert_eq!(data["action"], "create");
    assert_eq!(data["record"]["id"], public.id());
    assert_eq!(data["record"]["title"], "hello");

    // the private record was skipped: the next message is the next public change
    let data = keel_data::store::obj(&[("title", json!("hello again"))]);
    app.state
        .store
        .update_record(&col, public.id(), data, &RequestInfo::default(), Access::Superuser)
        .await
        .unwrap();
    let msg = reader.next().await.expect("an event").json();
    assert_eq!(msg["action"], "update");
    assert_eq!(msg["record"]["title"], "hello again");

    app.state
        .store
        .delete_record(&col, public.id(), &RequestInfo::default(), Access::Superuser)
        .await
        .unwrap();
    let msg = reader.next().await.expect("an event").json();
    assert_eq!(msg["action"], "delete");
    assert_eq!(msg["record"]["id"], public.id());
}

#[tokio::test]
async fn record_topics_use_the_view_rule_and_options_apply() {
    let app = TestApp::new().await;
    // list rule superusers-only, view rule open
    let col = posts(&app, Value::Null, json!("")).await;
    let target = create(&app, &col, "first", true).await;
    let (mut reader, id) = app.realtime_connect().await;
    let options = urlencode(&json!({"query": {"fields": "id,title"}, "headers": {}}).to_string());
    let with_opts = format!("posts/{}?options={options}", target.id());
    assert_eq!(
        subscribe(&app, &id, &["posts/*", &with_opts], None).await,
        StatusCode::NO_CONTENT
    );

    let data = keel_data::store::obj(&[("title", json!("second"))]);
    app.state
        .store
        .update_record(&col, target.id(), data, &RequestInfo::default(), Access::Superuser)
        .await
        .unwrap();
    // the broker may still deliver the create (it raced with the subscription): skip to the update
    let msg = loop {
        let msg = reader.next().await.expect("an event");
        if msg.json()["action"] == "update" {
            break msg;
        }
    };
    // the event is named by the full subscription string, options included (the SDK listens on it)
    assert_eq!(msg.event, with_opts);
    assert_eq!(msg.json()["record"], json!({"id": target.id(), "title": "second"}));
    // `posts/*` (null list rule) delivered nothing to the guest
    assert!(
        reader.next_within(Duration::from_millis(300)).await.is_err(),
        "no further message expected"
    );
}

#[tokio::test]
async fn superusers_see_superuser_only_collections() {
    let app = TestApp::new().await;
    let col = posts(&app, Value::Null, Value::Null).await;
    let su = app.superuser_token().await;
    let (mut reader, id) = app.realtime_connect().await;
    assert_eq!(
        subscribe(&app, &id, &["posts/*"], Some(&su)).await,
        StatusCode::NO_CONTENT
    );
    let rec = create(&app, &col, "x", false).await;
    let msg = reader.next().await.expect("an event").json();
    assert_eq!(msg["record"]["id"], rec.id());
}

#[tokio::test]
async fn subscription_requests_are_validated() {
    let app = TestApp::new().await;
    let (_reader, id) = app.realtime_connect().await;
    assert_eq!(
        subscribe(&app, "no-such-client", &["posts/*"], None).await,
        StatusCode::NOT_FOUND
    );
    let r = app
        .send(Method::POST, "/api/realtime", None, Some(json!({"subscriptions": []})))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json["data"]["clientId"].is_object());
    let r = app
        .send(
            Method::POST,
            "/api/realtime",
            None,
            Some(json!({"clientId": id, "subscriptions": "posts/*\nx"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = app
        .send(
            Method::POST,
            "/api/realtime",
            None,
            Some(json!({"clientId": id, "subscriptions": [1]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // an empty list clears the subscriptions
    assert_eq!(subscribe(&app, &id, &[], None).await, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_client_keeps_the_auth_it_was_bound_to() {
    let app = TestApp::new().await;
    app.create_auth("users", "u1@example.com", "password-one").await;
    app.create_auth("users", "u2@example.com", "password-two").await;
    let t1 = app.login("users", "u1@example.com", "password-one").await;
    let t2 = app.login("users", "u2@example.com", "password-two").await;
    let (_reader, id) = app.realtime_connect().await;
    // guest first, then an auth: allowed
    assert_eq!(subscribe(&app, &id, &["users/*"], None).await, StatusCode::NO_CONTENT);
    assert_eq!(
        subscribe(&app, &id, &["users/*"], Some(&t1)).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        subscribe(&app, &id, &["users/*"], Some(&t1)).await,
        StatusCode::NO_CONTENT
    );
    // then another auth or none: refused
    assert_eq!(
        subscribe(&app, &id, &["users/*"], Some(&t2)).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(subscribe(&app, &id, &["users/*"], None).await, StatusCode::FORBIDDEN);
    // an invalid token is a 401
    assert_eq!(
        subscribe(&app, &id, &["users/*"], Some("garbage")).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn dropped_streams_are_forgotten_and_shutdown_ends_streams() {
    let app = TestApp::new().await;
    let (reader, id) = app.realtime_connect().await;
    assert!(app.state.realtime.client(&id).is_some());
    drop(reader);
    assert!(
        app.state.realtime.client(&id).is_none(),
        "a dropped stream removes its client"
    );
    assert_eq!(subscribe(&app, &id, &["posts/*"], None).await, StatusCode::NOT_FOUND);

    let (mut reader, _id) = app.realtime_connect().await;
    app.state.realtime.shutdown();
    assert!(reader.next().await.is_none(), "the stream ends on shutdown");
    assert_eq!(app.state.realtime.client_count(), 0);
    let resp = app
        .router()
        .oneshot(Request::get("/api/realtime").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn a_client_that_cannot_keep_up_is_disconnected() {
    let app = TestApp::new().await;
    let col = posts(&app, json!(""), json!("")).await;
    let (mut reader, id) = app.realtime_connect().await;
    assert_eq!(subscribe(&app, &id, &["posts/*"], None).await, StatusCode::NO_CONTENT);
    // more events than the client's queue holds, none read
    for i in 0..(keel_app::realtime::CLIENT_BUFFER + 20) {
        create(&app, &col, &format!("p{i}"), true).await;
    }
    let gone = tokio::time::timeout(support::WAIT, async {
        while app.state.realtime.client(&id).is_some() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(gone.is_ok(), "the slow client was not dropped");
    // its stream ends instead of growing without bound
    let mut received = 0;
    while reader.next().await.is_some() {
        received += 1;
    }
    assert!(received <= keel_app::realtime::CLIENT_BUFFER, "{received}");
}

#[tokio::test]
async fn deleting_the_bound_auth_record_drops_the_clients_auth() {
    let app = TestApp::new().await;
    let user = app.create_auth("users", "gone@example.com", "password-gone").await;
    let token = app.login("users", "gone@example.com", "password-gone").await;
    let (mut reader, id) = app.realtime_connect().await;
    let col = posts(&app, json!("@request.auth.id != '' || title = 'marker'"), json!("")).await;
    assert_eq!(
        subscribe(&app, &id, &["posts/*"], Some(&token)).await,
        StatusCode::NO_CONTENT
    );
    let first = create(&app, &col, "for members", true).await;
    assert_eq!(reader.next().await.unwrap().json()["record"]["id"], first.id());

    let users = app.collection("users");
    app.state
        .store
        .delete_record(&users, user.id(), &RequestInfo::default(), Access::Superuser)
        .await
        .unwrap();
    create(&app, &col, "members only", true).await;
    let marker = create(&app, &col, "marker", true).await;
    // now a guest: the members-only record is skipped, the marker (open to guests) arrives
    assert_eq!(reader.next().await.unwrap().json()["record"]["id"], marker.id());
    assert!(app.state.realtime.client(&id).unwrap().auth().is_none());
}

/// Enqueues a job named `name` into `queue` over HTTP; returns its id.
async fn enqueue_job(app: &TestApp, token: &str, queue: &str, name: &str) -> String {
    let r = app
        .send(
            Method::POST,
            &format!("/api/queues/{queue}/jobs"),
            Some(token),
            Some(json!({"name": name})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn job_events_reach_subscribers_of_their_queue_who_may_read_jobs() {
    let app = TestApp::new().await;
    let su = app.superuser_token().await;
    app.create_auth("users", "worker@example.com", "password-worker").await;
    let user = app.login("users", "worker@example.com", "password-worker").await;
    let col = posts(&app, json!(""), json!("")).await;

    let (mut queue_reader, queue_client) = app.realtime_connect().await;
    assert_eq!(
        subscribe(&app, &queue_client, &["jobs/emails"], Some(&su)).await,
        StatusCode::NO_CONTENT
    );
    let (mut all_reader, all_client) = app.realtime_connect().await;
    assert_eq!(
        subscribe(&app, &all_client, &["jobs/*"], Some(&su)).await,
        StatusCode::NO_CONTENT
    );
    // a regular user may subscribe, but lacks jobs:read: it must only see the posts
    let (mut user_reader, user_client) = app.realtime_connect().await;
    assert_eq!(
        subscribe(&app, &user_client, &["jobs/*", "jobs/emails", "posts/*"], Some(&user)).await,
        StatusCode::NO_CONTENT
    );

    // Another queue's job first: had it been delivered to `jobs/emails`, it would arrive
    // before the next event (one forwarder, events in order).
    let other = enqueue_job(&app, &su, "reports", "elsewhere").await;
    let id = enqueue_job(&app, &su, "emails", "welcome").await;
    let msg = queue_reader.next().await.expect("an event");
    assert_eq!(msg.event, "jobs/emails");
    let data = msg.json();
    assert_eq!(data["action"], "enqueued");
    assert_eq!(data["record"]["id"], id.as_str());
    assert_eq!(data["record"]["queue"], "emails");
    assert_eq!(data["record"]["state"], "waiting");

    // `jobs/*` sees both queues, in order
    let msg = all_reader.next().await.expect("an event");
    assert_eq!(msg.event, "jobs/*");
    assert_eq!(msg.json()["record"]["id"], other.as_str());
    assert_eq!(
        all_reader.next().await.expect("an event").json()["record"]["id"],
        id.as_str()
    );

    // claim and complete over HTTP: `active` then `completed`
    let r = app
        .send(Method::POST, "/api/queues/emails/claim", Some(&su), Some(json!({})))
        .await;
    let lease = r.json["items"][0]["lease"].as_str().unwrap().to_string();
    let r = app
        .send(
            Method::POST,
            &format!("/api/jobs/{id}/complete"),
            Some(&su),
            Some(json!({"lease": lease, "result": {"sent": true}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let actions: Vec<Value> = [
        queue_reader.next().await.expect("an event"),
        queue_reader.next().await.expect("an event"),
    ]
    .iter()
    .map(|m| m.json())
    .collect();
    assert_eq!(
        actions.iter().map(|d| d["action"].clone()).collect::<Vec<_>>(),
        [json!("active"), json!("completed")]
    );
    assert_eq!(actions[1]["record"]["state"], "completed");
    assert_eq!(actions[1]["record"]["result"], json!({"sent": true}));
    assert!(
        actions[1]["record"].get("lease").is_none(),
        "leases are never broadcast"
    );

    // another queue again, then a marker in ours: the marker is the next event
    enqueue_job(&app, &su, "reports", "elsewhere-2").await;
    let marker = enqueue_job(&app, &su, "emails", "marker").await;
    let msg = queue_reader.next().await.expect("an event").json();
    assert_eq!(
        (msg["action"].clone(), msg["record"]["id"].clone()),
        (json!("enqueued"), json!(marker))
    );
    // once `jobs/*` has the marker, every earlier job event was dispatched to every client
    loop {
        let msg = all_reader.next().await.expect("an event").json();
        if msg["record"]["id"] == marker.as_str() {
            break;
        }
    }
    // the user got none of them: its first message is the post
    let post = create(&app, &col, "hello", true).await;
    let msg = user_reader.next().await.expect("an event");
    assert_eq!(msg.event, "posts/*", "{}", msg.data);
    assert_eq!(msg.json()["record"]["id"], post.id());
}

/// A client subscribed with a key receives what the key's role allows, until the key gets
/// `action` (`revoke` or `rotate`).
async fn key_stream_until(app: &TestApp, action: &str) {
    let su = app.superuser_token().await;
    let r = app
        .send(
            Method::POST,
            "/api/roles",
            Some(&su),
            Some(json!({"name": "reporter", "permissions": ["cache:read"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    let r = app
        .send(
            Method::POST,
            "/api/apikeys",
            Some(&su),
            Some(json!({"name": "dashboard", "roles": ["reporter"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    let key_id = r.json["id"].as_str().unwrap().to_string();
    let key = format!("Bearer {}", r.json["key"].as_str().unwrap());

    let col = posts(
        app,
        json!("@request.auth.roles ?= 'reporter' || title = 'marker'"),
        json!(""),
    )
    .await;
    let (mut reader, id) = app.realtime_connect().await;
    assert_eq!(
        subscribe(app, &id, &["posts/*"], Some(&key)).await,
        StatusCode::NO_CONTENT
    );
    let first = create(app, &col, "for reporters", true).await;
    assert_eq!(reader.next().await.unwrap().json()["record"]["id"], first.id());
    // Only the key that set the subscriptions may change them: not a guest who learnt the
    // client id, nor another key.
    let r = app
        .send(
            Method::POST,
            "/api/apikeys",
            Some(&su),
            Some(json!({"name": "other", "roles": ["reporter"]})),
        )
        .await;
    let other = format!("Bearer {}", r.json["key"].as_str().unwrap());
    assert_eq!(subscribe(app, &id, &["users/*"], None).await, StatusCode::FORBIDDEN);
    assert_eq!(
        subscribe(app, &id, &["users/*"], Some(&other)).await,
        StatusCode::FORBIDDEN
    );

    let r = app
        .send(
            Method::POST,
            &format!("/api/apikeys/{key_id}/{action}"),
            Some(&su),
            None,
        )
        .await;
    assert!(r.status.is_success(), "{}", r.json);
    // Demoted to a guest, the client still belongs to the key: nobody else takes it over.
    assert_eq!(subscribe(app, &id, &["users/*"], None).await, StatusCode::FORBIDDEN);
    create(app, &col, "reporters only", true).await;
    let marker = create(app, &col, "marker", true).await;
    // Revoked or rotated away: now a guest, so only the marker (open to guests) arrives.
    assert_eq!(reader.next().await.unwrap().json()["record"]["id"], marker.id());
}

#[tokio::test]
async fn an_api_key_receives_what_its_roles_allow_until_it_is_revoked() {
    key_stream_until(&TestApp::new().await, "revoke").await;
}

#[tokio::test]
async fn a_rotated_api_keys_stream_loses_the_keys_access() {
    key_stream_until(&TestApp::new().await, "rotate").await;
}

#[tokio::test]
async fn a_role_taken_away_stops_reaching_a_connected_client() {
    let app = TestApp::new().await;
    let su = app.superuser_token().await;
    let user = app
        .create_auth("users", "watcher@example.com", "password-watcher")
        .await;
    let token = app.login("users", "watcher@example.com", "password-watcher").await;
    let r = app
        .send(
            Method::PUT,
            &format!("/api/roles/viewer/members/users/{}", user.id()),
            Some(&su),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let col = posts(
        &app,
        json!("@request.auth.roles ?= 'viewer' || title = 'marker'"),
        json!(""),
    )
    .await;
    let (mut reader, id) = app.realtime_connect().await;
    assert_eq!(
        subscribe(&app, &id, &["jobs/*", "posts/*"], Some(&token)).await,
        StatusCode::NO_CONTENT
    );
    let job = enqueue_job(&app, &su, "emails", "while-viewer").await;
    assert_eq!(reader.next().await.unwrap().json()["record"]["id"], job.as_str());
    let post = create(&app, &col, "for viewers", true).await;
    assert_eq!(reader.next().await.unwrap().json()["record"]["id"], post.id());

    let r = app
        .send(
            Method::DELETE,
            &format!("/api/roles/viewer/members/users/{}", user.id()),
            Some(&su),
            None,
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    // Neither the job (jobs:read came from the role) nor the post (its rule tests the role)
    // reaches the client any more: the marker, open to everyone, is the next message.
    enqueue_job(&app, &su, "emails", "after-unassign").await;
    create(&app, &col, "for viewers again", true).await;
    let marker = create(&app, &col, "marker", true).await;
    let msg = reader.next().await.unwrap();
    assert_eq!(msg.event, "posts/*", "{}", msg.data);
    assert_eq!(msg.json()["record"]["id"], marker.id());
}

#[tokio::test]
async fn the_oauth2_redirect_reaches_the_client_holding_its_state_once() {
    let app = TestApp::new().await;
    let (mut reader, id) = app.realtime_connect().await;
    assert_eq!(subscribe(&app, &id, &["@oauth2"], None).await, StatusCode::NO_CONTENT);
    let form = |body: String| {
        Request::post("/api/oauth2-redirect")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap()
    };
    // Apple's form_post: the code arrives as a form, and reaches the client as `@oauth2`.
    let r = app.raw(form(format!("state={id}&code=the-code"))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.text.contains("Auth completed"), "{}", r.text);
    let msg = reader.next().await.expect("the @oauth2 message");
    assert_eq!(msg.event, "@oauth2");
    assert_eq!(msg.json(), json!({"state": id, "code": "the-code"}));
    // Used once: a replay, and a state no client holds, are refused.
    let r = app.raw(form(format!("state={id}&code=the-code"))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let r = app.raw(form("state=nobody&code=x".into())).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);

    // The provider's error comes through the GET redirect too.
    assert_eq!(subscribe(&app, &id, &["@oauth2"], None).await, StatusCode::NO_CONTENT);
    let r = app
        .raw(
            Request::get(format!("/api/oauth2-redirect?state={id}&error=access_denied"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.text.contains("Failed to authenticate"), "{}", r.text);
    let msg = reader.next().await.expect("the @oauth2 message");
    assert_eq!(msg.json(), json!({"state": id, "code": "", "error": "access_denied"}));
}

#[tokio::test]
async fn recorded_collection_changes_reach_changes_subscribers_who_may_read_them_and_the_audit_trail() {
    let app = TestApp::new().await;
    let su = app.superuser_token().await;
    let user = app
        .create_auth("users", "historian@example.com", "password-historian")
        .await;
    let r = app
        .send(
            Method::POST,
            "/api/roles",
            Some(&su),
            Some(json!({"name": "historians", "permissions": ["changes:read"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = app
        .send(
            Method::PUT,
            &format!("/api/roles/historians/members/users/{}", user.id()),
            Some(&su),
            None,
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    let reader = app.login("users", "historian@example.com", "password-historian").await;

    let (mut su_stream, su_client) = app.realtime_connect().await;
    assert_eq!(
        subscribe(&app, &su_client, &["changes/*"], Some(&su)).await,
        StatusCode::NO_CONTENT
    );
    let (mut all_stream, all_client) = app.realtime_connect().await;
    assert_eq!(
        subscribe(&app, &all_client, &["changes/*"], Some(&reader)).await,
        StatusCode::NO_CONTENT
    );
    let (mut tags_stream, tags_client) = app.realtime_connect().await;
    assert_eq!(
        subscribe(&app, &tags_client, &["changes/tags"], Some(&reader)).await,
        StatusCode::NO_CONTENT
    );

    // A system collection's change first (superusers only), then posts, then tags: one
    // forwarder delivers in order, so a change wrongly delivered would come first.
    let r = app
        .send(
            Method::PATCH,
            "/api/collections/_superusers",
            Some(&su),
            Some(json!({"authToken": {"duration": 3600}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    for name in ["posts", "tags"] {
        let r = app
            .send(
                Method::POST,
                "/api/collections",
                Some(&su),
                Some(json!({"name": name, "type": "base", "fields": [{"name": "title", "type": "text"}]})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }

    let mut seen = Vec::new();
    for _ in 0..3 {
        let msg = su_stream.next().await.expect("a change");
        assert_eq!(msg.event, "changes/*");
        let data = msg.json();
        assert_eq!(data["action"], "applied");
        seen.push((
            data["record"]["collection"].as_str().unwrap().to_string(),
            data["record"]["version"].as_str().unwrap().to_string(),
        ));
    }
    assert_eq!(
        seen,
        vec![
            ("_superusers".to_string(), "1.1.0".to_string()),
            ("posts".to_string(), "1.0.0".to_string()),
            ("tags".to_string(), "1.0.0".to_string()),
        ]
    );
    let first = all_stream.next().await.expect("a change").json();
    assert_eq!(
        first["record"]["collection"], "posts",
        "a system change reached a non-superuser"
    );
    assert_eq!(
        all_stream.next().await.expect("a change").json()["record"]["collection"],
        "tags"
    );
    let msg = tags_stream.next().await.expect("a change");
    assert_eq!(msg.event, "changes/tags");
    let tags_change = msg.json();
    assert_eq!(tags_change["record"]["kind"], "create");

    // the audit entry of the change names the recorded change and the new version
    let r = app
        .send(
            Method::GET,
            "/api/audit?filter=event%3D%27collection.create%27&perPage=100",
            Some(&su),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let items = r.json["items"].as_array().unwrap();
    let entry = &items
        .iter()
        .find(|e| e["details"]["collection"] == "tags")
        .expect("the audit entry of the tags collection")["details"];
    assert_eq!(entry["changeId"], tags_change["record"]["id"]);
    assert_eq!(entry["version"], "1.0.0");
    assert_eq!(entry["verdict"], "minor");
}
