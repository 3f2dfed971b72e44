//! Which ways of signing in an auth collection offers, in PocketBase's ≥0.23 shape
//! (`password`, `oauth2`, `mfa`, `otp`, and the legacy `authProviders`,
//! `usernamePassword`, `emailPassword`), plus Keel's `ldap`.
//!
//! Each OAuth2 provider comes with a fresh `state` and PKCE pair, remembered server-side so
//! `auth-with-oauth2` accepts only verifiers Keel issued, once (see `oauth2_flow`).

use keel_auth::oauth2::{pkce, Provider};
use keel_core::Error;
use keel_data::Collection;
use serde_json::{json, Value};

use super::{auth_collection, oauth2_flow};
use crate::App;

/// The sign-in methods of the auth collection `name_or_id` (404 for another collection).
pub async fn methods(app: &App, name_or_id: &str) -> Result<Value, Error> {
    let collection = auth_collection(app, name_or_id)?;
    let opts = collection.auth.as_ref().ok_or_else(Error::not_found)?;
    let password = &opts.password_auth;
    let identity_fields: Vec<&str> = if password.enabled {
        password.identity_fields.iter().map(String::as_str).collect()
    } else {
        Vec::new()
    };
    let providers = oauth2_providers(app, &collection).await?;
    let ldap = opts.ldap.get("enabled").and_then(Value::as_bool).unwrap_or(false);
    // PocketBase still sends its pre-0.23 keys (`authProviders`, `usernamePassword`,
    // `emailPassword`) for older SDKs; so does Keel.
    let legacy_providers = providers.clone();
    let username = password.enabled && identity_fields.contains(&"username");
    let email = password.enabled && identity_fields.contains(&"email");
    Ok(json!({
        "password": {"enabled": password.enabled, "identityFields": identity_fields},
        "oauth2": {"enabled": oauth2_flow::enabled(&collection), "providers": providers},
        "mfa": toggle(&opts.mfa),
        "otp": toggle(&opts.otp),
        "ldap": {"enabled": ldap},
        "authProviders": legacy_providers,
        "usernamePassword": username,
        "emailPassword": email,
    }))
}

/// `{"enabled", "duration"}` of an MFA/OTP option object (duration 0 when disabled).
fn toggle(opt: &Value) -> Value {
    let enabled = opt.get("enabled").and_then(Value::as_bool).unwrap_or(false);
    let duration = if enabled {
        opt.get("duration").and_then(Value::as_i64).unwrap_or(0)
    } else {
        0
    };
    json!({"enabled": enabled, "duration": duration})
}

/// The enabled collection's providers, each with a fresh state and PKCE pair. A provider that
/// cannot be resolved (bad config, discovery down) is left out with a warning. Providers are
/// resolved together, so one whose issuer does not answer delays the answer by at most the
/// discovery timeout (5 s), and only once per failure-cache window (30 s; `keel_auth::oauth2`).
async fn oauth2_providers(app: &App, collection: &Collection) -> Result<Vec<Value>, Error> {
    if !oauth2_flow::enabled(collection) {
        return Ok(Vec::new());
    }
    let http = oauth2_flow::http()?;
    let configs = oauth2_flow::providers(collection);
    let resolved = futures::future::join_all(configs.iter().map(|cfg| Provider::resolve(cfg, http))).await;
    let mut out = Vec::new();
    for (cfg, resolved) in configs.iter().zip(resolved) {
        let provider = match resolved {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(provider = %cfg.name, error = %e, "OAuth2 provider left out of auth-methods");
                continue;
            }
        };
        let (st, pair) = oauth2_flow::issue(app, &collection.id, provider.name()).await?;
        let nonce = pkce::nonce_for(&pair.code_verifier);
        let auth_url = provider.auth_url(&st, Some(&pair.code_challenge), Some(&nonce));
        out.push(json!({
            "name": provider.name(),
            "displayName": provider.display_name(),
            "state": st,
            "authURL": auth_url,
            "codeVerifier": pair.code_verifier,
            "codeChallenge": pair.code_challenge,
            "codeChallengeMethod": pair.method,
        }));
    }
    Ok(out)
}
