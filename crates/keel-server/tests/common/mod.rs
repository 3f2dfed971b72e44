//! Helpers shared by the records, collections, files and batch HTTP tests: an app over a real
//! SQLite store and a local file store in a temp dir, requests sent with `oneshot` (no socket),
//! tokens signed directly, and a multipart body builder.
#![allow(dead_code)]

pub mod engines;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use keel_app::realtime::Realtime;
use keel_app::Settings;
use keel_auth::token::{self, Claims, TokenKind};
use keel_core::config::Config;
use keel_data::{Access, Collection, Record, RequestInfo, Store};
use keel_server::{AppState, Services};
use serde_json::{json, Value};
use tempfile::TempDir;
use tower::ServiceExt;

/// An app over a fresh data dir. Keep it alive for the whole test (it owns the temp dir).
pub struct App {
    pub state: AppState,
    pub dir: TempDir,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
    pub json: Value,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

impl App {
    pub async fn new() -> App {
        App::with_config(|_| {}).await
    }

    /// An app whose config `edit` changed first (e.g. `[outbound] allow`).
    pub async fn with_config(edit: impl FnOnce(&mut Config)) -> App {
        let dir = tempfile::tempdir().unwrap();
        let engine = keel_sql::sqlite::SqliteEngine::open(&dir.path().join("data.db"), 4)
            .await
            .unwrap();
        App::build(dir, Arc::new(engine), edit).await
    }

    /// An app whose records live on `engine` (PostgreSQL, MariaDB); files and jobs in a temp dir.
    pub async fn on_engine(engine: Arc<dyn keel_sql::Engine>) -> App {
        App::build(tempfile::tempdir().unwrap(), engine, |_| {}).await
    }

    async fn build(dir: TempDir, engine: Arc<dyn keel_sql::Engine>, edit: impl FnOnce(&mut Config)) -> App {
        let store = Arc::new(Store::open(engine).await.unwrap());
        let settings = Arc::new(Settings::default());
        let local = Arc::new(keel_files::local::open(&dir.path().join("storage")).unwrap());
        let files = Arc::new(keel_app::storage::Storage::new(local, settings.clone()));
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
                    keel_jobs::JobStore::open_sqlite(&dir.path().join("jobs.db"))
                        .await
                        .unwrap(),
                    outbound.clone(),
                ),
                outbound,
                identity: keel_auth::Identity::new(store.clone()),
                bus: Arc::new(keel_events::LocalBus::new()),
                realtime: Arc::new(Realtime::default()),
                events: Default::default(),
                notifications: Default::default(),
                vault: Arc::new(test_vault(dir.path())),
                logs: Default::default(),
                search: Default::default(),
                installer: Default::default(),
            },
            limiter: Default::default(),
            metrics: None,
        });
        App { state, dir }
    }

    pub fn collection(&self, name: &str) -> Arc<Collection> {
        self.state.store.collection(name).unwrap()
    }

    /// Creates a collection through the store.
    pub async fn create_collection(&self, def: Value) -> Arc<Collection> {
        self.state.store.create_collection(def).await.unwrap()
    }

    /// Creates a record through the store, no rule checked.
    pub async fn insert(&self, collection: &str, data: Value) -> Record {
        let col = self.collection(collection);
        let Value::Object(data) = data else {
            panic!("data must be an object")
        };
        self.state
            .store
            .create_record(&col, data, &RequestInfo::default(), Access::Superuser)
            .await
            .unwrap()
    }

    /// Creates an auth record with `password` (hashed) and returns it with an auth token.
    pub async fn auth_record(&self, collection: &str, email: &str, password: &str) -> (Record, String) {
        let rec = self
            .insert(
                collection,
                json!({"email": email, "password": keel_auth::hash_password(password).unwrap(), "verified": true}),
            )
            .await;
        let token = self.sign(&rec, TokenKind::Auth);
        (rec, token)
    }

    /// A token of `kind` for `rec`.
    pub fn sign(&self, rec: &Record, kind: TokenKind) -> String {
        let col = &rec.collection;
        let auth = col.auth.as_ref().unwrap();
        let cfg = match kind {
            TokenKind::File => &auth.file_token,
            _ => &auth.auth_token,
        };
        let key = rec.data["tokenKey"].as_str().unwrap();
        token::sign(&Claims::new(kind, rec.id(), &col.id, cfg.duration), &cfg.secret, key).unwrap()
    }

    /// A superuser's auth token.
    pub async fn superuser(&self) -> String {
        self.auth_record("_superusers", "root@example.com", "rootpassword123")
            .await
            .1
    }

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

    /// Sends a raw body with a content type.
    pub async fn send_bytes(&self, method: Method, uri: &str, token: Option<&str>, ct: &str, body: Vec<u8>) -> Resp {
        let mut req = Request::builder().method(method).uri(uri).header("content-type", ct);
        if let Some(t) = token {
            req = req.header("authorization", t);
        }
        self.raw(req.body(Body::from(body)).unwrap()).await
    }

    pub async fn multipart(&self, method: Method, uri: &str, token: Option<&str>, form: Multipart) -> Resp {
        let (ct, body) = form.finish();
        self.send_bytes(method, uri, token, &ct, body).await
    }

    pub async fn raw(&self, req: Request<Body>) -> Resp {
        let resp = keel_server::router(self.state.clone()).oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            bytes,
            json,
        }
    }

    /// Turns batch requests on.
    pub async fn enable_batch(&self, max_requests: u32) {
        let mut data = (*self.state.settings.get()).clone();
        data.batch.enabled = true;
        data.batch.max_requests = max_requests;
        self.state.settings.replace(&self.state.store, data).await.unwrap();
    }
}

/// A multipart/form-data body.
pub struct Multipart {
    boundary: String,
    body: Vec<u8>,
}

impl Default for Multipart {
    fn default() -> Self {
        Multipart::new()
    }
}

impl Multipart {
    pub fn new() -> Self {
        Multipart {
            boundary: "keeltestboundary7MA4YWxkTrZu0gW".into(),
            body: Vec::new(),
        }
    }

    pub fn text(mut self, name: &str, value: &str) -> Self {
        self.body.extend(
            format!(
                "--{}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n",
                self.boundary
            )
            .bytes(),
        );
        self
    }

    pub fn json(self, value: Value) -> Self {
        self.text("@jsonPayload", &value.to_string())
    }

    pub fn file(mut self, name: &str, file_name: &str, content_type: &str, data: &[u8]) -> Self {
        self.body.extend(
            format!(
                "--{}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\nContent-Type: {content_type}\r\n\r\n",
                self.boundary
            )
            .bytes(),
        );
        self.body.extend_from_slice(data);
        self.body.extend_from_slice(b"\r\n");
        self
    }

    pub fn finish(mut self) -> (String, Vec<u8>) {
        self.body.extend(format!("--{}--\r\n", self.boundary).bytes());
        (format!("multipart/form-data; boundary={}", self.boundary), self.body)
    }
}

/// A `posts` collection: public list/view/create, owner-only update/delete (`author`), with a
/// `title` (required, min 3), `views` number, `tags` multi select, `author` relation to users,
/// `cover` (single image file ≤ 1 KiB) and `docs` (multi file, up to 3).
pub async fn posts(app: &App) -> Arc<Collection> {
    app.create_collection(json!({
        "name": "posts",
        "type": "base",
        "listRule": "",
        "viewRule": "",
        "createRule": "",
        "updateRule": "author = @request.auth.id",
        "deleteRule": "author = @request.auth.id",
        "fields": [
            {"name": "title", "type": "text", "required": true, "min": 3},
            {"name": "views", "type": "number"},
            {"name": "secret", "type": "text", "hidden": true},
            {"name": "author", "type": "relation", "collectionId": keel_data::schema::USERS_ID, "maxSelect": 1},
            {"name": "cover", "type": "file", "maxSelect": 1, "maxSize": 1024, "mimeTypes": ["image/png", "image/jpeg"]},
            {"name": "docs", "type": "file", "maxSelect": 3}
        ]
    }))
    .await
}

/// A PNG-looking payload.
pub const PNG: &[u8] = b"\x89PNG\r\n\x1a\nfake-png-bytes";

// ----- OAuth2 (the testkit authorization server) -----

use keel_testkit::oauth_server::{OAuthServer, OAuthServerOptions};

pub const OAUTH2_REDIRECT: &str = "http://127.0.0.1:5173/oauth2-callback";

pub fn oauth2_oidc(s: &OAuthServer) -> Value {
    let d = OAuthServerOptions::default();
    json!({"name": "oidc", "clientId": d.client_id, "clientSecret": d.client_secret,
        "displayName": "Test IdP", "extra": {"issuer": s.url}})
}

pub fn oauth2_github(s: &OAuthServer) -> Value {
    let d = OAuthServerOptions::default();
    json!({"name": "github", "clientId": d.client_id, "clientSecret": d.client_secret,
        "authURL": format!("{}/authorize", s.url), "tokenURL": format!("{}/token", s.url),
        "userInfoURL": format!("{}/user", s.url)})
}

/// OAuth2 tests: an app whose `users` offer `providers` (names and avatars mapped).
pub async fn oauth2_app(providers: Vec<Value>) -> App {
    oauth2_app_with(providers, |_| {}).await
}

/// `[outbound] allow` for the local test servers (on loopback): without it, the outbound
/// guard refuses them as it would any internal address.
pub fn allow_loopback(cfg: &mut Config) {
    cfg.outbound.allow = vec!["127.0.0.1/32".into(), "::1/128".into()];
}

/// [`oauth2_app`] with a config `edit` changed first.
pub async fn oauth2_app_with(providers: Vec<Value>, edit: impl FnOnce(&mut Config)) -> App {
    let app = App::with_config(edit).await;
    let patch = json!({"oauth2": {"enabled": true, "providers": providers,
        "mappedFields": {"name": "name", "avatarURL": "avatar"}}});
    app.state.store.update_collection("users", patch).await.unwrap();
    app
}

/// auth-methods' entry for `name`.
pub async fn oauth2_method(app: &App, name: &str) -> Value {
    let r = app
        .send(Method::GET, "/api/collections/users/auth-methods", None, None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json["oauth2"]["enabled"], true);
    let list = r.json["oauth2"]["providers"].as_array().unwrap().clone();
    list.into_iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {}", r.text()))
}

pub async fn oauth2_sign_in(app: &App, provider: &str, code: &str, verifier: &str, redirect: &str) -> Resp {
    let body = json!({"provider": provider, "code": code, "codeVerifier": verifier, "redirectURL": redirect});
    app.send(
        Method::POST,
        "/api/collections/users/auth-with-oauth2",
        None,
        Some(body),
    )
    .await
}

/// The whole browser-less flow for `provider`: returns the sign-in response and the verifier.
pub async fn oauth2_flow(app: &App, s: &OAuthServer, provider: &str) -> (Resp, String) {
    let m = oauth2_method(app, provider).await;
    let url = m["authURL"].as_str().unwrap();
    assert!(url.ends_with("&redirect_uri="), "{url}");
    let (code, state) = s.follow_authorize(&format!("{url}{OAUTH2_REDIRECT}")).await;
    assert_eq!(state, m["state"].as_str().unwrap());
    let verifier = m["codeVerifier"].as_str().unwrap().to_string();
    (
        oauth2_sign_in(app, provider, &code, &verifier, OAUTH2_REDIRECT).await,
        verifier,
    )
}

pub fn field_error(r: &Resp, field: &str) -> bool {
    r.status == StatusCode::BAD_REQUEST && r.json["data"].get(field).is_some()
}

/// The vault's keys for a test app: a key file created in `dir` (shared by the processes of
/// one test that use the same `dir`).
pub fn test_vault(dir: &std::path::Path) -> keel_vault::Keys {
    keel_vault::Keys::open(keel_vault::KeySource::File(dir.to_path_buf()), true).unwrap()
}
