//! APNs over HTTP/2 cleartext: a fresh `.p8` key, the provider token verified with its public
//! key, the `apns-*` headers and the alert body checked. HTTP/1.1 requests are refused, as
//! Apple refuses them.

use std::ops::Deref;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::Response;
use axum::routing::post;
use axum::Router;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use p256::SecretKey;
use serde_json::{json, Value};

use super::{answer, bind, header_list, is_http2, now, spawn, PushRequest, Recorder};

#[derive(Clone)]
struct Shared {
    rec: Recorder,
    team_id: String,
    key_id: String,
    topic: String,
    public: DecodingKeyHolder,
    /// Distinct provider tokens seen, in order.
    bearers: Arc<Mutex<Vec<String>>>,
}

#[derive(Clone)]
struct DecodingKeyHolder(Arc<DecodingKey>);

/// The APNs stand-in.
pub struct ApnsService {
    url: String,
    private_pem: String,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ApnsService {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Deref for ApnsService {
    type Target = Recorder;
    fn deref(&self) -> &Recorder {
        &self.shared.rec
    }
}

impl ApnsService {
    /// Starts the service for a team, key id and app (`apns-topic`).
    pub async fn start(team_id: &str, key_id: &str, topic: &str) -> std::io::Result<ApnsService> {
        let secret = SecretKey::random(&mut rand_core::OsRng);
        let private_pem = secret
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(std::io::Error::other)?
            .to_string();
        let public = {
            use p256::pkcs8::EncodePublicKey;
            secret
                .public_key()
                .to_public_key_pem(LineEnding::LF)
                .map_err(std::io::Error::other)?
        };
        let decoding = DecodingKey::from_ec_pem(public.as_bytes()).map_err(std::io::Error::other)?;
        let (listener, url) = bind().await?;
        let shared = Shared {
            rec: Recorder::default(),
            team_id: team_id.into(),
            key_id: key_id.into(),
            topic: topic.into(),
            public: DecodingKeyHolder(Arc::new(decoding)),
            bearers: Arc::default(),
        };
        let app = Router::new()
            .route("/3/device/{token}", post(send))
            .with_state(shared.clone());
        let task = spawn(listener, app);
        Ok(ApnsService {
            url,
            private_pem,
            shared,
            task,
        })
    }

    /// The base URL (`base_url`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The `.p8` key's PEM (PKCS#8), as Apple's developer site downloads it.
    pub fn private_key_pem(&self) -> &str {
        &self.private_pem
    }

    /// How many different provider tokens were used.
    pub fn distinct_provider_tokens(&self) -> usize {
        self.shared.bearers.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

async fn send(State(shared): State<Shared>, Path(_token): Path<String>, req: Request) -> Response<Body> {
    let rec = &shared.rec;
    if !is_http2(req.version()) {
        // What APNs does with HTTP/1.1: no answer it would understand. A refusal here.
        return rec.problem(format!("request over {:?}; APNs speaks HTTP/2 only", req.version()));
    }
    let headers = header_list(req.headers());
    let path = req.uri().path().to_string();
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let Some(bearer) = get("authorization").strip_prefix("bearer ").map(str::to_string) else {
        return answer(403, &[], &json!({"reason": "MissingProviderToken"}).to_string());
    };
    if let Err(why) = check_token(&bearer, &shared) {
        return rec.problem(why);
    }
    {
        let mut bearers = shared.bearers.lock().unwrap_or_else(|p| p.into_inner());
        if !bearers.contains(&bearer) {
            bearers.push(bearer);
        }
    }
    if get("apns-topic") != shared.topic {
        return rec.problem("apns-topic is not the app's bundle id");
    }
    if get("apns-push-type") != "alert" {
        return rec.problem("apns-push-type is not alert");
    }
    if !["10", "5", "1"].contains(&get("apns-priority").as_str()) {
        return rec.problem("apns-priority is not 10, 5 or 1");
    }
    if get("apns-expiration")
        .parse::<u64>()
        .map_or(true, |e| e != 0 && e < now())
    {
        return rec.problem("apns-expiration is neither 0 nor a future UNIX time");
    }
    let Ok(body) = axum::body::to_bytes(req.into_body(), 8192).await else {
        return rec.problem("body over 8 KiB");
    };
    if body.len() > 4096 {
        return answer(413, &[], &json!({"reason": "PayloadTooLarge"}).to_string());
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return rec.problem("body is not JSON");
    };
    if !body["aps"]["alert"]["body"].is_string() {
        return rec.problem("aps.alert.body is not a string");
    }
    rec.accept(
        PushRequest {
            path,
            headers,
            http2: true,
            body,
        },
        |n| answer(200, &[("apns-id", &format!("00000000-0000-0000-0000-{n:012X}"))], ""),
    )
}

/// ES256 with the key, `kid` the key id, `iss` the team, `iat` within the last hour.
fn check_token(bearer: &str, shared: &Shared) -> Result<(), String> {
    let header = jsonwebtoken::decode_header(bearer).map_err(|e| format!("provider token: {e}"))?;
    if header.alg != Algorithm::ES256 {
        return Err("provider token is not ES256".into());
    }
    if header.kid.as_deref() != Some(shared.key_id.as_str()) {
        return Err("provider token kid is not the key id".into());
    }
    let mut validation = Validation::new(Algorithm::ES256);
    validation.validate_exp = false;
    validation.set_required_spec_claims::<&str>(&[]);
    validation.set_issuer(&[shared.team_id.as_str()]);
    let data = jsonwebtoken::decode::<Value>(bearer, &shared.public.0, &validation)
        .map_err(|e| format!("provider token: {e}"))?;
    let iat = data.claims.get("iat").and_then(Value::as_u64).unwrap_or(0);
    let now = now();
    if iat + 3600 < now || iat > now + 60 {
        return Err("provider token iat is not within the last hour".into());
    }
    Ok(())
}
