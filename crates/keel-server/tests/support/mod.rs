//! Helpers shared by the auth, realtime and ops HTTP tests: an app over a real SQLite store
//! in a temp dir, request helpers, users and an SSE frame reader.
#![allow(dead_code)]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use futures::StreamExt;
use keel_app::realtime::Realtime;
use keel_app::Settings;
use keel_core::config::Config;
use keel_data::{Access, Collection, Record, RequestInfo, Store};
use keel_server::{AppState, Services};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::{json, Value};
use tempfile::TempDir;
use tower::ServiceExt;

/// Bound on every wait in these tests.
pub const WAIT: Duration = Duration::from_secs(10);

/// An app over a fresh data dir. Keep it alive for the whole test (it owns the temp dir).
pub struct TestApp {
    pub state: AppState,
    pub dir: TempDir,
    /// Stops the outbox relay and system workers when dropped.
    pub stop: tokio::sync::watch::Sender<bool>,
    /// The relay's and the system workers' tasks (ended once `stop` is sent).
    pub outbox: Vec<tokio::task::JoinHandle<()>>,
}

/// The process-wide metrics recorder (one per test binary).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(keel_server::middleware::install_metrics).clone()
}

impl TestApp {
    pub async fn new() -> TestApp {
        TestApp::with_config(|_| {}).await
    }

    /// An app whose config `edit` changed first (e.g. `[outbound] allow`).
    pub async fn with_config(edit: impl FnOnce(&mut Config)) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().to_path_buf();
        TestApp::open(dir, &db, Arc::new(keel_events::LocalBus::new()), edit).await
    }

    /// An app standing for one process of several: its databases in `db_dir` (shared with
    /// the others), `bus` shared with them, its own caches, settings and realtime clients.
    pub async fn process(db_dir: &std::path::Path, bus: Arc<dyn keel_core::bus::EventBus>) -> TestApp {
        TestApp::open(tempfile::tempdir().unwrap(), db_dir, bus, |_| {}).await
    }

    async fn open(
        dir: TempDir,
        db_dir: &std::path::Path,
        bus: Arc<dyn keel_core::bus::EventBus>,
        edit: impl FnOnce(&mut Config),
    ) -> TestApp {
        let engine = keel_sql::sqlite::SqliteEngine::open(&db_dir.join("data.db"), 4)
            .await
            .unwrap();
        let store = Arc::new(Store::open(Arc::new(engine)).await.unwrap());
        let files_dir = dir.path().join("storage");
        std::fs::create_dir_all(&files_dir).unwrap();
        let settings = Arc::new(Settings::load(&store).await.unwrap());
        let local = Arc::new(keel_files::local::open(&files_dir).unwrap());
        let files = Arc::new(keel_app::storage::Storage::new(local, settings.clone()));
        let realtime = Arc::new(Realtime::new());
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        edit(&mut config);
        let outbound = keel_core::outbound::OutboundGuard::new(&config.outbound).unwrap();
        let state = AppState::new(Services {
            app: keel_app::App {
                store: store.clone(),
                files,
                settings,
                config: Arc::new(config),
                cache: Arc::new(keel_cache::MemoryCache::default()),
                jobs: keel_jobs::Jobs::with_outbound(
                    keel_jobs::JobStore::open_sqlite(&db_dir.join("jobs.db")).await.unwrap(),
                    outbound.clone(),
                ),
                outbound,
                identity: keel_auth::Identity::new(store.clone()),
                bus,
                realtime,
                events: Default::default(),
                notifications: Default::default(),
                vault: Arc::new(test_vault(db_dir)),
                logs: Default::default(),
                search: Default::default(),
                installer: Default::default(),
            },
            limiter: Default::default(),
            metrics: Some(metrics_handle()),
        });
        // As the binary does: the bus wiring, the record broker, the jobs forwarder, the outbox.
        keel_app::realtime::start(&state).await.unwrap();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let outbox = keel_app::outbox::start(&state, stopped).await.unwrap();
        TestApp {
            state,
            dir,
            stop,
            outbox,
        }
    }

    pub fn router(&self) -> impl keel_server::HttpApp {
        keel_server::router(self.state.clone())
    }

    /// Sends a request; returns status, headers and the JSON body (`Null` when empty or not JSON).
    pub async fn send(&self, method: Method, uri: &str, token: Option<&str>, body: Option<Value>) -> Resp {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            req = req.header("authorization", t);
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b.to_string()))
                .unwrap(),
            None => req.body(Body::empty()).unwrap(),
        };
        self.raw(req).await
    }

    pub async fn raw(&self, req: Request<Body>) -> Resp {
        let resp = self.router().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
        let text = String::from_utf8_lossy(&bytes).to_string();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            json,
            text,
        }
    }

    pub fn collection(&self, name: &str) -> Arc<Collection> {
        self.state.store.collection(name).unwrap()
    }

    /// Creates an auth record with a hashed password in `collection`.
    pub async fn create_auth(&self, collection: &str, email: &str, password: &str) -> Record {
        let col = self.collection(collection);
        let mut data = keel_data::store::obj(&[
            ("email", json!(email)),
            ("password", json!(keel_auth::hash_password(password).unwrap())),
        ]);
        data.insert("verified".into(), json!(true));
        self.state
            .store
            .create_record(&col, data, &RequestInfo::default(), Access::Superuser)
            .await
            .unwrap()
    }

    /// Signs in through the API; returns the token.
    pub async fn login(&self, collection: &str, email: &str, password: &str) -> String {
        let r = self
            .send(
                Method::POST,
                &format!("/api/collections/{collection}/auth-with-password"),
                None,
                Some(json!({"identity": email, "password": password})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "login failed: {}", r.text);
        r.json["token"].as_str().unwrap().to_string()
    }

    /// A superuser and its token.
    /// Opens `/api/realtime` as the SDK does; returns the reader and the client id from
    /// `PB_CONNECT` (checked to be the event's id, where the SDK reads it).
    pub async fn realtime_connect(&self) -> (SseReader, String) {
        let resp = self
            .router()
            .oneshot(Request::get("/api/realtime").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let content_type = resp.headers()["content-type"].to_str().unwrap().to_string();
        assert!(content_type.starts_with("text/event-stream"), "{content_type}");
        let mut reader = SseReader::new(resp.into_body());
        let hello = reader.next().await.expect("PB_CONNECT");
        assert_eq!(hello.event, "PB_CONNECT");
        let id = hello.json()["clientId"].as_str().unwrap().to_string();
        assert_eq!(hello.id, id, "the SDK reads the client id from lastEventId");
        (reader, id)
    }

    pub async fn superuser_token(&self) -> String {
        self.create_auth("_superusers", "root@example.com", "rootpassword123")
            .await;
        self.login("_superusers", "root@example.com", "rootpassword123").await
    }
}

/// A response, read whole.
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
    pub text: String,
}

/// One SSE message.
#[derive(Debug, Default, Clone)]
pub struct SseFrame {
    pub id: String,
    pub event: String,
    pub data: String,
}

impl SseFrame {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap()
    }
}

/// Reads SSE messages from a streaming response body.
pub struct SseReader {
    stream: axum::body::BodyDataStream,
    buf: String,
}

impl SseReader {
    pub fn new(body: Body) -> Self {
        SseReader {
            stream: body.into_data_stream(),
            buf: String::new(),
        }
    }

    /// The next message (comments skipped); `None` when the stream ended. Panics after `WAIT`.
    pub async fn next(&mut self) -> Option<SseFrame> {
        self.next_within(WAIT)
            .await
            .expect("timed out waiting for an SSE message")
    }

    /// The next message within `limit`: `Err(())` on timeout, `Ok(None)` when the stream ended.
    pub async fn next_within(&mut self, limit: Duration) -> Result<Option<SseFrame>, ()> {
        tokio::time::timeout(limit, async {
            loop {
                if let Some(end) = self.buf.find("\n\n") {
                    let block: String = self.buf.drain(..end + 2).collect();
                    let mut frame = SseFrame::default();
                    let mut any = false;
                    for line in block.lines() {
                        let (k, v) = line.split_once(':').unwrap_or((line, ""));
                        let v = v.strip_prefix(' ').unwrap_or(v).to_string();
                        match k {
                            "id" => frame.id = v,
                            "event" => frame.event = v,
                            "data" => frame.data = v,
                            _ => continue,
                        }
                        any = true;
                    }
                    if any {
                        return Some(frame);
                    }
                    continue;
                }
                match self.stream.next().await {
                    Some(Ok(chunk)) => self.buf.push_str(&String::from_utf8_lossy(&chunk)),
                    _ => return None,
                }
            }
        })
        .await
        .map_err(|_| ())
    }
}

/// The vault's keys for a test app: a key file created in `dir` (shared by the processes of
/// one test that use the same `dir`).
pub fn test_vault(dir: &std::path::Path) -> keel_vault::Keys {
    keel_vault::Keys::open(keel_vault::KeySource::File(dir.to_path_buf()), true).unwrap()
}
