//! A Web Push service (RFC 8030) that checks VAPID (RFC 8292) and decrypts RFC 8291 messages
//! with the subscription's private key, as the browser would.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, Mutex};

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::Response;
use axum::routing::post;
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hkdf::Hkdf;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};
use serde_json::Value;
use sha2::Sha256;

use super::{answer, bind, header_list, is_http2, now, spawn, PushRequest, Recorder};

/// A browser's push subscription, as `PushSubscription.toJSON()` gives it.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub endpoint: String,
    /// The subscription's public key (65-byte point), base64url.
    pub p256dh: String,
    /// Its auth secret (16 bytes), base64url.
    pub auth: String,
}

struct Sub {
    secret: SecretKey,
    public: Vec<u8>,
    auth: Vec<u8>,
}

#[derive(Clone)]
struct Shared {
    rec: Recorder,
    origin: String,
    vapid_public: String,
    subs: Arc<Mutex<HashMap<String, Sub>>>,
}

/// The Web Push stand-in.
pub struct WebPushService {
    url: String,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WebPushService {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Deref for WebPushService {
    type Target = Recorder;
    fn deref(&self) -> &Recorder {
        &self.shared.rec
    }
}

impl WebPushService {
    /// Starts the service, which accepts only VAPID tokens signed by `vapid_public` (the
    /// application server's public key, base64url, as `web-push generate-vapid-keys` prints).
    pub async fn start(vapid_public: &str) -> std::io::Result<WebPushService> {
        let (listener, url) = bind().await?;
        let shared = Shared {
            rec: Recorder::default(),
            origin: url.clone(),
            vapid_public: vapid_public.to_string(),
            subs: Arc::default(),
        };
        let app = Router::new()
            .route("/push/{id}", post(receive))
            .with_state(shared.clone());
        let task = spawn(listener, app);
        Ok(WebPushService { url, shared, task })
    }

    /// The service's origin (`http://127.0.0.1:port`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A new subscription: a fresh P-256 key pair and 16-byte auth secret, as a browser makes.
    pub fn subscribe(&self) -> Subscription {
        let secret = SecretKey::random(&mut rand_core::OsRng);
        let public = secret.public_key().to_encoded_point(false).as_bytes().to_vec();
        let auth: [u8; 16] = rand::random();
        let id = crate::random_name();
        let sub = Subscription {
            endpoint: format!("{}/push/{id}", self.url),
            p256dh: URL_SAFE_NO_PAD.encode(&public),
            auth: URL_SAFE_NO_PAD.encode(auth),
        };
        self.shared.subs.lock().unwrap_or_else(|p| p.into_inner()).insert(
            id,
            Sub {
                secret,
                public,
                auth: auth.to_vec(),
            },
        );
        sub
    }
}

async fn receive(State(shared): State<Shared>, Path(id): Path<String>, req: Request) -> Response<Body> {
    let rec = shared.rec.clone();
    let http2 = is_http2(req.version());
    let headers = header_list(req.headers());
    let path = req.uri().path().to_string();
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    if get("content-encoding") != "aes128gcm" {
        return rec.problem("Content-Encoding is not aes128gcm");
    }
    if get("ttl").parse::<u64>().is_err() {
        return rec.problem("TTL is missing or not a number");
    }
    if let Err(why) = check_vapid(&get("authorization"), &shared) {
        return rec.problem(why);
    }
    let Ok(body) = axum::body::to_bytes(req.into_body(), 8192).await else {
        return rec.problem("body over 8 KiB");
    };
    if body.len() > 4096 {
        return rec.problem(format!(
            "body of {} bytes; a push message holds at most 4096",
            body.len()
        ));
    }
    let plaintext = {
        let subs = shared.subs.lock().unwrap_or_else(|p| p.into_inner());
        let Some(sub) = subs.get(&id) else {
            drop(subs);
            return answer(410, &[], "no such subscription");
        };
        match decrypt(&body, sub) {
            Ok(p) => p,
            Err(why) => {
                drop(subs);
                return rec.problem(format!("cannot decrypt: {why}"));
            }
        }
    };
    let text = String::from_utf8_lossy(&plaintext).into_owned();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    rec.accept(
        PushRequest {
            path,
            headers,
            http2,
            body,
        },
        |n| answer(201, &[("location", &format!("{}/message/{n}", shared.origin))], ""),
    )
}

/// `vapid t=<jwt>, k=<key>`: the key is the one configured, the JWT is signed by it, `aud` is
/// this origin, `exp` in the next 24 h, `sub` a mailto: or https: URL.
fn check_vapid(header: &str, shared: &Shared) -> Result<(), String> {
    let rest = header
        .strip_prefix("vapid ")
        .ok_or("Authorization is not the vapid scheme")?;
    let mut t = None;
    let mut k = None;
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("t=") {
            t = Some(v);
        } else if let Some(v) = part.strip_prefix("k=") {
            k = Some(v);
        }
    }
    let (Some(t), Some(k)) = (t, k) else {
        return Err("Authorization lacks t= or k=".into());
    };
    if k != shared.vapid_public {
        return Err("k= is not the application server's key".into());
    }
    let point = URL_SAFE_NO_PAD.decode(k).map_err(|_| "k= is not base64url")?;
    if point.len() != 65 || point[0] != 4 {
        return Err("k= is not an uncompressed P-256 point".into());
    }
    let key = DecodingKey::from_ec_components(
        &URL_SAFE_NO_PAD.encode(&point[1..33]),
        &URL_SAFE_NO_PAD.encode(&point[33..65]),
    )
    .map_err(|e| format!("k=: {e}"))?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&[shared.origin.as_str()]);
    validation.set_required_spec_claims(&["exp", "aud", "sub"]);
    let data = jsonwebtoken::decode::<Value>(t, &key, &validation).map_err(|e| format!("VAPID JWT: {e}"))?;
    let exp = data.claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
    if exp > now() + 24 * 3600 {
        return Err("VAPID JWT expires more than 24 h from now".into());
    }
    let sub = data.claims.get("sub").and_then(Value::as_str).unwrap_or_default();
    if !(sub.starts_with("mailto:") || sub.starts_with("https://")) {
        return Err("VAPID sub is not a mailto: or https: URL".into());
    }
    Ok(())
}

/// The user agent's side of RFC 8291 / RFC 8188.
fn decrypt(body: &[u8], sub: &Sub) -> Result<Vec<u8>, String> {
    if body.len() < 21 {
        return Err("shorter than the header".into());
    }
    let salt = &body[..16];
    let rs = u32::from_be_bytes([body[16], body[17], body[18], body[19]]) as usize;
    let idlen = body[20] as usize;
    if idlen != 65 || body.len() < 21 + idlen {
        return Err(format!("key id of {idlen} bytes, not a 65-byte P-256 point"));
    }
    let as_public = &body[21..21 + idlen];
    let ciphertext = &body[21 + idlen..];
    if ciphertext.len() > rs {
        return Err("more than one record".into());
    }
    let theirs = PublicKey::from_sec1_bytes(as_public).map_err(|_| "key id is not a P-256 point")?;
    let shared = p256::ecdh::diffie_hellman(sub.secret.to_nonzero_scalar(), theirs.as_affine());
    let mut info = b"WebPush: info\0".to_vec();
    info.extend_from_slice(&sub.public);
    info.extend_from_slice(as_public);
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(&sub.auth), shared.raw_secret_bytes())
        .expand(&info, &mut ikm)
        .map_err(|e| e.to_string())?;
    let hk = Hkdf::<Sha256>::new(Some(salt), &ikm);
    let mut cek = [0u8; 16];
    let mut nonce = [0u8; 12];
    hk.expand(b"Content-Encoding: aes128gcm\0", &mut cek)
        .map_err(|e| e.to_string())?;
    hk.expand(b"Content-Encoding: nonce\0", &mut nonce)
        .map_err(|e| e.to_string())?;
    let cipher = Aes128Gcm::new_from_slice(&cek).map_err(|e| e.to_string())?;
    let mut record = cipher
        .decrypt(&Nonce::from(nonce), ciphertext)
        .map_err(|_| "authentication failed (wrong keys or corrupted)")?;
    while record.last() == Some(&0) {
        record.pop();
    }
    match record.pop() {
        Some(2) => Ok(record),
        _ => Err("the last record does not end in the 0x02 delimiter".into()),
    }
}
