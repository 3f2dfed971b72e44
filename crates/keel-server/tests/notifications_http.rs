//! The notifications service over HTTP: sends to users on in-app and email (a capturing
//! `Notifier`, a test double of the contract), topic fan-out with opt-outs, quiet hours and
//! digests across time-zone boundaries with a controllable clock, critical bypass, templates
//! with locale fallback and preview, rules on record events, escalation, rate limits,
//! history visibility, and in-app notifications over realtime SSE.

mod support;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::http::{Method, StatusCode};
use chrono::{DateTime, Utc};
use keel_core::notify::{Channel, Message, Notifier, NotifyError, Recipient, Sent};
use serde_json::{json, Value};
use support::{TestApp, WAIT};

/// A provider that records what it was handed.
struct Capture {
    name: &'static str,
    channel: Channel,
    rate: Option<u32>,
    sent: Mutex<Vec<Message>>,
}

impl Capture {
    fn new(name: &'static str, channel: Channel, rate: Option<u32>) -> Arc<Capture> {
        Arc::new(Capture {
            name,
            channel,
            rate,
            sent: Mutex::new(Vec::new()),
        })
    }

    fn sent(&self) -> Vec<Message> {
        self.sent.lock().unwrap().clone()
    }
}

#[async_trait]
impl Notifier for Capture {
    fn name(&self) -> &str {
        self.name
    }
    fn channel(&self) -> Channel {
        self.channel
    }
    fn rate_per_second(&self) -> Option<u32> {
        self.rate
    }
    async fn send(&self, message: &Message) -> Result<Sent, NotifyError> {
        let mut sent = self.sent.lock().unwrap();
        sent.push(message.clone());
        Ok(Sent {
            provider_id: Some(format!("{}-{}", self.name, sent.len())),
        })
    }
}

struct Env {
    app: TestApp,
    su: String,
    email: Arc<Capture>,
    sms: Arc<Capture>,
    clock: Arc<Mutex<DateTime<Utc>>>,
    alice: (String, String),
    bob: (String, String),
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn env() -> Env {
    let app = TestApp::new().await;
    let su = app.superuser_token().await;
    let email = Capture::new("capture-email", Channel::Email, None);
    let sms = Capture::new("capture-sms", Channel::Sms, Some(2));
    app.state
        .notifications
        .set_notifiers(vec![email.clone() as Arc<dyn Notifier>, sms.clone()]);
    let clock = Arc::new(Mutex::new(Utc::now()));
    let c = clock.clone();
    app.state.notifications.set_clock(Arc::new(move || *c.lock().unwrap()));
    let mut users = Vec::new();
    for name in ["alice", "bob"] {
        let email = format!("{name}@example.com");
        let rec = app.create_auth("users", &email, "password123").await;
        let token = app.login("users", &email, "password123").await;
        users.push((rec.id().to_string(), token));
    }
    let bob = users.pop().unwrap();
    let alice = users.pop().unwrap();
    Env {
        app,
        su,
        email,
        sms,
        clock,
        alice,
        bob,
    }
}

impl Env {
    async fn call(&self, method: Method, uri: &str, token: &str, body: Option<Value>) -> support::Resp {
        self.app.send(method, uri, Some(token), body).await
    }

    async fn ok(&self, method: Method, uri: &str, token: &str, body: Option<Value>) -> Value {
        let r = self.call(method, uri, token, body).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.text);
        r.json
    }

    fn set_clock(&self, at: DateTime<Utc>) {
        *self.clock.lock().unwrap() = at;
    }

    async fn release(&self) -> usize {
        keel_app::notifications::timers::release_due(&self.app.state)
            .await
            .unwrap()
    }

    /// The deliveries of notification `id`, as the superuser sees them.
    async fn deliveries(&self, id: &str) -> Vec<Value> {
        let r = self
            .ok(
                Method::GET,
                &format!("/api/notifications/{id}/deliveries"),
                &self.su,
                None,
            )
            .await;
        r["items"].as_array().unwrap().clone()
    }

    async fn inbox(&self, token: &str) -> Vec<Value> {
        self.ok(Method::GET, "/api/notifications", token, None).await["items"]
            .as_array()
            .unwrap()
            .clone()
    }
}

/// Waits (bounded) until `f` holds.
async fn until<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if f().await {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn statuses(ds: &[Value], channel: &str) -> Vec<String> {
    ds.iter()
        .filter(|d| d["channel"] == channel)
        .map(|d| d["status"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_send_to_users_lands_in_their_inbox_and_email_and_each_sees_only_their_own() {
    let e = env().await;
    let body = json!({
        "to": {"users": [e.alice.0, e.bob.0]},
        "subject": "Deploy {{ version }}",
        "body": "Version {{ version }} is live.",
        "data": {"version": "1.2"},
        "channels": ["inapp", "email"],
    });
    let out = e.ok(Method::POST, "/api/notifications/send", &e.su, Some(body)).await;
    assert_eq!(out["recipients"].as_array().unwrap().len(), 2, "{out}");
    until("two emails", || async { e.email.sent().len() == 2 }).await;
    let mut to: Vec<String> = e
        .email
        .sent()
        .iter()
        .map(|m| match &m.to {
            Recipient::Email { address } => address.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    to.sort();
    assert_eq!(to, ["alice@example.com", "bob@example.com"]);
    assert_eq!(e.email.sent()[0].subject.as_deref(), Some("Deploy 1.2"));
    assert_eq!(e.email.sent()[0].text, "Version 1.2 is live.");

    // The inbox: alice sees hers, with the rendered subject; bob sees his.
    let mine = e.inbox(&e.alice.1).await;
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["subject"], "Deploy 1.2");
    assert_eq!(mine[0]["recordRef"], e.alice.0.as_str());
    let id = mine[0]["id"].as_str().unwrap().to_string();
    until("the email delivery recorded", || async {
        statuses(&e.deliveries(&id).await, "email") == ["sent"]
    })
    .await;
    let ds = e.deliveries(&id).await;
    assert_eq!(statuses(&ds, "inapp"), ["sent"]);
    let email = ds.iter().find(|d| d["channel"] == "email").unwrap();
    assert_eq!(email["provider"], "capture-email");
    assert!(email["providerId"].as_str().unwrap().starts_with("capture-email-"));
    assert_eq!(email["attempts"], 1);
    assert_eq!(email["log"][0]["status"], "sent", "{email}");
    assert_eq!(email["log"][0]["provider"], "capture-email");

    // Bob cannot see alice's notification, its deliveries, nor read or ack it.
    for (m, uri) in [
        (Method::GET, format!("/api/notifications/{id}")),
        (Method::GET, format!("/api/notifications/{id}/deliveries")),
        (Method::POST, format!("/api/notifications/{id}/read")),
        (Method::POST, format!("/api/notifications/{id}/ack")),
    ] {
        let r = e.call(m, &uri, &e.bob.1, None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{uri}: {}", r.text);
    }
    let theirs = e.inbox(&e.bob.1).await;
    assert_eq!(theirs.len(), 1);
    assert_ne!(theirs[0]["id"], id.as_str());
    // A filter cannot widen it.
    let r = e
        .ok(
            Method::GET,
            &format!("/api/notifications?filter=recordRef='{}'", e.alice.0),
            &e.bob.1,
            None,
        )
        .await;
    assert_eq!(r["items"], json!([]));
    // The superuser (notifications:read) sees both.
    assert_eq!(e.inbox(&e.su).await.len(), 2);
    // Guests get a 401; a user may not send.
    assert_eq!(
        e.app.send(Method::GET, "/api/notifications", None, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = e
        .call(
            Method::POST,
            "/api/notifications/send",
            &e.alice.1,
            Some(json!({"to": {"users": [e.bob.0]}, "body": "hi"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);

    // Read, then ack.
    let r = e
        .ok(Method::POST, &format!("/api/notifications/{id}/read"), &e.alice.1, None)
        .await;
    assert!(!r["readAt"].as_str().unwrap().is_empty());
    let r = e
        .ok(Method::POST, &format!("/api/notifications/{id}/ack"), &e.alice.1, None)
        .await;
    assert!(!r["ackedAt"].as_str().unwrap().is_empty());
    let unread = e
        .ok(Method::GET, "/api/notifications?filter=readAt=''", &e.alice.1, None)
        .await;
    assert_eq!(unread["items"], json!([]));
}

#[tokio::test]
async fn bad_sends_are_400s_naming_the_field() {
    let e = env().await;
    let cases = [
        (json!({"to": {}, "body": "x"}), "to"),
        (json!({"to": {"users": ["nosuchuser0001"]}, "body": "x"}), "to.users"),
        (json!({"to": {"users": [e.alice.0]}}), "body"),
        (json!({"to": {"users": [e.alice.0]}, "body": "{{ nope }}"}), "body"),
        (json!({"to": {"users": [e.alice.0]}, "template": "missing"}), "template"),
        (json!({"to": {"topic": "nosuch"}, "body": "x"}), "to.topic"),
        (json!({"to": {"phones": ["555"]}, "body": "x"}), "to.phones"),
    ];
    for (body, field) in cases {
        let r = e
            .call(Method::POST, "/api/notifications/send", &e.su, Some(body.clone()))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text);
        assert!(r.json["data"][field].is_object(), "expected data.{field}: {}", r.text);
    }
}

#[tokio::test]
async fn a_topic_reaches_its_subscribers_and_honours_opt_outs() {
    let e = env().await;
    e.ok(
        Method::POST,
        "/api/notifications/topics",
        &e.su,
        Some(json!({"name": "builds"})),
    )
    .await;
    // A user may not create topics, but subscribes themself.
    let r = e
        .call(
            Method::POST,
            "/api/notifications/topics",
            &e.alice.1,
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    for token in [&e.alice.1, &e.bob.1] {
        e.ok(
            Method::POST,
            "/api/notifications/topics/builds/subscribers",
            token,
            Some(json!({})),
        )
        .await;
    }
    // Subscribing someone else takes notifications:manage.
    let r = e
        .call(
            Method::POST,
            "/api/notifications/topics/builds/subscribers",
            &e.alice.1,
            Some(json!({"user": e.bob.0})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    // Bob opts out of email for builds.
    let p = e
        .ok(
            Method::PATCH,
            "/api/notifications/preferences",
            &e.bob.1,
            Some(json!({"topics": {"builds": {"email": false}}})),
        )
        .await;
    assert_eq!(p["topics"]["builds"]["email"], false);

    let body = json!({"to": {"topic": "builds"}, "subject": "Build", "body": "green", "channels": ["inapp", "email"]});
    let out = e.ok(Method::POST, "/api/notifications/send", &e.su, Some(body)).await;
    assert_eq!(out["recipients"].as_array().unwrap().len(), 2);
    let skipped: Vec<&Value> = out["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["status"] == "skipped")
        .collect();
    assert_eq!(skipped.len(), 1, "{out}");
    assert_eq!(skipped[0]["channel"], "email");
    until("alice's email", || async { e.email.sent().len() == 1 }).await;
    assert_eq!(
        e.email.sent()[0].to,
        Recipient::Email {
            address: "alice@example.com".into()
        }
    );
    // Both got it in-app.
    assert_eq!(e.inbox(&e.alice.1).await.len(), 1);
    assert_eq!(e.inbox(&e.bob.1).await.len(), 1);

    // Unsubscribed, alice is no longer reached.
    e.ok(
        Method::DELETE,
        "/api/notifications/topics/builds/subscribers",
        &e.alice.1,
        Some(json!({})),
    )
    .await;
    let body = json!({"to": {"topic": "builds"}, "body": "again", "channels": ["inapp"]});
    let out = e.ok(Method::POST, "/api/notifications/send", &e.su, Some(body)).await;
    assert_eq!(out["recipients"][0]["recordRef"], e.bob.0.as_str());
    assert_eq!(out["recipients"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn quiet_hours_defer_email_to_the_window_end_across_the_dst_change_and_critical_bypasses() {
    let e = env().await;
    let bad = e
        .call(
            Method::PATCH,
            "/api/notifications/preferences",
            &e.alice.1,
            Some(json!({"timezone": "America/Gotham"})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.json["data"]["timezone"].is_object());
    e.ok(
        Method::PATCH,
        "/api/notifications/preferences",
        &e.alice.1,
        Some(json!({"timezone": "America/New_York", "quietHours": {"start": "22:00", "end": "07:00"}})),
    )
    .await;
    // 22:30 EST on 2026-03-07; the clocks spring forward at 02:00, so 07:00 EDT is 11:00 UTC.
    e.set_clock(utc("2026-03-08T03:30:00Z"));
    let body = json!({"to": {"users": [e.alice.0]}, "subject": "Nightly", "body": "report", "channels": ["email"]});
    let out = e.ok(Method::POST, "/api/notifications/send", &e.su, Some(body)).await;
    let d = &out["deliveries"][0];
    assert_eq!(d["status"], "deferred", "{out}");
    assert_eq!(d["dueAt"], "2026-03-08 11:00:00.000Z");
    let nid = out["recipients"][0]["id"].as_str().unwrap().to_string();

    // Critical goes out now, quiet hours or not.
    let body = json!({"to": {"users": [e.alice.0]}, "subject": "Down", "body": "site down", "channels": ["email"], "critical": true});
    e.ok(Method::POST, "/api/notifications/send", &e.su, Some(body)).await;
    until("the critical email", || async { e.email.sent().len() == 1 }).await;
    assert_eq!(e.email.sent()[0].subject.as_deref(), Some("Down"));

    // One minute before the window ends nothing is due; at its end the email goes.
    e.set_clock(utc("2026-03-08T10:59:00Z"));
    assert_eq!(e.release().await, 0);
    assert_eq!(statuses(&e.deliveries(&nid).await, "email"), ["deferred"]);
    e.set_clock(utc("2026-03-08T11:00:00Z"));
    assert_eq!(e.release().await, 1);
    until("the deferred email", || async { e.email.sent().len() == 2 }).await;
    assert_eq!(e.email.sent()[1].subject.as_deref(), Some("Nightly"));
    until("the delivery marked sent", || async {
        statuses(&e.deliveries(&nid).await, "email") == ["sent"]
    })
    .await;
}

#[tokio::test]
async fn a_digest_window_sends_three_messages_as_one_when_it_closes() {
    let e = env().await;
    e.ok(
        Method::POST,
        "/api/notifications/topics",
        &e.su,
        Some(json!({"name": "comments", "digestSecs": 3600})),
    )
    .await;
    e.ok(
        Method::POST,
        "/api/notifications/topics/comments/subscribers",
        &e.alice.1,
        Some(json!({})),
    )
    .await;
    // Alice lives in Kolkata (UTC+05:30): the hour 23:30–00:30 local crosses her midnight.
    e.ok(
        Method::PATCH,
        "/api/notifications/preferences",
        &e.alice.1,
        Some(json!({"timezone": "Asia/Kolkata"})),
    )
    .await;
    for (i, at) in ["2026-01-01T18:05:00Z", "2026-01-01T18:30:00Z", "2026-01-01T18:59:00Z"]
        .iter()
        .enumerate()
    {
        e.set_clock(utc(at));
        let body = json!({"to": {"topic": "comments"}, "subject": "Comment {{ n }}", "body": "text {{ n }}", "data": {"n": i + 1}, "channels": ["email"]});
        let out = e.ok(Method::POST, "/api/notifications/send", &e.su, Some(body)).await;
        assert_eq!(out["deliveries"][0]["status"], "deferred", "{out}");
        assert_eq!(out["deliveries"][0]["dueAt"], "2026-01-01 19:00:00.000Z");
    }
    assert_eq!(e.release().await, 0);
    assert!(e.email.sent().is_empty());
    // Critical bypasses the digest.
    let body = json!({"to": {"topic": "comments"}, "subject": "Urgent", "body": "now", "channels": ["email"], "critical": true});
    e.ok(Method::POST, "/api/notifications/send", &e.su, Some(body)).await;
    until("the critical email", || async { e.email.sent().len() == 1 }).await;

    e.set_clock(utc("2026-01-01T19:00:00Z"));
    assert_eq!(e.release().await, 1, "one job per bucket");
    until("the digest", || async { e.email.sent().len() == 2 }).await;
    let digest = &e.email.sent()[1];
    assert_eq!(digest.subject.as_deref(), Some("3 new notifications: comments"));
    assert!(
        digest.text.contains("Comment 1: text 1") && digest.text.contains("Comment 3: text 3"),
        "{}",
        digest.text
    );
    for n in e.inbox(&e.alice.1).await {
        let id = n["id"].as_str().unwrap().to_string();
        until("every member marked sent", || async {
            statuses(&e.deliveries(&id).await, "email") == ["sent"]
        })
        .await;
    }
    // Nothing more is sent for that bucket.
    assert_eq!(e.release().await, 0);
    assert_eq!(e.email.sent().len(), 2);
}

#[tokio::test]
async fn templates_fall_back_by_locale_and_preview_names_the_failing_line() {
    let e = env().await;
    for (locale, subject) in [("", "Hello {{ name }}"), ("de", "Hallo {{ name }}")] {
        e.ok(
            Method::POST,
            "/api/notifications/templates",
            &e.su,
            Some(json!({"name": "welcome", "locale": locale, "subject": subject, "text": "Hi {{ name }}", "html": "<b>{{ name }}</b>"})),
        )
        .await;
    }
    let p = e
        .ok(
            Method::POST,
            "/api/notifications/templates/preview",
            &e.su,
            Some(json!({"template": "welcome", "locale": "de-AT", "data": {"name": "<Ann>"}})),
        )
        .await;
    assert_eq!(p["subject"], "Hallo <Ann>");
    assert_eq!(p["html"], "<b>&lt;Ann&gt;</b>");
    let p = e
        .ok(
            Method::POST,
            "/api/notifications/templates/preview",
            &e.su,
            Some(json!({"template": "welcome", "locale": "fr", "data": {"name": "Ann"}})),
        )
        .await;
    assert_eq!(p["subject"], "Hello Ann");
    let r = e
        .call(
            Method::POST,
            "/api/notifications/templates/preview",
            &e.su,
            Some(json!({"source": {"text": "ok\n{{ missing.x }}"}, "data": {}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let m = r.json["data"]["source.text"]["message"].as_str().unwrap();
    assert!(m.contains("line 2"), "{m}");
    // A template that does not compile is refused, naming its part.
    let r = e
        .call(
            Method::POST,
            "/api/notifications/templates",
            &e.su,
            Some(json!({"name": "broken", "subject": "{% if %}"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json["data"]["subject"].is_object(), "{}", r.text);
    // Users may not manage templates.
    let r = e
        .call(Method::GET, "/api/notifications/templates", &e.alice.1, None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // A send in de-AT uses the German variant; missing data is a 400 naming the part.
    let body = json!({"to": {"users": [e.alice.0]}, "template": "welcome", "locale": "de-AT", "data": {"name": "Ann"}, "channels": ["email"]});
    e.ok(Method::POST, "/api/notifications/send", &e.su, Some(body)).await;
    until("the email", || async { e.email.sent().len() == 1 }).await;
    assert_eq!(e.email.sent()[0].subject.as_deref(), Some("Hallo Ann"));
    assert_eq!(e.email.sent()[0].html.as_deref(), Some("<b>Ann</b>"));
    let body = json!({"to": {"users": [e.alice.0]}, "template": "welcome", "channels": ["email"]});
    let r = e.call(Method::POST, "/api/notifications/send", &e.su, Some(body)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json["data"]["template.subject"].is_object(), "{}", r.text);
}

#[tokio::test]
async fn a_rule_on_record_created_with_a_filter_notifies_the_records_owner() {
    let e = env().await;
    e.app
        .state
        .store
        .create_collection(json!({
            "name": "tickets",
            "type": "base",
            "fields": [
                {"name": "title", "type": "text"},
                {"name": "priority", "type": "text"},
                {"name": "owner", "type": "relation", "collectionId": "_pb_users_auth_", "maxSelect": 1},
            ],
        }))
        .await
        .unwrap();
    let rule = e
        .ok(
            Method::POST,
            "/api/notifications/rules",
            &e.su,
            Some(json!({
                "event": "record.created",
                "collection": "tickets",
                "filter": "priority = 'high'",
                "subject": "New ticket: {{ record.title }}",
                "body": "{{ event.type }}",
                "recipients": ["@record.owner"],
                "channels": ["inapp"],
            })),
        )
        .await;
    assert_eq!(rule["active"], true);
    let r = e
        .call(
            Method::POST,
            "/api/notifications/rules",
            &e.su,
            Some(json!({"event": "record.created"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    for (title, priority) in [("Typo", "low"), ("Outage", "high")] {
        let r = e
            .call(
                Method::POST,
                "/api/collections/tickets/records",
                &e.su,
                Some(json!({"title": title, "priority": priority, "owner": e.alice.0})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    until("alice's notification", || async {
        !e.inbox(&e.alice.1).await.is_empty()
    })
    .await;
    until("every event handled", || async {
        keel_app::outbox::settled(&e.app.state).await.unwrap()
    })
    .await;
    let inbox = e.inbox(&e.alice.1).await;
    assert_eq!(inbox.len(), 1, "only the high-priority ticket: {inbox:?}");
    assert_eq!(inbox[0]["subject"], "New ticket: Outage");
    assert_eq!(inbox[0]["body"], "record.created");
    assert!(e.inbox(&e.bob.1).await.is_empty());
}

#[tokio::test]
async fn an_unacknowledged_notification_escalates_after_its_minutes() {
    let e = env().await;
    e.set_clock(utc("2026-06-01T12:00:00Z"));
    let send = |body: &str| {
        json!({
            "to": {"users": [e.alice.0]}, "subject": "Disk full", "body": body, "channels": ["inapp"],
            "ackRequired": true, "escalation": {"afterMinutes": 30, "recipients": [e.bob.0]},
        })
    };
    let first = e
        .ok(Method::POST, "/api/notifications/send", &e.su, Some(send("db1")))
        .await;
    let acked = e
        .ok(Method::POST, "/api/notifications/send", &e.su, Some(send("db2")))
        .await;
    let acked_id = acked["recipients"][0]["id"].as_str().unwrap();
    e.ok(
        Method::POST,
        &format!("/api/notifications/{acked_id}/ack"),
        &e.alice.1,
        None,
    )
    .await;

    e.set_clock(utc("2026-06-01T12:29:00Z"));
    assert_eq!(e.release().await, 0);
    e.set_clock(utc("2026-06-01T12:30:00Z"));
    assert_eq!(e.release().await, 2);
    until("bob's escalation", || async { !e.inbox(&e.bob.1).await.is_empty() }).await;
    until("both escalation jobs done", || async {
        keel_app::outbox::settled(&e.app.state).await.unwrap()
    })
    .await;
    let bob = e.inbox(&e.bob.1).await;
    assert_eq!(bob.len(), 1, "only the unacknowledged one escalates: {bob:?}");
    assert_eq!(bob[0]["subject"], "Disk full");
    assert_eq!(bob[0]["body"], "db1");
    assert_eq!(bob[0]["data"]["escalatedFrom"], first["recipients"][0]["id"]);
}

#[tokio::test]
async fn an_escalation_timer_a_crash_lost_is_set_again_by_the_sweep() {
    let e = env().await;
    let t0 = Utc::now();
    e.set_clock(t0);
    let body = json!({
        "to": {"users": [e.alice.0]}, "subject": "Disk full", "body": "db1", "channels": ["inapp"],
        "ackRequired": true, "escalation": {"afterMinutes": 30, "recipients": [e.bob.0]},
    });
    let sent = e.ok(Method::POST, "/api/notifications/send", &e.su, Some(body)).await;
    // A crash between writing the notification and enqueueing its timer.
    let jobs = keel_sql::sqlite::SqliteEngine::open(&e.app.dir.path().join("jobs.db"), 1)
        .await
        .unwrap();
    let mut tx = keel_sql::Engine::begin(&jobs).await.unwrap();
    let gone = tx
        .execute("DELETE FROM keel_jobs WHERE unique_key LIKE 'escalate:%'", &[])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(gone, 1);

    let recover = || keel_app::notifications::recover::recover_once(&e.app.state, Duration::ZERO);
    assert_eq!(recover().await.unwrap(), 1, "the lost timer is set again");
    assert_eq!(recover().await.unwrap(), 0, "once");
    e.set_clock(t0 + chrono::Duration::minutes(29));
    assert_eq!(e.release().await, 0, "due when it was first due, not earlier");
    e.set_clock(t0 + chrono::Duration::minutes(31));
    assert_eq!(e.release().await, 1);
    until("bob's escalation", || async { !e.inbox(&e.bob.1).await.is_empty() }).await;
    let bob = e.inbox(&e.bob.1).await;
    assert_eq!(bob[0]["data"]["escalatedFrom"], sent["recipients"][0]["id"]);
}

#[tokio::test]
async fn history_older_than_the_retention_is_deleted_and_nothing_younger() {
    let e = env().await;
    let body =
        json!({"to": {"users": [e.alice.0]}, "subject": "Old news", "body": "x", "channels": ["inapp", "email"]});
    e.ok(Method::POST, "/api/notifications/send", &e.su, Some(body)).await;
    until("the email", || async { e.email.sent().len() == 1 }).await;
    let id = e.inbox(&e.alice.1).await[0]["id"].as_str().unwrap().to_string();
    assert_eq!(e.deliveries(&id).await.len(), 2);
    let purge = |days: i64| keel_app::retention::purge_once(&e.app.state, Utc::now() + chrono::Duration::days(days));
    // `[notify] retention_days` is 90 by default.
    let counts = purge(89).await.unwrap();
    assert!(counts.iter().all(|(_, n)| *n == 0), "{counts:?}");
    assert_eq!(e.inbox(&e.alice.1).await.len(), 1);
    let counts = purge(91).await.unwrap();
    assert!(counts.contains(&("_notifications", 1)), "{counts:?}");
    assert!(counts.contains(&("_notificationDeliveries", 2)), "{counts:?}");
    assert!(e.inbox(&e.alice.1).await.is_empty());
}

#[tokio::test]
async fn a_rate_limit_of_two_per_second_queues_the_third_message_instead_of_failing_it() {
    let e = env().await;
    let body = json!({"to": {"phones": ["+15550000001", "+15550000002", "+15550000003"]}, "body": "code 123"});
    let out = e.ok(Method::POST, "/api/notifications/send", &e.su, Some(body)).await;
    let ids: Vec<String> = out["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    until("three texts", || async { e.sms.sent().len() == 3 }).await;
    for id in &ids {
        until("sent", || async {
            statuses(&e.deliveries(id).await, "sms") == ["sent"]
        })
        .await;
    }
    // The third waited for a token: its job failed an attempt with "rate limit" and was retried, never dead.
    let jobs = e
        .app
        .state
        .jobs
        .store()
        .list("_keel-notify", &keel_jobs::JobFilter::default(), 1, 100)
        .await
        .unwrap();
    let limited: Vec<_> = jobs
        .items
        .iter()
        .filter(|j| j.errors.iter().any(|er| er.message.contains("rate limit")))
        .collect();
    assert!(!limited.is_empty(), "no job waited for the rate limit");
    assert!(jobs.items.iter().all(|j| j.state != keel_jobs::JobState::Dead));
}

#[tokio::test]
async fn an_in_app_notification_arrives_over_realtime_to_its_recipient_only() {
    let e = env().await;
    let (mut reader, client) = e.app.realtime_connect().await;
    let r = e
        .app
        .send(
            Method::POST,
            "/api/realtime",
            Some(&e.alice.1),
            Some(json!({"clientId": client, "subscriptions": ["_notifications/*"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    // Bob's first, then alice's: the first event alice hears is her own.
    for (user, body) in [(&e.bob.0, "for bob"), (&e.alice.0, "for alice")] {
        let send = json!({"to": {"users": [user]}, "subject": "Hi", "body": body, "channels": ["inapp"]});
        e.ok(Method::POST, "/api/notifications/send", &e.su, Some(send)).await;
    }
    let msg = reader.next().await.expect("an event");
    assert_eq!(msg.event, "_notifications/*");
    let data = msg.json();
    assert_eq!(data["action"], "create");
    assert_eq!(data["record"]["body"], "for alice");
    assert_eq!(data["record"]["recordRef"], e.alice.0.as_str());
}

#[tokio::test]
async fn devices_are_the_users_own() {
    let e = env().await;
    let d = e
        .ok(
            Method::POST,
            "/api/notifications/devices",
            &e.alice.1,
            Some(json!({"kind": "fcm", "token": "tok-1"})),
        )
        .await;
    assert_eq!(d["recordRef"], e.alice.0.as_str());
    let r = e
        .call(
            Method::POST,
            "/api/notifications/devices",
            &e.alice.1,
            Some(json!({"kind": "webpush", "subscription": {}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json["data"]["subscription"].is_object());
    // Bob cannot remove alice's device; alice can.
    let r = e
        .call(
            Method::DELETE,
            "/api/notifications/devices",
            &e.bob.1,
            Some(json!({"token": "tok-1"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = e
        .call(
            Method::DELETE,
            "/api/notifications/devices",
            &e.alice.1,
            Some(json!({"token": "tok-1"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
}

/// A provider that always gives one answer.
struct Refuse {
    channel: Channel,
    answer: NotifyError,
}

#[async_trait]
impl Notifier for Refuse {
    fn name(&self) -> &str {
        "refuse"
    }
    fn channel(&self) -> Channel {
        self.channel
    }
    async fn send(&self, _message: &Message) -> Result<Sent, NotifyError> {
        Err(self.answer.clone())
    }
}

#[tokio::test]
async fn a_rejected_message_fails_for_good_and_a_gone_device_is_dropped() {
    let e = env().await;
    e.app.state.notifications.set_notifiers(vec![
        Arc::new(Refuse {
            channel: Channel::Email,
            answer: NotifyError::Rejected("invalid address".into()),
        }),
        Arc::new(Refuse {
            channel: Channel::Push,
            answer: NotifyError::Gone("unregistered".into()),
        }),
    ]);
    e.ok(
        Method::POST,
        "/api/notifications/devices",
        &e.alice.1,
        Some(json!({"kind": "fcm", "token": "tok-9"})),
    )
    .await;
    let body = json!({"to": {"users": [e.alice.0]}, "body": "hello", "channels": ["email", "push", "sms"]});
    let out = e.ok(Method::POST, "/api/notifications/send", &e.su, Some(body)).await;
    // No phone on the record: sms is skipped, not failed.
    let sms: Vec<&Value> = out["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["channel"] == "sms")
        .collect();
    assert_eq!(sms[0]["status"], "skipped");
    let id = out["recipients"][0]["id"].as_str().unwrap().to_string();
    until("both outcomes recorded", || async {
        let ds = e.deliveries(&id).await;
        statuses(&ds, "email") == ["failed"] && statuses(&ds, "push") == ["gone"]
    })
    .await;
    let ds = e.deliveries(&id).await;
    let email = ds.iter().find(|d| d["channel"] == "email").unwrap();
    assert_eq!(email["error"], "invalid address");
    // The device is gone.
    let r = e
        .call(
            Method::DELETE,
            "/api/notifications/devices",
            &e.alice.1,
            Some(json!({"token": "tok-9"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // The rejected email's job is dead after one attempt.
    until("the email job dead", || async {
        let jobs = e
            .app
            .state
            .jobs
            .store()
            .list(
                "_keel-notify",
                &keel_jobs::JobFilter::state(keel_jobs::JobState::Dead),
                1,
                10,
            )
            .await
            .unwrap();
        jobs.items.len() == 1 && jobs.items[0].attempts == 1
    })
    .await;
}

#[tokio::test]
async fn with_no_email_provider_email_goes_through_the_settings_smtp_server() {
    let Some(smtp) = keel_testkit::smtp_server::SmtpServer::start() else {
        return;
    };
    let app = TestApp::new().await;
    let su = app.superuser_token().await;
    let rec = app.create_auth("users", "carol@example.com", "password123").await;
    let send = json!({
        "to": {"users": [rec.id()]},
        "subject": "Hello",
        "body": "Plain <text> & more",
        "channels": ["email"],
    });
    // SMTP disabled and no provider: the email delivery fails for good, naming why.
    let out = app
        .send(Method::POST, "/api/notifications/send", Some(&su), Some(send.clone()))
        .await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.text);
    let deadline = Instant::now() + WAIT;
    loop {
        let r = app
            .send(Method::GET, "/api/queues/_keel-notify/jobs?state=dead", Some(&su), None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        if let Some(job) = r.json["items"].as_array().and_then(|a| a.first()) {
            let why = job["errors"][0]["message"].as_str().unwrap_or_default();
            assert!(why.contains("no provider is configured for the email channel"), "{job}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the first email was not given up: {}",
            r.text
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let settings = json!({
        "meta": {"appName": "Acme", "senderName": "Acme", "senderAddress": "notify@acme.test"},
        "smtp": {"enabled": true, "host": smtp.host, "port": smtp.port, "tls": false}
    });
    let r = app
        .send(Method::PATCH, "/api/settings", Some(&su), Some(settings))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let out = app
        .send(Method::POST, "/api/notifications/send", Some(&su), Some(send))
        .await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.text);
    let got = smtp.wait_for_messages(1, WAIT).await;
    assert_eq!(got.len(), 1, "one email, from the second send only: {got:?}");
    assert!(
        got[0].to.iter().any(|a| a.email == "carol@example.com"),
        "{:?}",
        got[0].to
    );
    assert!(
        got[0].from.iter().any(|a| a.email == "notify@acme.test"),
        "{:?}",
        got[0].from
    );
    assert_eq!(got[0].subject.as_deref(), Some("Hello"));
}

#[tokio::test]
async fn a_delivery_whose_job_was_lost_in_a_crash_is_sent_once_by_the_recovery_sweep() {
    let e = env().await;
    let body = json!({
        "to": {"users": [e.alice.0]},
        "subject": "Lost",
        "body": "A job lost in a crash.",
        "channels": ["email"],
    });
    e.ok(Method::POST, "/api/notifications/send", &e.su, Some(body)).await;
    until("the email", || async { e.email.sent().len() == 1 }).await;
    let recover = || keel_app::notifications::recover::recover_once(&e.app.state, Duration::ZERO);
    // Sent: nothing for the sweep.
    assert_eq!(recover().await.unwrap(), 0);

    // A crash between writing the rows and enqueueing the jobs: the row is there, the job is not.
    let id = e.inbox(&e.alice.1).await[0]["id"].as_str().unwrap().to_string();
    let delivery = e.deliveries(&id).await[0]["id"].as_str().unwrap().to_string();
    let su = keel_data::Access::Superuser;
    let deliveries = e.app.state.store.collection("_notificationDeliveries").unwrap();
    let mut back = keel_data::RecordData::new();
    back.insert("status".into(), json!("queued"));
    e.app
        .state
        .store
        .update_record(&deliveries, &delivery, back, &Default::default(), su)
        .await
        .unwrap();
    let jobs = keel_sql::sqlite::SqliteEngine::open(&e.app.dir.path().join("jobs.db"), 1)
        .await
        .unwrap();
    let mut tx = keel_sql::Engine::begin(&jobs).await.unwrap();
    let gone = tx
        .execute("DELETE FROM keel_jobs WHERE queue = '_keel-notify'", &[])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(gone, 1);

    // The sweep reads the jobs store, which sees another process's commit (this delete)
    // within 2 ms: its readers reuse a snapshot that long. It enqueues the job once seen.
    until("the sweep to enqueue the missing job", || async {
        let n = recover().await.unwrap();
        assert!(n <= 1, "one delivery, {n} jobs enqueued");
        n == 1
    })
    .await;
    until("the email sent again", || async { e.email.sent().len() == 2 }).await;
    until("the delivery sent", || async {
        statuses(&e.deliveries(&id).await, "email") == ["sent"]
    })
    .await;
    // A row still `queued` whose job exists (here: ran) is never sent again.
    let mut back = keel_data::RecordData::new();
    back.insert("status".into(), json!("queued"));
    e.app
        .state
        .store
        .update_record(&deliveries, &delivery, back, &Default::default(), su)
        .await
        .unwrap();
    assert_eq!(recover().await.unwrap(), 0, "its job exists: not enqueued again");
    assert_eq!(e.email.sent().len(), 2);
}
