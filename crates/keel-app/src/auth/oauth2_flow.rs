//! What the OAuth2 routes share: the HTTP client that talks to providers, the collection's
//! provider configs, redirect-host rules, and the PKCE pairs Keel issued.
//!
//! `auth-methods` issues a fresh state and PKCE pair per provider and remembers them in the
//! cache provider (namespace `keel-oauth2-state`, 15 minutes, shared by every Keel process
//! when the cache is Redis): `s:{state}` and `v:{codeChallenge}` → `{provider, collection}`.
//! The verifier itself is never stored, only its S256 challenge. `auth-with-oauth2` then
//! [`claim`]s the verifier: it must be one Keel issued for that provider and collection, and
//! it is deleted on use, so a second sign-in with the same verifier is refused.

use std::sync::OnceLock;
use std::time::Duration;

use keel_auth::oauth2::{pkce, ProviderConfig};
use keel_core::Error;
use keel_data::Collection;
use serde_json::{json, Value};

use crate::App;

const NS: &str = "keel-oauth2-state";
const TTL: Duration = Duration::from_secs(15 * 60);

/// The client for provider requests (rustls, the platform's roots), short timeouts, built once.
///
/// The provider's URLs (discovery, token, userinfo, JWKS) come from a superuser's config, so
/// they are not held to the outbound guard's address filter (an identity provider on the
/// private network is a normal setup), but redirects are never followed: a provider cannot
/// send Keel, with a code or a token, somewhere the superuser did not name. A 3xx is an error.
pub fn http() -> Result<&'static reqwest::Client, Error> {
    static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .timeout(Duration::from_secs(20))
                .redirect(reqwest::redirect::Policy::none())
                .user_agent("keel")
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| keel_core::Error::internal(format!("the OAuth2 HTTP client: {e}")))
}

/// Whether the collection's `oauth2.enabled` is on.
pub fn enabled(collection: &Collection) -> bool {
    collection
        .auth
        .as_ref()
        .is_some_and(|a| a.oauth2.get("enabled").and_then(Value::as_bool).unwrap_or(false))
}

/// The collection's provider configs (unreadable entries are skipped with a warning).
pub fn providers(collection: &Collection) -> Vec<ProviderConfig> {
    let list = collection
        .auth
        .as_ref()
        .and_then(|a| a.oauth2.get("providers"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    list.into_iter()
        .filter_map(|p| match serde_json::from_value::<ProviderConfig>(p) {
            Ok(c) if !c.name.is_empty() => Some(c),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(collection = %collection.name, error = %e, "unreadable OAuth2 provider config");
                None
            }
        })
        .collect()
}

/// `oauth2.mappedFields[key]`: the collection field an OAuth2 user attribute goes to.
pub fn mapped_field(collection: &Collection, key: &str) -> Option<String> {
    collection
        .auth
        .as_ref()
        .and_then(|a| a.oauth2.pointer(&format!("/mappedFields/{key}")))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Whether `redirect_url` may receive a code: its host is the settings' `meta.appURL` host,
/// a loopback host, or one of `[auth] redirect_hosts`.
pub fn redirect_allowed(app: &App, redirect_url: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(redirect_url) else {
        return false;
    };
    if !matches!(url.scheme(), "http" | "https") {
        return false;
    }
    let Some(host) = url.host_str().map(|h| h.trim_matches(['[', ']']).to_ascii_lowercase()) else {
        return false;
    };
    if host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()) {
        return true;
    }
    let app_url = app.settings.get().meta.app_url.clone();
    let app_host = reqwest::Url::parse(&app_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase));
    app_host.as_deref() == Some(host.as_str())
        || app
            .config
            .auth
            .redirect_hosts
            .iter()
            .any(|h| h.trim().eq_ignore_ascii_case(&host))
}

/// Remembers a fresh state and PKCE pair issued for `provider` of `collection_id`.
pub async fn issue(app: &App, collection_id: &str, provider: &str) -> Result<(String, pkce::Pkce), Error> {
    let st = keel_auth::oauth2::new_state();
    let pair = pkce::new();
    let entry = json!({"provider": provider, "collection": collection_id, "state": st});
    app.cache
        .set(NS, &format!("v:{}", pair.code_challenge), entry.clone(), Some(TTL), &[])
        .await?;
    app.cache.set(NS, &format!("s:{st}"), entry, Some(TTL), &[]).await?;
    Ok((st, pair))
}

/// Takes (single use) the verifier `verifier`, which must be one Keel issued for `provider`
/// of `collection_id`; a 400 naming `codeVerifier` otherwise.
pub async fn claim(app: &App, collection_id: &str, provider: &str, verifier: &str) -> Result<(), Error> {
    let refused = || {
        Error::field(
            "codeVerifier",
            "validation_invalid_code_verifier",
            "The codeVerifier is unknown, expired or already used: start the sign-in again (auth-methods).",
        )
    };
    if verifier.is_empty() {
        return Err(Error::field(
            "codeVerifier",
            "validation_required",
            "Missing required value.",
        ));
    }
    let key = format!("v:{}", pkce::challenge(verifier));
    let Some(entry) = app.cache.get(NS, &key).await? else {
        return Err(refused());
    };
    let text = |k: &str| entry.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    if text("provider") != provider || text("collection") != collection_id {
        return Err(refused());
    }
    // `delete` says whether this call removed it: of two concurrent claims, one wins.
    if !app.cache.delete(NS, &key).await? {
        return Err(refused());
    }
    let _ = app.cache.delete(NS, &format!("s:{}", text("state"))).await;
    Ok(())
}
