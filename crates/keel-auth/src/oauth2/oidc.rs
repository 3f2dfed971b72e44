//! OpenID Connect: discovery documents and JWKS, cached in memory, and `id_token` validation.
//!
//! A discovery document is cached for an hour, and a failure to get one for 30 s, so an issuer
//! that is down costs one request per 30 s (not one per `auth-methods` call); concurrent
//! lookups of one URL share one request. Discovery and JWKS requests give up after 5 s.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use super::providers::IdTokenCheck;
use super::{IdTokenError, OAuth2Error};

/// How long a discovery document or a JWKS is reused (a JWKS is refetched sooner when a token
/// names a key it does not hold).
const TTL: Duration = Duration::from_secs(3600);
/// How long a failed discovery is answered from memory before the issuer is asked again.
const FAILURE_TTL: Duration = Duration::from_secs(30);
/// The longest a discovery or JWKS request may take (connecting included).
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Clock skew allowed on `exp`.
const LEEWAY_SECS: u64 = 30;

/// The parts of a discovery document the client uses.
#[derive(Debug, Clone)]
pub(crate) struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: Option<String>,
    pub jwks_uri: Option<String>,
    /// The token endpoint does not list `client_secret_post` (the spec's default is Basic).
    pub basic_auth_only: bool,
}

#[derive(Deserialize)]
struct DiscoveryDoc {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    #[serde(default)]
    userinfo_endpoint: Option<String>,
    #[serde(default)]
    jwks_uri: Option<String>,
    #[serde(default)]
    token_endpoint_auth_methods_supported: Vec<String>,
}

type Entries<T> = Mutex<HashMap<String, (Instant, Arc<T>)>>;

static DISCOVERY: LazyLock<Entries<Result<Discovery, String>>> = LazyLock::new(Default::default);
static JWKS: LazyLock<Entries<JwkSet>> = LazyLock::new(Default::default);
/// One lock per discovery URL: concurrent lookups wait for the one request in flight.
static FETCHING: LazyLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> = LazyLock::new(Default::default);

fn cached<T>(entries: &Entries<T>, url: &str, ttl: impl Fn(&T) -> Duration) -> Option<Arc<T>> {
    let map = entries.lock().unwrap_or_else(|p| p.into_inner());
    map.get(url)
        .filter(|(at, v)| at.elapsed() < ttl(v))
        .map(|(_, v)| v.clone())
}

fn store<T>(entries: &Entries<T>, url: &str, value: T) -> Arc<T> {
    let value = Arc::new(value);
    let mut map = entries.lock().unwrap_or_else(|p| p.into_inner());
    map.insert(url.to_string(), (Instant::now(), value.clone()));
    value
}

/// A discovery answer is kept an hour, a failure 30 s.
fn discovery_ttl(entry: &Result<Discovery, String>) -> Duration {
    if entry.is_ok() {
        TTL
    } else {
        FAILURE_TTL
    }
}

/// `GET url` as JSON within [`FETCH_TIMEOUT`]; every failure is a `Discovery` error naming
/// the URL (discovery and JWKS URLs carry no secret).
async fn get_json<T: DeserializeOwned>(http: &reqwest::Client, url: &str) -> Result<T, OAuth2Error> {
    let failed = |why: String| OAuth2Error::Discovery(format!("GET {url}: {why}"));
    let resp = http
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .timeout(FETCH_TIMEOUT)
        .send()
        .await
        .map_err(|e| failed(network_error(&e)))?;
    if !resp.status().is_success() {
        return Err(failed(format!("answered {}", resp.status())));
    }
    resp.json()
        .await
        .map_err(|e| failed(format!("unexpected body ({})", network_error(&e))))
}

/// A request error in words, without its URL.
fn network_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return format!("no answer within {} s", FETCH_TIMEOUT.as_secs());
    }
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(&format!(" for url ({url})"), "");
    }
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        source = cause.source();
    }
    text
}

async fn fetch_discovery(http: &reqwest::Client, url: &str) -> Result<Discovery, OAuth2Error> {
    let raw: DiscoveryDoc = get_json(http, url).await?;
    Ok(Discovery {
        basic_auth_only: !raw
            .token_endpoint_auth_methods_supported
            .iter()
            .any(|m| m == "client_secret_post"),
        issuer: raw.issuer,
        authorization_endpoint: raw.authorization_endpoint,
        token_endpoint: raw.token_endpoint,
        userinfo_endpoint: raw.userinfo_endpoint.filter(|u| !u.is_empty()),
        jwks_uri: raw.jwks_uri.filter(|u| !u.is_empty()),
    })
}

/// The discovery document at `url` from memory, or fetched once by whichever caller gets
/// there first (the others wait for its answer, success or failure).
async fn discovery(http: &reqwest::Client, url: &str) -> Arc<Result<Discovery, String>> {
    if let Some(entry) = cached(&DISCOVERY, url, discovery_ttl) {
        return entry;
    }
    let lock = {
        let mut map = FETCHING.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(url.to_string()).or_default().clone()
    };
    let _fetching = lock.lock().await;
    if let Some(entry) = cached(&DISCOVERY, url, discovery_ttl) {
        return entry;
    }
    let fetched = fetch_discovery(http, url).await.map_err(|e| match e {
        OAuth2Error::Discovery(why) => why,
        other => other.to_string(),
    });
    store(&DISCOVERY, url, fetched)
}

/// The discovery document at `url`; when `expected_issuer` is given, its `issuer` must match.
/// A failure is remembered for [`FAILURE_TTL`] and answered again without a request.
pub(crate) async fn discover(
    http: &reqwest::Client,
    url: &str,
    expected_issuer: Option<&str>,
) -> Result<Discovery, OAuth2Error> {
    let entry = discovery(http, url).await;
    let doc = match &*entry {
        Ok(doc) => doc,
        Err(why) => return Err(OAuth2Error::Discovery(why.clone())),
    };
    if let Some(expected) = expected_issuer {
        if doc.issuer.trim_end_matches('/') != expected.trim_end_matches('/') {
            return Err(OAuth2Error::Discovery(format!(
                "{url} names the issuer {:?}, not {expected:?}",
                doc.issuer
            )));
        }
    }
    Ok(doc.clone())
}

async fn jwks(http: &reqwest::Client, url: &str, refresh: bool) -> Result<Arc<JwkSet>, OAuth2Error> {
    if !refresh {
        if let Some(set) = cached(&JWKS, url, |_| TTL) {
            return Ok(set);
        }
    }
    let set: JwkSet = get_json(http, url).await?;
    Ok(store(&JWKS, url, set))
}

fn algorithm(alg: &str) -> Result<Algorithm, IdTokenError> {
    Ok(match alg {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        other => return Err(IdTokenError::UnsupportedAlgorithm(other.to_string())),
    })
}

fn fits(jwk: &Jwk, alg: Algorithm) -> bool {
    let family_ok = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => !matches!(alg, Algorithm::ES256 | Algorithm::ES384),
        AlgorithmParameters::EllipticCurve(_) => matches!(alg, Algorithm::ES256 | Algorithm::ES384),
        _ => false,
    };
    let declared_ok = match jwk.common.key_algorithm {
        Some(declared) => declared.to_string().parse::<Algorithm>().is_ok_and(|a| a == alg),
        None => true,
    };
    family_ok && declared_ok
}

/// The key of `set` for a token with `kid` (or, without a `kid`, the one key fitting `alg`).
fn find(set: &JwkSet, kid: Option<&str>, alg: Algorithm) -> Option<Result<Jwk, IdTokenError>> {
    let jwk = match kid {
        Some(kid) => set.find(kid)?,
        None => {
            let mut fitting = set.keys.iter().filter(|k| fits(k, alg));
            match (fitting.next(), fitting.next()) {
                (Some(only), None) => only,
                _ => return None,
            }
        }
    };
    Some(if fits(jwk, alg) {
        Ok(jwk.clone())
    } else {
        Err(IdTokenError::KeyMismatch)
    })
}

/// Validates `token` (signature against the issuer's JWKS, `iss`, `aud` ∋ `client_id`, `exp`,
/// and `nonce` when one was sent) and answers its claims.
pub(crate) async fn validate_id_token(
    http: &reqwest::Client,
    check: &IdTokenCheck,
    client_id: &str,
    token: &str,
    nonce: Option<&str>,
) -> Result<Value, OAuth2Error> {
    let mut parts = token.split('.');
    let (Some(head), Some(_), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(IdTokenError::Malformed.into());
    };
    let header: Value = URL_SAFE_NO_PAD
        .decode(head)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(IdTokenError::Malformed)?;
    let alg = algorithm(header.get("alg").and_then(Value::as_str).unwrap_or("none"))?;
    let kid = header.get("kid").and_then(Value::as_str);

    let jwk = match find(&*jwks(http, &check.jwks_url, false).await?, kid, alg) {
        Some(found) => found?,
        // A key we have not seen: the provider may have rotated its keys since we cached them.
        None => match find(&*jwks(http, &check.jwks_url, true).await?, kid, alg) {
            Some(found) => found?,
            None => return Err(IdTokenError::UnknownKey.into()),
        },
    };
    let key = DecodingKey::from_jwk(&jwk)
        .map_err(|e| OAuth2Error::Discovery(format!("unusable key in {}: {e}", check.jwks_url)))?;

    let mut validation = Validation::new(alg);
    validation.leeway = LEEWAY_SECS;
    validation.set_audience(&[client_id]);
    validation.set_issuer(&[check.issuer.as_str()]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
        .map_err(|e| match e.into_kind() {
            ErrorKind::InvalidSignature => IdTokenError::BadSignature,
            ErrorKind::ExpiredSignature => IdTokenError::Expired,
            ErrorKind::InvalidIssuer => IdTokenError::WrongIssuer,
            ErrorKind::InvalidAudience => IdTokenError::WrongAudience,
            ErrorKind::MissingRequiredClaim(c) => IdTokenError::MissingClaim(c),
            _ => IdTokenError::Malformed,
        })?
        .claims;
    if let Some(expected) = nonce {
        if claims.get("nonce").and_then(Value::as_str) != Some(expected) {
            return Err(IdTokenError::NonceMismatch.into());
        }
    }
    Ok(claims)
}
