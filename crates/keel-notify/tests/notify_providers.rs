//! Every HTTP channel provider through the notifier suite against its stand-in, built from a
//! `[[notify.providers]]` table as the server builds it, plus each service's own cases.

use std::sync::Arc;
use std::time::Duration;

use keel_core::config::{NotifyConfig, OutboundConfig};
use keel_core::notify::{Channel, Message, Notifier, NotifyError, Recipient, Sent};
use keel_core::outbound::OutboundGuard;
use keel_notify::providers::build;
use keel_testkit::notify_standins::{Recorded, Reply, StandIn};
use keel_testkit::{notifier_suite, NotifierCase};
use serde_json::{json, Value};

fn loopback() -> OutboundGuard {
    OutboundGuard::new(&OutboundConfig {
        allow: vec!["127.0.0.1/32".into(), "::1/128".into()],
    })
    .unwrap()
}

fn one(table: Value) -> Arc<dyn Notifier> {
    let cfg = NotifyConfig {
        providers: vec![table.as_object().unwrap().clone()],
        ..Default::default()
    };
    let mut all = build(&cfg, &loopback()).unwrap();
    assert_eq!(all.len(), 1);
    all.remove(0)
}

fn email(to: &str) -> Message {
    Message {
        to: Recipient::Email { address: to.into() },
        subject: Some("Your report is ready".into()),
        text: "Hello Ann, the report is ready.".into(),
        html: Some("<p>Hello <b>Ann</b>, the report is ready.</p>".into()),
        data: Value::Null,
    }
}

fn chat(data: Value) -> Message {
    Message {
        to: Recipient::Chat { channel: None },
        subject: Some("Deploy finished".into()),
        text: "api v42 is live".into(),
        html: None,
        data,
    }
}

const AKID: &str = "AKIDKEELTEST0001";
const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYKEELTEST";

#[tokio::test]
async fn ses_passes_the_notifier_suite() {
    let standin = StandIn::ses("eu-west-1", AKID, AWS_SECRET).await;
    notifier_suite(&NotifierCase {
        name: "ses",
        standin,
        build: Box::new(|base| {
            one(
                json!({"name": "ses", "kind": "ses", "base_url": base, "region": "eu-west-1",
                "access_key_id": AKID, "secret_access_key": AWS_SECRET,
                "from": "noreply@keel.test", "from_name": "Keel", "configuration_set": "tx"}),
            )
        }),
        message: email("ann@x.test"),
        offline: None,
        secrets: vec![AWS_SECRET.into()],
        provider_id: Some("0100018c-ses-message-id".into()),
        check_request: Box::new(|r: &Recorded| {
            let b = r.json();
            assert_eq!(b["FromEmailAddress"], "\"Keel\" <noreply@keel.test>");
            assert_eq!(b["Destination"]["ToAddresses"], json!(["ann@x.test"]));
            assert_eq!(b["ConfigurationSetName"], "tx");
            let simple = &b["Content"]["Simple"];
            assert_eq!(simple["Subject"]["Data"], "Your report is ready");
            assert_eq!(simple["Body"]["Text"]["Data"], "Hello Ann, the report is ready.");
            assert_eq!(
                simple["Body"]["Html"]["Data"],
                "<p>Hello <b>Ann</b>, the report is ready.</p>"
            );
            let auth = r.header("authorization").unwrap();
            assert!(auth.contains(&format!("Credential={AKID}/")), "{auth}");
            assert!(auth.contains("/eu-west-1/ses/aws4_request"), "{auth}");
        }),
    })
    .await;
}

#[tokio::test]
async fn ses_with_wrong_keys_is_refused_by_the_signature_check() {
    let standin = StandIn::ses("eu-west-1", AKID, AWS_SECRET).await;
    let ses = one(
        json!({"name": "ses", "kind": "ses", "base_url": standin.url, "region": "eu-west-1",
        "access_key_id": AKID, "secret_access_key": "not-the-secret", "from": "noreply@keel.test"}),
    );
    match ses.send(&email("ann@x.test")).await {
        Err(NotifyError::Rejected(text)) => {
            assert!(text.contains("403") && text.contains("signature"), "{text}");
            assert!(!text.contains("not-the-secret"), "{text}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(standin.problems().len(), 1);
}

#[tokio::test]
async fn sendgrid_passes_the_notifier_suite() {
    let standin = StandIn::sendgrid("SG.keel-test-key").await;
    notifier_suite(&NotifierCase {
        name: "sendgrid",
        standin,
        build: Box::new(|base| {
            one(json!({"name": "sendgrid", "kind": "sendgrid", "base_url": base,
                "api_key": "SG.keel-test-key", "from": "noreply@keel.test", "from_name": "Keel"}))
        }),
        message: email("ann@x.test"),
        offline: None,
        secrets: vec!["SG.keel-test-key".into()],
        provider_id: Some("sg-message-id-1".into()),
        check_request: Box::new(|r: &Recorded| {
            assert_eq!(
                r.json(),
                json!({
                    "personalizations": [{"to": [{"email": "ann@x.test"}]}],
                    "from": {"email": "noreply@keel.test", "name": "Keel"},
                    "subject": "Your report is ready",
                    "content": [
                        {"type": "text/plain", "value": "Hello Ann, the report is ready."},
                        {"type": "text/html", "value": "<p>Hello <b>Ann</b>, the report is ready.</p>"}
                    ]
                })
            );
        }),
    })
    .await;
}

#[tokio::test]
async fn mailgun_passes_the_notifier_suite() {
    let standin = StandIn::mailgun("mg.keel.test", "key-mailgun-test").await;
    notifier_suite(&NotifierCase {
        name: "mailgun",
        standin,
        build: Box::new(|base| {
            one(
                json!({"name": "mailgun", "kind": "mailgun", "base_url": base, "domain": "mg.keel.test",
                "api_key": "key-mailgun-test", "from": "Keel <noreply@mg.keel.test>"}),
            )
        }),
        message: email("ann@x.test"),
        offline: None,
        secrets: vec!["key-mailgun-test".into()],
        provider_id: Some("<20261202.1.mg@mg.keel.test>".into()),
        check_request: Box::new(|r: &Recorded| {
            let form = r.form();
            let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
            assert_eq!(get("from"), Some("Keel <noreply@mg.keel.test>"));
            assert_eq!(get("to"), Some("ann@x.test"));
            assert_eq!(get("subject"), Some("Your report is ready"));
            assert_eq!(get("text"), Some("Hello Ann, the report is ready."));
            assert_eq!(get("html"), Some("<p>Hello <b>Ann</b>, the report is ready.</p>"));
        }),
    })
    .await;
}

const TW_SID: &str = "AC0123456789abcdef0123456789abcdef";
const TW_TOKEN: &str = "twilio-auth-token-secret";

fn sms(to: &str) -> Message {
    Message {
        to: Recipient::Phone { number: to.into() },
        subject: None,
        text: "Your code is 123456".into(),
        html: None,
        data: Value::Null,
    }
}

fn twilio(base: &str) -> Arc<dyn Notifier> {
    one(
        json!({"name": "sms", "kind": "twilio", "base_url": base, "account_sid": TW_SID,
        "auth_token": TW_TOKEN, "from": "+15005550006", "rate_per_second": 1}),
    )
}

#[tokio::test]
async fn twilio_passes_the_notifier_suite() {
    let standin = StandIn::twilio(TW_SID, TW_TOKEN).await;
    assert_eq!(twilio(&standin.url).rate_per_second(), Some(1));
    assert_eq!(twilio(&standin.url).channel(), Channel::Sms);
    notifier_suite(&NotifierCase {
        name: "twilio",
        standin,
        build: Box::new(|base| twilio(base)),
        message: sms("+14155550100"),
        offline: None,
        secrets: vec![TW_TOKEN.into()],
        provider_id: Some("SM0123456789abcdef0123456789abcdef".into()),
        check_request: Box::new(|r: &Recorded| {
            assert_eq!(r.form_field("To").as_deref(), Some("+14155550100"));
            assert_eq!(r.form_field("From").as_deref(), Some("+15005550006"));
            assert_eq!(r.form_field("Body").as_deref(), Some("Your code is 123456"));
        }),
    })
    .await;
}

#[tokio::test]
async fn twilio_refuses_an_invalid_number_for_good_and_takes_a_messaging_service() {
    let standin = StandIn::twilio(TW_SID, TW_TOKEN).await;
    match twilio(&standin.url).send(&sms("555-0100")).await {
        Err(NotifyError::Rejected(text)) => assert!(text.contains("21211"), "{text}"),
        other => panic!("an invalid To should be Rejected: {other:?}"),
    }
    let via_service = one(json!({"name": "sms", "kind": "twilio", "base_url": standin.url,
        "account_sid": TW_SID, "auth_token": TW_TOKEN, "messaging_service_sid": "MG0001"}));
    assert!(via_service.send(&sms("+14155550100")).await.is_ok());
    let last = standin.requests().pop().unwrap();
    assert_eq!(last.form_field("MessagingServiceSid").as_deref(), Some("MG0001"));
    assert_eq!(last.form_field("From"), None);
    // Twilio's 429 (code 20429) is a Retry
    standin.answer_next(Reply::json(
        429,
        json!({"code": 20429, "message": "Too Many Requests", "status": 429}),
    ));
    assert!(matches!(
        via_service.send(&sms("+14155550100")).await,
        Err(NotifyError::Retry { .. })
    ));
}

const SLACK_PATH: &str = "/services/T0KEEL/B0KEEL/slackhooksecret";

#[tokio::test]
async fn slack_passes_the_notifier_suite() {
    let standin = StandIn::slack(SLACK_PATH).await;
    let blocks = json!([{"type": "section", "text": {"type": "mrkdwn", "text": "*api* v42"}}]);
    notifier_suite(&NotifierCase {
        name: "slack",
        standin,
        build: Box::new(|base| {
            one(json!({"name": "slack-ops", "kind": "slack", "webhook_url": format!("{base}{SLACK_PATH}")}))
        }),
        message: chat(json!({"blocks": blocks})),
        offline: None,
        secrets: vec!["slackhooksecret".into(), SLACK_PATH.into()],
        provider_id: None,
        check_request: Box::new(move |r: &Recorded| {
            assert_eq!(
                r.json(),
                json!({"text": "*Deploy finished*\napi v42 is live", "blocks": blocks})
            );
        }),
    })
    .await;
}

const TEAMS_PATH: &str = "/workflows/abc/triggers/manual/paths/invoke";

#[tokio::test]
async fn teams_passes_the_notifier_suite() {
    let standin = StandIn::teams(TEAMS_PATH).await;
    notifier_suite(&NotifierCase {
        name: "teams",
        standin,
        build: Box::new(|base| {
            one(json!({"name": "teams", "kind": "teams", "webhook_url": format!("{base}{TEAMS_PATH}")}))
        }),
        message: chat(Value::Null),
        offline: None,
        secrets: vec![TEAMS_PATH.into()],
        provider_id: None,
        check_request: Box::new(|r: &Recorded| {
            let b = r.json();
            assert_eq!(b["type"], "message");
            let card = &b["attachments"][0]["content"];
            assert_eq!(card["type"], "AdaptiveCard");
            assert_eq!(card["body"][0]["text"], "Deploy finished");
            assert_eq!(card["body"][0]["weight"], "Bolder");
            assert_eq!(card["body"][1]["text"], "api v42 is live");
        }),
    })
    .await;
}

#[tokio::test]
async fn teams_can_post_a_legacy_message_card() {
    let standin = StandIn::teams(TEAMS_PATH).await;
    let teams = one(json!({"name": "teams", "kind": "teams", "format": "messagecard",
        "webhook_url": format!("{}{TEAMS_PATH}", standin.url)}));
    assert_eq!(teams.send(&chat(Value::Null)).await, Ok(Sent::default()));
    let b = standin.requests()[0].json();
    assert_eq!(b["@type"], "MessageCard");
    assert_eq!(b["title"], "Deploy finished");
    assert_eq!(b["text"], "api v42 is live");
    assert!(standin.problems().is_empty());
}

const DISCORD_PATH: &str = "/api/webhooks/1180000000000000000/discordhooktoken";

fn discord(base: &str) -> Arc<dyn Notifier> {
    one(json!({"name": "discord", "kind": "discord", "webhook_url": format!("{base}{DISCORD_PATH}")}))
}

#[tokio::test]
async fn discord_passes_the_notifier_suite() {
    let standin = StandIn::discord(DISCORD_PATH).await;
    let embeds = json!([{"title": "api", "description": "v42"}]);
    notifier_suite(&NotifierCase {
        name: "discord",
        standin,
        build: Box::new(|base| discord(base)),
        message: chat(json!({"embeds": embeds})),
        offline: None,
        secrets: vec!["discordhooktoken".into()],
        provider_id: Some("1180000000000000001".into()),
        check_request: Box::new(move |r: &Recorded| {
            assert_eq!(r.query.as_deref(), Some("wait=true"));
            assert_eq!(
                r.json(),
                json!({"content": "**Deploy finished**\napi v42 is live", "embeds": embeds})
            );
        }),
    })
    .await;
}

#[tokio::test]
async fn discord_honours_retry_after_in_the_body_and_cuts_long_content() {
    let standin = StandIn::discord(DISCORD_PATH).await;
    let d = discord(&standin.url);
    standin.answer_next(Reply::json(
        429,
        json!({"message": "You are being rate limited.", "retry_after": 1.5, "global": false}),
    ));
    match d.send(&chat(Value::Null)).await {
        Err(NotifyError::Retry { after, .. }) => assert_eq!(after, Some(Duration::from_millis(1500))),
        other => panic!("{other:?}"),
    }
    let mut long = chat(Value::Null);
    long.text = "x".repeat(5000);
    assert!(d.send(&long).await.is_ok());
    let content = standin.requests().pop().unwrap().json()["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(content.chars().count(), 2000);
    assert!(standin.problems().is_empty());
}

#[tokio::test]
async fn a_base_url_on_loopback_needs_the_allow_list() {
    let cfg = NotifyConfig {
        providers: vec![
            json!({"name": "sg", "kind": "sendgrid", "base_url": "http://127.0.0.1:9/",
            "api_key": "SG.k", "from": "a@b.test"})
            .as_object()
            .unwrap()
            .clone(),
        ],
        ..Default::default()
    };
    let err = build(&cfg, &OutboundGuard::default()).err().unwrap();
    let keel_core::Error::BadRequest { fields, .. } = &err else {
        panic!("{err:?}")
    };
    let message = &fields["notify.providers[0].base_url"].message;
    assert!(
        message.contains("loopback") && message.contains("[outbound] allow"),
        "{message}"
    );
    let built = build(&cfg, &loopback()).unwrap();
    assert_eq!(built[0].name(), "sg");
}

#[tokio::test]
async fn configs_are_checked_naming_the_key_never_the_value() {
    let cases = [
        (json!({"name": "x", "kind": "fax"}), "notify.providers[0].kind"),
        (
            json!({"name": "x", "kind": "sendgrid", "from": "a@b.test"}),
            "notify.providers[0].api_key",
        ),
        (
            json!({"name": "x", "kind": "sendgrid", "from": "a@b.test", "api_key": "SG.s3cret", "apikey": "SG.s3cret"}),
            "notify.providers[0].apikey",
        ),
        (
            json!({"name": "x", "kind": "ses", "region": "us-east-1", "access_key_id": "A", "secret_access_key": 12345, "from": "a@b.test"}),
            "notify.providers[0].secret_access_key",
        ),
        (
            json!({"name": "x", "kind": "twilio", "account_sid": "AC1", "auth_token": "s3cret"}),
            "notify.providers[0].from",
        ),
        (
            json!({"name": "x", "kind": "slack", "webhook_url": "ftp://hooks.slack.com/s3cret"}),
            "notify.providers[0].webhook_url",
        ),
        (
            json!({"name": "x", "kind": "teams", "webhook_url": "https://x.test/s3cret", "format": "s3cret"}),
            "notify.providers[0].format",
        ),
        (
            json!({"name": "x", "kind": "smtp", "host": "h", "from": "a@b.test", "tls": "s3cret"}),
            "notify.providers[0].tls",
        ),
        (
            json!({"name": "x", "kind": "discord", "webhook_url": "https://x.test/s3cret", "rate_per_second": 0}),
            "notify.providers[0].rate_per_second",
        ),
    ];
    for (table, key) in cases {
        let cfg = NotifyConfig {
            providers: vec![table.as_object().unwrap().clone()],
            ..Default::default()
        };
        let err = build(&cfg, &loopback())
            .err()
            .unwrap_or_else(|| panic!("{table} should fail"));
        let keel_core::Error::BadRequest { fields, .. } = &err else {
            panic!("{err:?}")
        };
        assert!(fields.contains_key(key), "{table}: {fields:?}");
        let shown = format!("{err} {fields:?}");
        assert!(!shown.contains("s3cret") && !shown.contains("12345"), "{shown}");
    }
    // two providers with one name
    let hook = json!({"name": "ops", "kind": "slack", "webhook_url": "https://hooks.slack.test/a"});
    let cfg = NotifyConfig {
        providers: vec![hook.as_object().unwrap().clone(), hook.as_object().unwrap().clone()],
        ..Default::default()
    };
    let err = build(&cfg, &loopback()).err().unwrap();
    let keel_core::Error::BadRequest { fields, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(fields.contains_key("notify.providers[1].name"), "{fields:?}");
}
