//! Three `keel serve` processes as one: records and jobs on one fresh PostgreSQL database
//! (or MariaDB), the processes kept in step by the Redis bus (or NATS). A realtime subscriber
//! on A hears what B and C write, filtered by rules; a collection and a rule changed on A are
//! enforced by B and C; a role removed on A cuts off a subscription held by C; a subscription
//! request may land on any process; `kill -9` of B during a stream of creates loses none that
//! B answered 200: each is in the database and reached the subscribers on A and C. On the
//! PostgreSQL + Redis set (with the Redis cache), an OAuth2 sign-in started on A completes on
//! B and C.

mod common;

use std::time::Duration;

use common::{KeelProcess, SUPERUSER_EMAIL, SUPERUSER_PASSWORD};
use futures::StreamExt;
use serde_json::{json, Value};

/// Bound on every wait.
const WAIT: Duration = Duration::from_secs(15);

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn login(url: &str, collection: &str, email: &str, password: &str) -> String {
    let res = http()
        .post(format!("{url}/api/collections/{collection}/auth-with-password"))
        .json(&json!({ "identity": email, "password": password }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "sign-in on {url}");
    res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn send(method: reqwest::Method, url: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let mut req = http().request(method, url);
    if let Some(t) = token {
        req = req.header("Authorization", t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// An SSE stream as the SDK reads it.
struct Sse {
    stream: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buf: String,
}

impl Sse {
    async fn open(url: &str) -> (Sse, String) {
        let res = reqwest::get(format!("{url}/api/realtime")).await.unwrap();
        assert_eq!(res.status(), 200);
        let mut sse = Sse {
            stream: res.bytes_stream().boxed(),
            buf: String::new(),
        };
        let (event, data) = sse.next().await;
        assert_eq!(event, "PB_CONNECT");
        let id = data["clientId"].as_str().unwrap().to_string();
        (sse, id)
    }

    /// The next event's name and JSON data; panics after `WAIT`.
    async fn next(&mut self) -> (String, Value) {
        tokio::time::timeout(WAIT, async {
            loop {
                if let Some(end) = self.buf.find("\n\n") {
                    let block: String = self.buf.drain(..end + 2).collect();
                    let (mut event, mut data) = (String::new(), String::new());
                    for line in block.lines() {
                        if let Some(v) = line.strip_prefix("event:") {
                            event = v.trim().to_string();
                        } else if let Some(v) = line.strip_prefix("data:") {
                            data = v.trim().to_string();
                        }
                    }
                    if !event.is_empty() {
                        return (event, serde_json::from_str(&data).unwrap_or(Value::Null));
                    }
                    continue;
                }
                let chunk = self.stream.next().await.expect("the stream ended").unwrap();
                self.buf.push_str(&String::from_utf8_lossy(&chunk));
            }
        })
        .await
        .expect("timed out waiting for an SSE event")
    }
}

async fn subscribe(url: &str, client: &str, subs: &[&str], token: Option<&str>) {
    let body = json!({"clientId": client, "subscriptions": subs});
    let (s, v) = send(reqwest::Method::POST, &format!("{url}/api/realtime"), token, Some(body)).await;
    assert_eq!(s, 204, "{v}");
}

/// An OAuth2 sign-in as the JS SDK's all-in-one flow makes it, spread over the processes
/// as a load balancer may: the realtime stream (`@oauth2`) and `auth-methods` (state and PKCE
/// kept in the shared Redis cache) on A, the provider's redirect landing on B, the sign-in on
/// C; the verifier is then used up on every process.
async fn oauth2_started_on_one_process_completes_on_another(a: &str, b: &str, c: &str, su: &str) {
    use keel_testkit::oauth_server::{OAuthServer, OAuthServerOptions};
    use reqwest::Method as M;
    let idp = OAuthServer::start(OAuthServerOptions::default()).await.unwrap();
    let d = OAuthServerOptions::default();
    let provider = json!({"name": "oidc", "clientId": d.client_id, "clientSecret": d.client_secret,
        "displayName": "Test IdP", "extra": {"issuer": idp.url}});
    let (s, v) = send(
        M::PATCH,
        &format!("{a}/api/collections/users"),
        Some(su),
        Some(json!({"oauth2": {"enabled": true, "providers": [provider]}})),
    )
    .await;
    assert_eq!(s, 200, "{v}");

    let (mut stream, client_id) = Sse::open(a).await;
    subscribe(a, &client_id, &["@oauth2"], None).await;
    keel_testkit::eventually(WAIT, "A offers the oidc provider", || async {
        let (s, v) = send(M::GET, &format!("{a}/api/collections/users/auth-methods"), None, None).await;
        s == 200 && v["oauth2"]["providers"][0]["name"] == "oidc"
    })
    .await;
    let (_, m) = send(M::GET, &format!("{a}/api/collections/users/auth-methods"), None, None).await;
    let m = &m["oauth2"]["providers"][0];
    let verifier = m["codeVerifier"].as_str().unwrap();
    // The SDK sends the browser to the provider with the realtime client id as the state and
    // the deployment's `/api/oauth2-redirect` (here answered by B) as the redirect.
    let redirect = format!("{b}/api/oauth2-redirect");
    let mut auth_url = reqwest::Url::parse(&format!("{}{redirect}", m["authURL"].as_str().unwrap())).unwrap();
    let query: Vec<(String, String)> = auth_url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" {
                client_id.clone()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    auth_url.query_pairs_mut().clear().extend_pairs(query);
    let (code, state) = idp.follow_authorize(auth_url.as_str()).await;
    assert_eq!(state, client_id);
    let landed = http()
        .get(format!("{redirect}?state={state}&code={code}"))
        .send()
        .await
        .unwrap();
    assert_eq!(landed.status(), 200, "the redirect on B");
    let (event, data) = stream.next().await;
    assert_eq!(event, "@oauth2");
    assert_eq!(data, json!({"state": client_id, "code": code}));

    let sign_in = json!({"provider": "oidc", "code": data["code"], "codeVerifier": verifier, "redirectURL": redirect});
    let url = |p: &str| format!("{p}/api/collections/users/auth-with-oauth2");
    let (s, v) = send(M::POST, &url(c), None, Some(sign_in.clone())).await;
    assert_eq!(s, 200, "sign-in on C with the verifier A issued: {v}");
    assert_eq!(v["record"]["email"], "ada@example.com");
    let token = v["token"].as_str().unwrap();
    let (s, _) = send(
        M::POST,
        &format!("{a}/api/collections/users/auth-refresh"),
        Some(token),
        None,
    )
    .await;
    assert_eq!(s, 200, "the token C issued is good on A");
    // The verifier was used up, on every process.
    for p in [a, b] {
        let (s, v) = send(M::POST, &url(p), None, Some(sign_in.clone())).await;
        assert_eq!(s, 400, "a second sign-in with the same verifier on {p}: {v}");
        assert!(v["data"]["codeVerifier"].is_object(), "{v}");
    }
}

async fn three_processes_behave_as_one(env: &[(&str, &str)], shared_cache: bool) {
    let mut procs: Vec<KeelProcess> = (0..3).map(|_| KeelProcess::start_with_env(env)).collect();
    let (a, b, c) = (
        procs[0].url().to_string(),
        procs[1].url().to_string(),
        procs[2].url().to_string(),
    );
    let (a, b, c) = (a.as_str(), b.as_str(), c.as_str());
    let su = login(a, "_superusers", SUPERUSER_EMAIL, SUPERUSER_PASSWORD).await;
    use reqwest::Method as M;
    if shared_cache {
        oauth2_started_on_one_process_completes_on_another(a, b, c, &su).await;
    }

    // A collection created on A is served by B and C.
    let (s, v) = send(
        M::POST,
        &format!("{a}/api/collections"),
        Some(&su),
        Some(json!({
            "name": "posts", "type": "base",
            "fields": [{"name": "title", "type": "text"}, {"name": "public", "type": "bool"}],
            "listRule": "public = true || @request.auth.roles ?= 'viewer'", "viewRule": "", "createRule": "",
        })),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    for url in [b, c] {
        let took = keel_testkit::eventually(WAIT, "the collection is served", || async {
            let body = json!({"title": "probe", "public": false});
            send(
                M::POST,
                &format!("{url}/api/collections/posts/records"),
                None,
                Some(body),
            )
            .await
            .0 == 200
        })
        .await;
        println!("collection created on A served by {url} after {took:?}");
    }

    // A guest subscriber on A (its subscription request landing on B) hears B's and C's
    // public writes, in order per record; the non-public ones never reach it.
    let (mut guest, guest_id) = Sse::open(a).await;
    subscribe(b, &guest_id, &["posts/*"], None).await;
    let records = |url: &str| format!("{url}/api/collections/posts/records");
    send(
        M::POST,
        &records(b),
        None,
        Some(json!({"title": "hidden", "public": false})),
    )
    .await;
    let (_, on_b) = send(
        M::POST,
        &records(b),
        None,
        Some(json!({"title": "from b", "public": true})),
    )
    .await;
    let b_id = on_b["id"].as_str().unwrap().to_string();
    let (s, _) = send(
        M::PATCH,
        &format!("{}/{b_id}", records(c)),
        Some(&su),
        Some(json!({"title": "b, by c"})),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) = send(M::DELETE, &format!("{}/{b_id}", records(c)), Some(&su), None).await;
    assert_eq!(s, 204);
    let (_, on_c) = send(
        M::POST,
        &records(c),
        None,
        Some(json!({"title": "from c", "public": true})),
    )
    .await;
    let mut seen = Vec::new();
    for _ in 0..4 {
        let (event, data) = guest.next().await;
        assert_eq!(event, "posts/*");
        seen.push((
            data["action"].as_str().unwrap().to_string(),
            data["record"]["title"].as_str().unwrap().to_string(),
        ));
    }
    let b_events: Vec<_> = seen
        .iter()
        .filter(|(_, t)| t.starts_with('b') || t == "from b")
        .cloned()
        .collect();
    let pair = |a: &str, t: &str| (a.to_string(), t.to_string());
    assert_eq!(
        b_events,
        vec![
            pair("create", "from b"),
            pair("update", "b, by c"),
            pair("delete", "b, by c")
        ]
    );
    assert!(seen.contains(&pair("create", "from c")), "{seen:?}");
    assert!(on_c["id"].is_string());

    // A rule tightened on A is enforced by B and C.
    let (s, v) = send(
        M::PATCH,
        &format!("{a}/api/collections/posts"),
        Some(&su),
        Some(json!({"createRule": null})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    for url in [b, c] {
        let took = keel_testkit::eventually(WAIT, "the tightened rule is enforced", || async {
            let body = json!({"title": "late", "public": false});
            send(M::POST, &records(url), None, Some(body)).await.0 != 200
        })
        .await;
        println!("createRule tightened on A enforced by {url} after {took:?}");
    }

    // A role removed on A cuts off a subscription held by C.
    let (s, user) = send(
        M::POST,
        &records(a).replace("posts", "users"),
        None,
        Some(json!({"email": "viewer@example.com", "password": "viewer-password-1", "passwordConfirm": "viewer-password-1"})),
    )
    .await;
    assert_eq!(s, 200, "{user}");
    let user_id = user["id"].as_str().unwrap();
    let members = format!("{a}/api/roles/viewer/members/users/{user_id}");
    let (s, v) = send(M::PUT, &members, Some(&su), None).await;
    assert_eq!(s, 200, "{v}");
    let token = login(c, "users", "viewer@example.com", "viewer-password-1").await;
    let (mut viewer, viewer_id) = Sse::open(c).await;
    subscribe(c, &viewer_id, &["posts/*"], Some(&token)).await;
    send(
        M::POST,
        &records(b),
        Some(&su),
        Some(json!({"title": "for viewers", "public": false})),
    )
    .await;
    assert_eq!(viewer.next().await.1["record"]["title"], "for viewers");
    let (s, v) = send(M::DELETE, &members, Some(&su), None).await;
    assert!(s < 300, "{v}");
    send(
        M::POST,
        &records(b),
        Some(&su),
        Some(json!({"title": "for viewers again", "public": false})),
    )
    .await;
    send(
        M::POST,
        &records(b),
        Some(&su),
        Some(json!({"title": "marker", "public": true})),
    )
    .await;
    assert_eq!(viewer.next().await.1["record"]["title"], "marker");

    // kill -9 of B during a stream of creates on B.
    let (mut on_a, on_a_id) = Sse::open(a).await;
    subscribe(a, &on_a_id, &["posts/*"], None).await;
    let (mut on_c, on_c_id) = Sse::open(c).await;
    subscribe(c, &on_c_id, &["posts/*"], None).await;
    let (progress, mut answered_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let stream = {
        let url = records(b);
        let su = su.clone();
        tokio::spawn(async move {
            for i in 0..400 {
                let body = json!({"title": format!("stream {i}"), "public": true});
                let Ok(r) = http().post(&url).header("Authorization", &su).json(&body).send().await else {
                    break;
                };
                if r.status() != 200 {
                    break;
                }
                let v: Value = r.json().await.unwrap_or(Value::Null);
                match v["id"].as_str() {
                    Some(id) => drop(progress.send(id.to_string())),
                    None => break,
                }
            }
        })
    };
    // Kill B once 20 creates were answered.
    let mut answered = Vec::new();
    while answered.len() < 20 {
        answered.push(answered_rx.recv().await.expect("the stream of creates stopped early"));
    }
    drop(procs.remove(1).kill());
    stream.await.unwrap();
    while let Ok(id) = answered_rx.try_recv() {
        answered.push(id);
    }
    assert!(answered.len() < 400, "B answered every create: it was not killed");
    for id in &answered {
        let (s, v) = send(M::GET, &format!("{}/{id}", records(a)), Some(&su), None).await;
        assert_eq!(s, 200, "a create answered 200 is in the database: {v}");
    }
    for (name, sub) in [("A", &mut on_a), ("C", &mut on_c)] {
        let mut heard = std::collections::HashSet::new();
        while !answered.iter().all(|id| heard.contains(id)) {
            let (_, data) = sub.next().await;
            heard.insert(data["record"]["id"].as_str().unwrap_or_default().to_string());
        }
        println!(
            "{} creates answered before kill -9, all heard on {name}",
            answered.len()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_and_the_redis_bus() {
    let (Some(pg), Some(redis)) = (
        keel_testkit::engine_url("KEEL_TEST_POSTGRES_URL"),
        keel_testkit::engine_url("KEEL_TEST_REDIS_URL"),
    ) else {
        return;
    };
    let (url, name) = keel_testkit::postgres::fresh_database(&pg).await;
    let _guard = keel_testkit::postgres::DatabaseGuard { url: pg.clone(), name };
    let channel = keel_testkit::random_name();
    three_processes_behave_as_one(
        &[
            ("KEEL_DATA__ENGINE", "postgres"),
            ("KEEL_JOBS__STORE", "postgres"),
            ("KEEL_ENGINES__POSTGRES_URL", url.as_str()),
            ("KEEL_EVENTS__BUS", "redis"),
            ("KEEL_EVENTS__CHANNEL", channel.as_str()),
            ("KEEL_ENGINES__REDIS_URL", redis.as_str()),
            // OAuth2 state and PKCE live in the cache: shared, a flow may span the processes.
            ("KEEL_CACHE__PROVIDER", "redis"),
            // The test's authorization server is on loopback.
            ("KEEL_OUTBOUND__ALLOW", "127.0.0.1/32"),
        ],
        true,
    )
    .await;
}

/// Records on MariaDB; jobs stay on PostgreSQL (the jobs store has no MariaDB provider).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_mariadb_and_the_nats_bus() {
    let (Some(mysql), Some(pg), Some(nats)) = (
        keel_testkit::engine_url("KEEL_TEST_MYSQL_URL"),
        keel_testkit::engine_url("KEEL_TEST_POSTGRES_URL"),
        keel_testkit::engine_url("KEEL_TEST_NATS_URL"),
    ) else {
        return;
    };
    let db = keel_testkit::mysql::fresh_database(&mysql).await;
    let _db_guard = db.guard();
    let (jobs_url, jobs_name) = keel_testkit::postgres::fresh_database(&pg).await;
    let _jobs_guard = keel_testkit::postgres::DatabaseGuard {
        url: pg.clone(),
        name: jobs_name,
    };
    let channel = keel_testkit::random_name();
    three_processes_behave_as_one(
        &[
            ("KEEL_DATA__ENGINE", "mysql"),
            ("KEEL_ENGINES__MYSQL_URL", db.url.as_str()),
            ("KEEL_JOBS__STORE", "postgres"),
            ("KEEL_ENGINES__POSTGRES_URL", jobs_url.as_str()),
            ("KEEL_EVENTS__BUS", "nats"),
            ("KEEL_EVENTS__CHANNEL", channel.as_str()),
            ("KEEL_ENGINES__NATS_URL", nats.as_str()),
        ],
        false,
    )
    .await;
}
