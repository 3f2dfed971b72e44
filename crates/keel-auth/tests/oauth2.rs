//! The OAuth2 / OpenID Connect client against the local authorization server of keel-testkit.

use keel_auth::oauth2::{new_state, pkce, IdTokenError, OAuth2Error, OAuth2User, Provider, ProviderConfig};
use keel_testkit::oauth_server::{IdTokenMode, OAuthServer, OAuthServerOptions, SigningAlg, TestUser};
use serde_json::json;

const REDIRECT: &str = "http://localhost:8090/api/oauth2-redirect";

async fn server_with(user: TestUser) -> OAuthServer {
    let opts = OAuthServerOptions {
        user,
        ..OAuthServerOptions::default()
    };
    OAuthServer::start(opts).await.expect("start the authorization server")
}

async fn server() -> OAuthServer {
    server_with(TestUser::default()).await
}

fn config(name: &str, extra: serde_json::Value) -> ProviderConfig {
    let defaults = OAuthServerOptions::default();
    serde_json::from_value(json!({
        "name": name, "clientId": defaults.client_id, "clientSecret": defaults.client_secret,
        "authURL": "", "tokenURL": "", "userInfoURL": "", "displayName": "", "pkce": null, "extra": extra,
    }))
    .expect("a PocketBase provider config")
}

/// A config for `name` with every endpoint pointed at the local server.
fn local(name: &str, s: &OAuthServer, userinfo_path: &str) -> ProviderConfig {
    let mut c = config(name, json!({"issuer": s.url, "jwksURL": format!("{}/jwks", s.url)}));
    c.auth_url = format!("{}/authorize", s.url);
    c.token_url = format!("{}/token", s.url);
    if !userinfo_path.is_empty() {
        c.user_info_url = format!("{}{userinfo_path}", s.url);
    }
    c
}

async fn oidc(s: &OAuthServer, http: &reqwest::Client) -> Provider {
    Provider::resolve(&config("oidc", json!({"issuer": s.url})), http)
        .await
        .expect("resolve oidc")
}

/// Plays the whole flow as the SDK and the routes would: auth URL, browser, exchange.
async fn login(s: &OAuthServer, p: &Provider, http: &reqwest::Client) -> Result<OAuth2User, OAuth2Error> {
    let pair = pkce::new();
    let (state, nonce) = (new_state(), pkce::nonce_for(&pair.code_verifier));
    let url = p.auth_url(&state, Some(&pair.code_challenge), Some(&nonce));
    assert!(url.ends_with("&redirect_uri="), "{url}");
    let (code, got_state) = s.follow_authorize(&format!("{url}{REDIRECT}")).await;
    assert_eq!(got_state, state);
    p.exchange(http, &code, Some(&pair.code_verifier), REDIRECT, Some(&nonce))
        .await
}

fn id_token_error(r: Result<OAuth2User, OAuth2Error>) -> IdTokenError {
    match r {
        Err(OAuth2Error::InvalidIdToken(e)) => e,
        other => panic!("expected an invalid id_token, got {other:?}"),
    }
}

#[tokio::test]
async fn oidc_code_flow_with_discovery_validates_the_id_token_and_maps_the_user() {
    let (s, http) = (server().await, reqwest::Client::new());
    let p = oidc(&s, &http).await;
    let u = login(&s, &p, &http).await.expect("login");
    assert_eq!(
        (u.id.as_str(), u.email.as_str(), u.name.as_str()),
        ("4242", "ada@example.com", "Ada Lovelace")
    );
    assert_eq!(
        (u.username.as_str(), u.avatar_url.as_str()),
        ("ada", s.avatar_url().as_str())
    );
    assert!(u.is_email_verified);
    assert!(!u.access_token.is_empty() && !u.refresh_token.is_empty());
    assert!(u.expiry.as_deref().is_some_and(|e| e.ends_with('Z')), "{:?}", u.expiry);
    assert_eq!(s.jwks_fetches(), 1);
    // A second login reuses the cached JWKS.
    login(&s, &p, &http).await.expect("second login");
    assert_eq!(s.jwks_fetches(), 1);
}

#[tokio::test]
async fn es256_id_tokens_verify_and_a_rotated_key_is_fetched_once() {
    let (s, http) = (server().await, reqwest::Client::new());
    s.set_signing_alg(SigningAlg::Es256);
    let p = oidc(&s, &http).await;
    login(&s, &p, &http).await.expect("ES256 login");
    s.rotate_ec_key().expect("rotate");
    login(&s, &p, &http).await.expect("login after rotation");
    assert_eq!(s.jwks_fetches(), 2);
}

#[tokio::test]
async fn bad_id_tokens_are_refused_with_the_reason() {
    let (s, http) = (server().await, reqwest::Client::new());
    let p = oidc(&s, &http).await;
    let cases = [
        (IdTokenMode::Forged, IdTokenError::BadSignature),
        (IdTokenMode::Tampered, IdTokenError::BadSignature),
        (IdTokenMode::Expired, IdTokenError::Expired),
        (IdTokenMode::WrongAudience, IdTokenError::WrongAudience),
        (IdTokenMode::WrongIssuer, IdTokenError::WrongIssuer),
        (IdTokenMode::WrongNonce, IdTokenError::NonceMismatch),
        (IdTokenMode::AlgNone, IdTokenError::UnsupportedAlgorithm("none".into())),
        (
            IdTokenMode::HmacWithPublicKey,
            IdTokenError::UnsupportedAlgorithm("HS256".into()),
        ),
    ];
    for (mode, want) in cases {
        s.set_id_token_mode(mode);
        assert_eq!(id_token_error(login(&s, &p, &http).await), want, "{mode:?}");
    }
    s.set_signing_alg(SigningAlg::Es256);
    s.set_id_token_mode(IdTokenMode::Forged);
    assert_eq!(id_token_error(login(&s, &p, &http).await), IdTokenError::BadSignature);
    let msg = OAuth2Error::InvalidIdToken(IdTokenError::Expired).to_string();
    assert_eq!(msg, "invalid id_token: it has expired");
}

#[tokio::test]
async fn github_flow_reads_the_primary_verified_email() {
    let (s, http) = (server().await, reqwest::Client::new());
    let mut c = local("github", &s, "/user");
    c.extra.clear();
    let p = Provider::resolve(&c, &http).await.expect("resolve github");
    let u = login(&s, &p, &http).await.expect("github login");
    assert_eq!(
        (u.id.as_str(), u.username.as_str(), u.name.as_str()),
        ("4242", "ada", "Ada Lovelace")
    );
    assert_eq!((u.email.as_str(), u.is_email_verified), ("ada@example.com", true));
    assert_eq!(u.avatar_url, s.avatar_url());
    assert_eq!(u.raw["login"], "ada");
}

#[tokio::test]
async fn google_and_apple_pointed_at_the_local_server() {
    let user = TestUser {
        email_verified: false,
        ..TestUser::default()
    };
    let (s, http) = (server_with(user).await, reqwest::Client::new());
    let google = Provider::resolve(&local("google", &s, "/userinfo"), &http)
        .await
        .expect("google");
    let u = login(&s, &google, &http).await.expect("google login");
    assert_eq!((u.id.as_str(), u.is_email_verified), ("4242", false));
    // Apple has no userinfo endpoint: the user comes from the validated id_token.
    let apple = Provider::resolve(&local("apple", &s, ""), &http).await.expect("apple");
    assert!(!apple.pkce());
    let u = login(&s, &apple, &http).await.expect("apple login");
    assert_eq!((u.id.as_str(), u.email.as_str()), ("4242", "ada@example.com"));
    assert_eq!(u.raw["iss"], s.url.as_str());
    s.set_id_token_mode(IdTokenMode::Omitted);
    assert!(matches!(login(&s, &apple, &http).await, Err(OAuth2Error::UserInfo(_))));
}

#[tokio::test]
async fn a_wrong_pkce_verifier_a_reused_code_and_a_wrong_secret_are_refused() {
    let (s, http) = (server().await, reqwest::Client::new());
    let p = oidc(&s, &http).await;
    let pair = pkce::new();
    let url = p.auth_url("st", Some(&pair.code_challenge), None);
    let (code, _) = s.follow_authorize(&format!("{url}{REDIRECT}")).await;
    let other = pkce::new().code_verifier;
    let refused = p.exchange(&http, &code, Some(&other), REDIRECT, None).await;
    assert!(
        matches!(&refused, Err(OAuth2Error::Refused { error, .. }) if error == "invalid_grant"),
        "{refused:?}"
    );

    let (code, _) = s.follow_authorize(&format!("{url}{REDIRECT}")).await;
    p.exchange(&http, &code, Some(&pair.code_verifier), REDIRECT, None)
        .await
        .expect("first use");
    let again = p
        .exchange(&http, &code, Some(&pair.code_verifier), REDIRECT, None)
        .await;
    let Err(OAuth2Error::Refused { error, description }) = again else {
        panic!("{again:?}")
    };
    assert_eq!(
        (error.as_str(), description.as_str()),
        ("invalid_grant", "code already used")
    );

    let mut c = config("oidc", json!({"issuer": s.url}));
    c.client_secret = "wrong-secret".into();
    let bad = Provider::resolve(&c, &http).await.expect("resolve");
    let (code, _) = s.follow_authorize(&format!("{url}{REDIRECT}")).await;
    let err = bad
        .exchange(&http, &code, Some(&pair.code_verifier), REDIRECT, None)
        .await
        .unwrap_err();
    assert!(!err.to_string().contains("wrong-secret"), "{err}");
    assert!(matches!(err, OAuth2Error::Refused { error, .. } if error == "invalid_client"));
}

#[tokio::test]
async fn unknown_providers_and_incomplete_configs_are_refused() {
    let http = reqwest::Client::new();
    let err = Provider::resolve(&config("myspace", json!({})), &http)
        .await
        .unwrap_err();
    assert!(matches!(&err, OAuth2Error::UnknownProvider(n) if n == "myspace"));
    let keel_core::Error::BadRequest { fields, .. } = keel_core::Error::from(err) else {
        panic!("not a 400")
    };
    assert!(fields.contains_key("provider"));

    let err = Provider::resolve(&config("oidc2", json!({})), &http).await.unwrap_err();
    assert!(matches!(err, OAuth2Error::Config(_)), "{err}");
    let mut c = config("google", json!({}));
    c.client_id.clear();
    assert!(matches!(
        Provider::resolve(&c, &http).await,
        Err(OAuth2Error::Config(_))
    ));
    c = config("gitlab", json!({}));
    c.auth_url = "not a url".into();
    assert!(matches!(
        Provider::resolve(&c, &http).await,
        Err(OAuth2Error::Config(_))
    ));
}

#[tokio::test]
async fn builtin_auth_urls_follow_pocketbase() {
    let http = reqwest::Client::new();
    for name in [
        "google",
        "github",
        "microsoft",
        "gitlab",
        "discord",
        "facebook",
        "linkedin",
        "apple",
    ] {
        let p = Provider::resolve(&config(name, json!({})), &http).await.expect(name);
        let url = p.auth_url("the-state", Some("the-challenge"), None);
        assert!(url.starts_with("https://") && url.ends_with("&redirect_uri="), "{url}");
        assert!(
            url.contains("client_id=keel-test-client") && url.contains("state=the-state"),
            "{url}"
        );
        assert_eq!(
            url.contains("code_challenge=the-challenge&code_challenge_method=S256"),
            p.pkce(),
            "{url}"
        );
    }
    let mut c = config("microsoft", json!({"tenant": "contoso"}));
    c.pkce = Some(false);
    c.display_name = "Work account".into();
    let p = Provider::resolve(&c, &http).await.expect("microsoft");
    let url = p.auth_url("s", Some("challenge"), None);
    assert!(
        url.starts_with("https://login.microsoftonline.com/contoso/oauth2/v2.0/authorize?"),
        "{url}"
    );
    assert!(!url.contains("code_challenge"), "{url}");
    assert_eq!((p.name(), p.display_name()), ("microsoft", "Work account"));
}

#[tokio::test]
async fn configs_read_pocketbase_json_and_debug_hides_secrets() {
    let c: ProviderConfig = serde_json::from_value(json!({"name": "google", "clientId": "id",
        "clientSecret": "s3cr3t-value", "authURL": "", "pkce": null, "extra": null}))
    .expect("parse");
    assert_eq!((c.name.as_str(), c.pkce, c.extra.len()), ("google", None, 0));
    assert!(!format!("{c:?}").contains("s3cr3t-value"));
    let p = Provider::resolve(&c, &reqwest::Client::new()).await.expect("google");
    assert!(!format!("{p:?}").contains("s3cr3t-value"));
    let u = OAuth2User {
        access_token: "tok-123".into(),
        refresh_token: "ref-456".into(),
        ..OAuth2User::default()
    };
    let shown = format!("{u:?}");
    assert!(!shown.contains("tok-123") && !shown.contains("ref-456"), "{shown}");
    let back = serde_json::to_value(&c).expect("serialize");
    assert_eq!(back["authURL"], "");
    assert_eq!(back["clientId"], "id");
}
