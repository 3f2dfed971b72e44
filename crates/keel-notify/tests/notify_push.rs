//! The push providers (`webpush`, `fcm`, `apns`) through the notifier suite against local
//! stand-ins of their services (`keel_testkit::push_standins`), which check the exact request:
//! Web Push messages are decrypted with the subscription's private key, VAPID / OAuth2 /
//! provider tokens verified with the public keys. Beside the suite, what only push has: the
//! RFC 8291 example, the answers that mean Gone, token reuse and renewal, the guard on
//! subscription endpoints and over HTTP/2, config mistakes.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use keel_core::config::{NotifyConfig, OutboundConfig};
use keel_core::notify::{Channel, Message, Notifier, NotifyError, Recipient};
use keel_core::outbound::OutboundGuard;
use keel_core::Error;
use keel_notify::providers::{self, webpush::ece};
use keel_testkit::notify::unreachable_base;
use keel_testkit::push_standins::{ApnsService, FcmService, PushRequest, Reply, WebPushService};
use keel_testkit::{notifier_suite, NotifierCase};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use p256::SecretKey;
use serde_json::{json, Map, Value};

fn loopback() -> OutboundGuard {
    OutboundGuard::new(&OutboundConfig {
        allow: vec!["127.0.0.1/32".into(), "::1/128".into()],
    })
    .unwrap()
}

fn table(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn build_one(v: Value, outbound: &OutboundGuard) -> Arc<dyn Notifier> {
    let cfg = NotifyConfig {
        providers: vec![table(v)],
        ..Default::default()
    };
    providers::build(&cfg, outbound).unwrap().remove(0)
}

/// The 400's field names and messages, or a panic.
fn field_errors(v: Value) -> Vec<(String, String)> {
    let cfg = NotifyConfig {
        providers: vec![table(v)],
        ..Default::default()
    };
    match providers::build(&cfg, &loopback()) {
        Err(Error::BadRequest { fields, .. }) => fields.into_iter().map(|(k, e)| (k, format!("{e:?}"))).collect(),
        Err(e) => panic!("not a 400: {e}"),
        Ok(_) => panic!("accepted"),
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).unwrap()
}

/// A VAPID key pair as `web-push generate-vapid-keys` prints it: (private scalar, public point).
fn vapid_keys() -> (SecretKey, String, String) {
    let key = SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
    let private = b64(&key.to_bytes());
    let public = b64(key.public_key().to_encoded_point(false).as_bytes());
    (key, private, public)
}

fn message(to: Recipient) -> Message {
    Message {
        to,
        subject: Some("Build finished".into()),
        text: "main is green ✓".into(),
        html: None,
        data: json!({"url": "/builds/42", "attempt": 3}),
    }
}

fn expect_retry(r: Result<keel_core::notify::Sent, NotifyError>) -> (String, Option<Duration>) {
    match r {
        Err(NotifyError::Retry { message, after }) => (message, after),
        other => panic!("not a Retry: {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Web Push

#[test]
fn webpush_encryption_reproduces_the_rfc8291_example() {
    // RFC 8291 section 5.
    let plaintext = unb64("V2hlbiBJIGdyb3cgdXAsIEkgd2FudCB0byBiZSBhIHdhdGVybWVsb24");
    let ours = SecretKey::from_slice(&unb64("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw")).unwrap();
    let ua_public = unb64("BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4");
    let auth = unb64("BTBZMqHH6r4Tts7J_aSIgg");
    let salt: [u8; 16] = unb64("DGv6ra1nlYgDCS1FRnbzlw").try_into().unwrap();
    let body = ece::encrypt_with(&plaintext, &ua_public, &auth, &ours, &salt).unwrap();
    assert_eq!(
        b64(&body),
        "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
    );
    // Bad subscription keys and an oversized payload are refused, not sent.
    assert_eq!(
        ece::encrypt_with(&plaintext, &ua_public[..33], &auth, &ours, &salt),
        Err(ece::EceError::BadP256dh)
    );
    assert_eq!(
        ece::encrypt_with(&plaintext, &ua_public, &auth[..8], &ours, &salt),
        Err(ece::EceError::BadAuth)
    );
    let big = vec![b'x'; ece::MAX_PLAINTEXT + 1];
    assert!(matches!(
        ece::encrypt(&big, &ua_public, &auth),
        Err(ece::EceError::TooLarge(_))
    ));
    assert_eq!(
        ece::encrypt(&big[1..], &ua_public, &auth).unwrap().len(),
        4096,
        "the largest payload fills a push message exactly"
    );
}

fn webpush_table(private: &str) -> Value {
    json!({"name": "browser", "kind": "webpush", "vapid_private_key": private,
           "subject": "mailto:ops@example.com", "urgency": "high", "ttl_secs": 3600,
           "rate_per_second": 50})
}

fn to_subscription(endpoint: String, p256dh: String, auth: String) -> Recipient {
    Recipient::WebPush { endpoint, p256dh, auth }
}

#[tokio::test]
async fn webpush_passes_the_notifier_suite() {
    let (_, private, public) = vapid_keys();
    let service = WebPushService::start(&public).await.unwrap();
    let sub = service.subscribe();
    // A subscription whose push service is down: the address is the recipient's.
    let offline = to_subscription(
        format!("{}/push/gone-offline", unreachable_base().await),
        sub.p256dh.clone(),
        sub.auth.clone(),
    );
    let provider_id = Some(format!("{}/message/1", service.url()));
    let path = sub.endpoint.strip_prefix(service.url()).unwrap().to_string();
    let key = private.clone();
    notifier_suite(&NotifierCase {
        name: "webpush",
        standin: service,
        build: Box::new(move |_| build_one(webpush_table(&key), &loopback())),
        message: message(to_subscription(sub.endpoint, sub.p256dh, sub.auth)),
        offline: Some(message(offline)),
        secrets: vec![private],
        provider_id,
        check_request: Box::new(move |r: &PushRequest| {
            assert_eq!(r.path, path, "the subscription's endpoint");
            // The payload as the browser decrypts it with the subscription's private key.
            assert_eq!(
                r.body,
                json!({"title": "Build finished", "body": "main is green ✓", "data": {"url": "/builds/42", "attempt": 3}})
            );
            assert_eq!(r.header("ttl"), Some("3600"));
            assert_eq!(r.header("urgency"), Some("high"));
            assert_eq!(r.header("content-encoding"), Some("aes128gcm"));
            assert_eq!(r.header("content-type"), Some("application/octet-stream"));
            let auth = r.header("authorization").unwrap();
            assert!(auth.starts_with("vapid t=") && auth.ends_with(&format!(", k={public}")), "{auth}");
        }),
    })
    .await;
}

#[tokio::test]
async fn webpush_keys_defaults_and_each_subscriptions_encryption() {
    let (key, private, public) = vapid_keys();
    assert_eq!(
        providers::webpush::vapid_public_key(&private).as_deref(),
        Some(public.as_str())
    );
    assert_eq!(providers::webpush::vapid_public_key("nope"), None);
    let service = WebPushService::start(&public).await.unwrap();
    let outbound = loopback();
    let provider = build_one(webpush_table(&private), &outbound);
    assert_eq!(provider.name(), "browser");
    assert_eq!(provider.channel(), Channel::Push);
    assert_eq!(provider.rate_per_second(), Some(50));

    // The same key as a PEM, and a second subscription: each gets its own encryption.
    let pem = key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
    let provider = build_one(
        json!({"name": "browser", "kind": "webpush", "vapid_private_key": pem, "subject": "https://example.com/contact"}),
        &outbound,
    );
    let sub = service.subscribe();
    let other = service.subscribe();
    let plain = Message {
        to: to_subscription(other.endpoint, other.p256dh, other.auth),
        subject: None,
        text: "just text".into(),
        html: None,
        data: Value::Null,
    };
    provider.send(&plain).await.unwrap();
    assert_eq!(service.problems(), Vec::<String>::new());
    let got = service.received();
    assert_eq!(got[0].body, json!({"body": "just text"}));
    assert_eq!(got[0].header("urgency"), None);
    assert_eq!(got[0].header("ttl"), Some("2419200"), "four weeks by default");

    // Keys that are not the subscription's: the browser cannot decrypt, the service says so.
    let wrong = to_subscription(sub.endpoint, service.subscribe().p256dh, sub.auth);
    let err = provider.send(&message(wrong)).await.unwrap_err();
    assert!(
        matches!(err, NotifyError::Rejected(ref m) if m.contains("400")),
        "{err:?}"
    );
    assert!(
        service.problems()[0].contains("cannot decrypt"),
        "{:?}",
        service.problems()
    );
}

#[tokio::test]
async fn webpush_gone_and_too_large_answers_and_unsendable_payloads() {
    let (_, private, public) = vapid_keys();
    let service = WebPushService::start(&public).await.unwrap();
    let provider = build_one(
        json!({"name": "wp", "kind": "webpush", "vapid_private_key": private, "subject": "mailto:ops@example.com"}),
        &loopback(),
    );
    let sub = service.subscribe();
    let to = to_subscription(sub.endpoint.clone(), sub.p256dh.clone(), sub.auth.clone());
    let msg = message(to.clone());

    service.answer_next(Reply::new(410, "push subscription has unsubscribed or expired"));
    let err = provider.send(&msg).await.unwrap_err();
    assert!(
        matches!(err, NotifyError::Gone(ref m) if m.contains("410") && m.contains("unsubscribed")),
        "{err:?}"
    );

    service.answer_next(Reply::new(404, ""));
    assert!(matches!(provider.send(&msg).await, Err(NotifyError::Gone(_))));

    service.answer_next(Reply::new(413, "too big"));
    assert!(matches!(provider.send(&msg).await, Err(NotifyError::Rejected(ref m)) if m.contains("413")));

    // A long answer is capped in the error.
    service.answer_next(Reply::new(400, "x".repeat(10_000)));
    let err = provider.send(&msg).await.unwrap_err().to_string();
    assert!(err.len() < 500, "{}", err.len());

    // Gone subscriptions on the service's side (unknown endpoint) read as Gone too.
    let unknown = to_subscription(
        format!("{}/push/nobody", service.url()),
        sub.p256dh.clone(),
        sub.auth.clone(),
    );
    assert!(matches!(
        provider.send(&message(unknown)).await,
        Err(NotifyError::Gone(_))
    ));

    // A payload that does not fit, malformed keys: refused unsent.
    let before = service.received().len();
    let mut huge = msg.clone();
    huge.text = "y".repeat(5000);
    assert!(matches!(provider.send(&huge).await, Err(NotifyError::Rejected(ref m)) if m.contains("at most")));
    let bad_keys = to_subscription(sub.endpoint, "not-a-key".into(), sub.auth);
    assert!(matches!(
        provider.send(&message(bad_keys)).await,
        Err(NotifyError::Rejected(_))
    ));
    assert_eq!(service.received().len(), before);
    assert_eq!(service.problems(), Vec::<String>::new());
}

#[tokio::test]
async fn webpush_endpoints_go_through_the_outbound_guard() {
    let (_, private, public) = vapid_keys();
    let service = WebPushService::start(&public).await.unwrap();
    // Loopback is not allow-listed here: a subscription naming it is refused, nothing is sent.
    let provider = build_one(
        json!({"name": "wp", "kind": "webpush", "vapid_private_key": private, "subject": "mailto:ops@example.com"}),
        &OutboundGuard::default(),
    );
    let sub = service.subscribe();
    let err = provider
        .send(&message(Recipient::WebPush {
            endpoint: sub.endpoint,
            p256dh: sub.p256dh,
            auth: sub.auth,
        }))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("loopback"), "{err}");
    assert!(service.received().is_empty());
}

// ---------------------------------------------------------------------------------------------
// FCM

fn fcm_table(service: &FcmService) -> Value {
    json!({"name": "fcm", "kind": "fcm", "service_account": service.service_account_json(),
           "base_url": service.url()})
}

#[tokio::test]
async fn fcm_passes_the_notifier_suite() {
    let service = FcmService::start().await.unwrap();
    let account: Value = serde_json::from_str(&service.service_account_json()).unwrap();
    let private_key = account["private_key"].as_str().unwrap().to_string();
    let table = fcm_table(&service);
    notifier_suite(&NotifierCase {
        name: "fcm",
        standin: service,
        build: Box::new(move |base| {
            let mut table = table.clone();
            table["base_url"] = json!(base);
            build_one(table, &loopback())
        }),
        message: message(Recipient::Device {
            token: "device-token-1".into(),
        }),
        offline: None,
        secrets: vec![private_key],
        provider_id: Some("projects/keel-test/messages/1".into()),
        check_request: Box::new(|r: &PushRequest| {
            assert_eq!(r.path, "/v1/projects/keel-test/messages:send");
            // A bearer the token endpoint issued (the stand-in checks it is one of its own).
            let bearer = r.header("authorization").unwrap();
            assert!(bearer.starts_with("Bearer ya29."), "{bearer}");
            assert!(r.header("content-type").unwrap().starts_with("application/json"));
            assert_eq!(
                r.body,
                json!({"message": {"token": "device-token-1",
                                   "notification": {"title": "Build finished", "body": "main is green ✓"},
                                   "data": {"url": "/builds/42", "attempt": "3"}}})
            );
        }),
    })
    .await;
}

#[tokio::test]
async fn fcm_exchanges_a_service_account_jwt_once_and_keeps_the_token() {
    let service = FcmService::start().await.unwrap();
    let provider = build_one(fcm_table(&service), &loopback());
    let to = Recipient::Device {
        token: "device-token-1".into(),
    };
    // Sends at once with no token yet: one exchange, the others wait for it.
    let msg = message(to.clone());
    let sends: Vec<_> = (0..8).map(|_| provider.send(&msg)).collect();
    for r in futures::future::join_all(sends).await {
        r.unwrap();
    }
    assert_eq!(service.tokens_issued(), 1);

    // The access token is kept: another send makes no second exchange.
    provider.send(&message(to.clone())).await.unwrap();
    assert_eq!(service.tokens_issued(), 1);

    // A token about to expire (within the minute's margin) is replaced before use.
    service.set_token_lifetime(30);
    let fresh = build_one(
        json!({"name": "fcm", "kind": "fcm", "service_account": service.service_account_json(),
               "base_url": service.url(), "project_id": "keel-test"}),
        &loopback(),
    );
    fresh.send(&message(to.clone())).await.unwrap();
    fresh.send(&message(to.clone())).await.unwrap();
    assert_eq!(service.tokens_issued(), 3);

    // The key as a file path.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("service-account.json");
    std::fs::write(&path, service.service_account_json()).unwrap();
    let from_file = build_one(
        json!({"name": "fcm", "kind": "fcm", "service_account": path.to_str().unwrap(), "base_url": service.url()}),
        &loopback(),
    );
    from_file.send(&message(to)).await.unwrap();
    assert_eq!(service.problems(), Vec::<String>::new());
    assert_eq!(service.received().len(), 12);
}

#[tokio::test]
async fn fcm_unregistered_is_gone_and_a_refused_token_is_renewed() {
    let service = FcmService::start().await.unwrap();
    let provider = build_one(fcm_table(&service), &loopback());
    let msg = message(Recipient::Device { token: "tok".into() });
    let unregistered = json!({"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND",
        "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}]}});
    service.answer_next(Reply::json(404, unregistered));
    assert!(matches!(provider.send(&msg).await, Err(NotifyError::Gone(ref m)) if m.contains("UNREGISTERED")));

    let unregistered_400 = json!({"error": {"code": 400, "status": "INVALID_ARGUMENT",
        "details": [{"errorCode": "UNREGISTERED"}]}});
    service.answer_next(Reply::json(400, unregistered_400));
    assert!(matches!(provider.send(&msg).await, Err(NotifyError::Gone(_))));

    let invalid = json!({"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "The registration token is not a valid FCM registration token",
        "details": [{"errorCode": "INVALID_ARGUMENT"}]}});
    service.answer_next(Reply::json(400, invalid));
    assert!(matches!(provider.send(&msg).await, Err(NotifyError::Rejected(ref m)) if m.contains("INVALID_ARGUMENT")));

    // A refused access token is dropped: the next send exchanges a new one.
    assert_eq!(service.tokens_issued(), 1);
    service.answer_next(Reply::json(401, json!({"error": {"status": "UNAUTHENTICATED"}})));
    expect_retry(provider.send(&msg).await);
    provider.send(&msg).await.unwrap();
    assert_eq!(service.tokens_issued(), 2);
    assert_eq!(service.problems(), Vec::<String>::new());

    // A key the token endpoint does not accept: its refusal, and no credential in the text.
    let other = FcmService::start().await.unwrap();
    let mut account: Value = serde_json::from_str(&other.service_account_json()).unwrap();
    account["client_email"] = json!("someone-else@example.iam.gserviceaccount.com");
    let wrong = build_one(
        json!({"name": "fcm", "kind": "fcm", "service_account": account.to_string(), "base_url": other.url()}),
        &loopback(),
    );
    let err = wrong.send(&msg).await.unwrap_err();
    assert!(
        matches!(err, NotifyError::Rejected(ref m) if m.contains("invalid_grant")),
        "{err:?}"
    );
    assert!(!err.to_string().contains("PRIVATE KEY"));
}

// ---------------------------------------------------------------------------------------------
// APNs

fn apns_config(service: &ApnsService, private_key: &str) -> Value {
    json!({"name": "apns", "kind": "apns", "team_id": "TEAM123456", "key_id": "KEY1234567",
           "private_key": private_key, "topic": "com.example.app", "base_url": service.url()})
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn apns_passes_the_notifier_suite() {
    let service = ApnsService::start("TEAM123456", "KEY1234567", "com.example.app")
        .await
        .unwrap();
    let pem = service.private_key_pem().to_string();
    let table = apns_config(&service, &pem);
    notifier_suite(&NotifierCase {
        name: "apns",
        standin: service,
        build: Box::new(move |base| {
            let mut table = table.clone();
            table["base_url"] = json!(base);
            build_one(table, &loopback())
        }),
        message: message(Recipient::Device {
            token: "a1b2c3d4e5f6".into(),
        }),
        offline: None,
        secrets: vec![pem],
        provider_id: Some("00000000-0000-0000-0000-000000000001".into()),
        check_request: Box::new(|r: &PushRequest| {
            assert!(r.http2, "APNs is spoken over HTTP/2");
            assert_eq!(r.path, "/3/device/a1b2c3d4e5f6");
            assert_eq!(r.header("apns-topic"), Some("com.example.app"));
            assert_eq!(r.header("apns-push-type"), Some("alert"));
            assert_eq!(r.header("apns-priority"), Some("10"));
            let expiration: u64 = r.header("apns-expiration").unwrap().parse().unwrap();
            assert!(expiration > unix_now() + 27 * 24 * 3600, "four weeks by default");
            assert!(r.header("authorization").unwrap().starts_with("bearer "));
            assert!(r.header("content-type").unwrap().starts_with("application/json"));
            assert_eq!(
                r.body,
                json!({"url": "/builds/42", "attempt": 3, "aps": {"alert": {"title": "Build finished", "body": "main is green ✓"}}})
            );
        }),
    })
    .await;
}

#[tokio::test]
async fn apns_reuses_its_provider_token_and_reads_the_p8_from_a_path() {
    let service = ApnsService::start("TEAM123456", "KEY1234567", "com.example.app")
        .await
        .unwrap();
    let provider = build_one(apns_config(&service, service.private_key_pem()), &loopback());
    let to = Recipient::Device {
        token: "a1b2c3d4e5f6".into(),
    };
    provider.send(&message(to.clone())).await.unwrap();
    provider.send(&message(to.clone())).await.unwrap();
    assert_eq!(service.distinct_provider_tokens(), 1, "the provider token is reused");

    // The .p8 as a path.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("AuthKey_KEY1234567.p8");
    std::fs::write(&path, service.private_key_pem()).unwrap();
    let mut cfg = apns_config(&service, path.to_str().unwrap());
    cfg["priority"] = json!(5);
    cfg["ttl_secs"] = json!(0);
    let from_file = build_one(cfg, &loopback());
    from_file.send(&message(to)).await.unwrap();
    assert_eq!(service.problems(), Vec::<String>::new());
    assert_eq!(service.received()[2].header("apns-priority"), Some("5"));
    assert_eq!(service.received()[2].header("apns-expiration"), Some("0"));
}

#[tokio::test]
async fn apns_gone_tokens_and_an_expired_provider_token() {
    let service = ApnsService::start("TEAM123456", "KEY1234567", "com.example.app")
        .await
        .unwrap();
    let provider = build_one(apns_config(&service, service.private_key_pem()), &loopback());
    let msg = message(Recipient::Device { token: "abcdef".into() });

    service.answer_next(Reply::json(
        410,
        json!({"reason": "Unregistered", "timestamp": 1_700_000_000_000u64}),
    ));
    assert!(matches!(provider.send(&msg).await, Err(NotifyError::Gone(ref m)) if m.contains("Unregistered")));

    service.answer_next(Reply::json(400, json!({"reason": "BadDeviceToken"})));
    assert!(matches!(provider.send(&msg).await, Err(NotifyError::Gone(_))));

    service.answer_next(Reply::json(400, json!({"reason": "TopicDisallowed"})));
    assert!(matches!(provider.send(&msg).await, Err(NotifyError::Rejected(ref m)) if m.contains("TopicDisallowed")));

    // An expired provider token is dropped and replaced on the next send.
    assert_eq!(service.distinct_provider_tokens(), 1);
    service.answer_next(Reply::json(403, json!({"reason": "ExpiredProviderToken"})));
    let (_, after) = expect_retry(provider.send(&msg).await);
    assert_eq!(after, None);
    // (a new token within the same second may be identical: iat is in seconds)
    provider.send(&msg).await.unwrap();

    // A token that cannot be a device token never reaches the path.
    let before = service.received().len();
    let bad = message(Recipient::Device {
        token: "../../admin".into(),
    });
    assert!(matches!(provider.send(&bad).await, Err(NotifyError::Gone(_))));
    assert_eq!(service.received().len(), before);
    assert_eq!(service.problems(), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------------
// Tokens made at send time

#[tokio::test]
async fn an_answer_echoing_the_access_or_provider_token_does_not_show_it() {
    let fcm_service = FcmService::start().await.unwrap();
    let apns_service = ApnsService::start("TEAM123456", "KEY1234567", "com.example.app")
        .await
        .unwrap();
    let fcm = build_one(fcm_table(&fcm_service), &loopback());
    let apns = build_one(apns_config(&apns_service, apns_service.private_key_pem()), &loopback());
    let msg = message(Recipient::Device { token: "abcdef".into() });
    for (provider, received, script) in [
        (
            &fcm,
            Box::new(|| fcm_service.received()) as Box<dyn Fn() -> Vec<PushRequest>>,
            Box::new(|r: Reply| fcm_service.answer_next(r)) as Box<dyn Fn(Reply)>,
        ),
        (
            &apns,
            Box::new(|| apns_service.received()),
            Box::new(|r: Reply| apns_service.answer_next(r)),
        ),
    ] {
        provider.send(&msg).await.unwrap();
        let auth = received()[0].header("authorization").unwrap().to_string();
        let token = auth.split_once(' ').unwrap().1.to_string();
        // The token is kept (FCM's access token for its lifetime, APNs' for 50 minutes).
        script(Reply::new(400, format!("bad request with {auth}")));
        let err = provider.send(&msg).await.unwrap_err().to_string();
        assert!(err.contains("400") && err.contains("bad request"), "{err}");
        assert!(!err.contains(&token), "{}: {err}", provider.name());
        assert_eq!(received()[1].header("authorization"), Some(auth.as_str()));
    }
}

// ---------------------------------------------------------------------------------------------
// The guard's HTTP/2 variant

#[tokio::test]
async fn outbound_http2_guard_speaks_h2c_under_the_same_policy() {
    let service = ApnsService::start("T", "K", "com.example.app").await.unwrap();
    let url = format!("{}/3/device/abc", service.url());

    // The ordinary guard speaks HTTP/1.1 to a cleartext URL: APNs refuses it.
    let resp = loopback().post(&url).unwrap().send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.version(), reqwest::Version::HTTP_11);
    assert!(
        service.problems()[0].contains("HTTP/2 only"),
        "{:?}",
        service.problems()
    );

    // Its HTTP/2 variant speaks h2 with prior knowledge.
    let resp = loopback().http2().post(&url).unwrap().send().await.unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status(), 403, "reaches APNs, which wants a provider token");

    // Same allow-list: without loopback allowed, the HTTP/2 guard refuses too (an IP literal
    // before the request, a name at connect time), and follows no redirect.
    let refused = OutboundGuard::default().http2().post(&url).unwrap_err();
    assert!(refused.to_string().contains("loopback"), "{refused}");
    let by_name = url.replace("127.0.0.1", "localhost");
    let err = OutboundGuard::default()
        .http2()
        .post(&by_name)
        .unwrap()
        .send()
        .await
        .unwrap_err();
    assert!(keel_core::outbound::explain(&err).contains("loopback"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Config

#[test]
fn config_mistakes_name_the_key_never_the_value() {
    let (_, private, _) = vapid_keys();
    let fields = field_errors(json!({"name": "wp", "kind": "webpush", "subject": "mailto:a@b.c"}));
    assert_eq!(fields[0].0, "notify.providers[0].vapid_private_key");

    let fields = field_errors(
        json!({"name": "wp", "kind": "webpush", "vapid_private_key": "c2VjcmV0LXZhbHVl", "subject": "mailto:a@b.c"}),
    );
    assert_eq!(fields[0].0, "notify.providers[0].vapid_private_key");
    assert!(!fields[0].1.contains("c2VjcmV0LXZhbHVl"));

    let fields = field_errors(
        json!({"name": "wp", "kind": "webpush", "vapid_private_key": private, "subject": "ops@example.com"}),
    );
    assert_eq!(fields[0].0, "notify.providers[0].subject");

    let fields = field_errors(
        json!({"name": "wp", "kind": "webpush", "vapid_private_key": private, "subject": "mailto:a@b.c", "urgncy": "high"}),
    );
    assert_eq!(fields[0].0, "notify.providers[0].urgncy");

    // Web Push has no base URL: the address is the subscription's.
    let fields = field_errors(
        json!({"name": "wp", "kind": "webpush", "vapid_private_key": private, "subject": "mailto:a@b.c", "base_url": "https://x.test"}),
    );
    assert_eq!(fields[0].0, "notify.providers[0].base_url");

    let fields = field_errors(json!({"name": "f", "kind": "fcm", "service_account": "{\"private_key\": \"x\"}"}));
    assert_eq!(fields[0].0, "notify.providers[0].service_account");
    let fields = field_errors(json!({"name": "f", "kind": "fcm", "service_account": "/nonexistent/key.json"}));
    assert_eq!(fields[0].0, "notify.providers[0].service_account");
    let fields = field_errors(json!({"name": "f", "kind": "fcm",
        "service_account": json!({"client_email": "a@b", "private_key": "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----"}).to_string()}));
    assert_eq!(fields[0].0, "notify.providers[0].project_id");

    let fields = field_errors(
        json!({"name": "a", "kind": "apns", "team_id": "T", "key_id": "K", "topic": "x", "private_key": "/nonexistent.p8"}),
    );
    assert_eq!(fields[0].0, "notify.providers[0].private_key");
    let pem = SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng)
        .to_pkcs8_pem(LineEnding::LF)
        .unwrap()
        .to_string();
    let fields = field_errors(
        json!({"name": "a", "kind": "apns", "team_id": "T", "key_id": "K", "topic": "x", "private_key": pem, "priority": 7}),
    );
    assert_eq!(fields[0].0, "notify.providers[0].priority");
    let fields = field_errors(
        json!({"name": "a", "kind": "apns", "team_id": "T", "key_id": "K", "topic": "x", "private_key": pem, "environment": "staging"}),
    );
    assert_eq!(fields[0].0, "notify.providers[0].environment");
    let fields = field_errors(
        json!({"name": "a", "kind": "apns", "team_id": "T", "key_id": "K", "topic": "x", "private_key": pem, "base_url": "ftp://x"}),
    );
    assert_eq!(fields[0].0, "notify.providers[0].base_url");
    assert!(!format!("{fields:?}").contains("PRIVATE KEY"));

    // A base URL on loopback stops the start unless the outbound allow-list names it.
    let local = json!({"name": "a", "kind": "apns", "team_id": "T", "key_id": "K", "topic": "x",
                       "private_key": pem, "base_url": "http://127.0.0.1:9"});
    let cfg = NotifyConfig {
        providers: vec![table(local)],
        ..Default::default()
    };
    match providers::build(&cfg, &OutboundGuard::default()) {
        Err(Error::BadRequest { fields, .. }) => {
            let message = &fields["notify.providers[0].base_url"].message;
            assert!(message.contains("loopback"), "{message}");
        }
        Err(e) => panic!("not a 400: {e}"),
        Ok(_) => panic!("accepted"),
    }
    assert!(providers::build(&cfg, &loopback()).is_ok());

    // A PEM whose line breaks were escaped into one line (an environment variable) builds.
    let one_line = pem.replace('\n', "\\n");
    let cfg = NotifyConfig {
        providers: vec![table(
            json!({"name": "a", "kind": "apns", "team_id": "T", "key_id": "K", "topic": "x", "private_key": one_line}),
        )],
        ..Default::default()
    };
    assert!(providers::build(&cfg, &loopback()).is_ok());

    // The sandbox is a config key away; a good table builds.
    let cfg = NotifyConfig {
        providers: vec![table(
            json!({"name": "a", "kind": "apns", "team_id": "T", "key_id": "K", "topic": "x", "private_key": pem, "environment": "sandbox"}),
        )],
        ..Default::default()
    };
    assert_eq!(providers::build(&cfg, &loopback()).unwrap()[0].name(), "a");
}
