//! The `smtp` channel provider against a real SMTP server (aiosmtpd, see
//! `keel_testkit::smtp_server`): accepted, refused for good, unreachable, STARTTLS + AUTH.

use std::sync::Arc;
use std::time::Duration;

use keel_core::config::NotifyConfig;
use keel_core::notify::{Channel, Message, Notifier, NotifyError, Recipient, Sent};
use keel_core::outbound::OutboundGuard;
use keel_notify::providers::build;
use keel_testkit::notify::unreachable_base;
use keel_testkit::smtp_server::SmtpServer;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(10);

fn smtp(table: Value) -> Arc<dyn Notifier> {
    let cfg = NotifyConfig {
        providers: vec![table.as_object().unwrap().clone()],
        ..Default::default()
    };
    build(&cfg, &OutboundGuard::default()).unwrap().remove(0)
}

fn plain(server: &SmtpServer) -> Arc<dyn Notifier> {
    smtp(
        json!({"name": "mail", "kind": "smtp", "host": server.host, "port": server.port, "tls": "none",
        "from": "noreply@keel.test", "from_name": "Keel", "local_name": "keel.test"}),
    )
}

fn message(text: &str, html: Option<&str>) -> Message {
    Message {
        to: Recipient::Email {
            address: "ann@x.test".into(),
        },
        subject: Some("Your report".into()),
        text: text.into(),
        html: html.map(str::to_string),
        data: Value::Null,
    }
}

#[tokio::test]
async fn an_accepted_message_arrives_with_both_parts() {
    let Some(server) = SmtpServer::start() else { return };
    let mail = plain(&server);
    assert_eq!(mail.channel(), Channel::Email);
    let sent = mail.send(&message("Hello Ann", Some("<p>Hello <b>Ann</b></p>"))).await;
    assert_eq!(sent, Ok(Sent::default()));
    let got = server.wait_for_messages(1, WAIT).await;
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert_eq!(
        m.from.as_ref().map(|a| (a.name.as_deref(), a.email.as_str())),
        Some((Some("Keel"), "noreply@keel.test"))
    );
    assert_eq!(m.envelope_to, ["ann@x.test"]);
    assert_eq!(m.subject.as_deref(), Some("Your report"));
    assert_eq!(m.text.as_deref().map(str::trim), Some("Hello Ann"));
    assert_eq!(m.html.as_deref().map(str::trim), Some("<p>Hello <b>Ann</b></p>"));
}

#[tokio::test]
async fn a_text_only_message_gets_an_escaped_html_part() {
    let Some(server) = SmtpServer::start() else { return };
    plain(&server).send(&message("1 < 2\nbye", None)).await.unwrap();
    let got = server.wait_for_messages(1, WAIT).await;
    assert_eq!(got[0].html.as_deref().map(str::trim), Some("<p>1 &lt; 2<br>\nbye</p>"));
}

#[tokio::test]
async fn a_message_the_server_refuses_for_good_is_rejected() {
    let Some(server) = SmtpServer::start_with_max_size(2_000) else {
        return;
    };
    let big = "x".repeat(10_000);
    match plain(&server).send(&message(&big, None)).await {
        Err(NotifyError::Rejected(text)) => assert!(text.contains("552") || text.contains("size"), "{text}"),
        other => panic!("an oversized message should be Rejected: {other:?}"),
    }
    let mut wrong = message("hi", None);
    wrong.to = Recipient::Phone {
        number: "+14155550100".into(),
    };
    assert!(matches!(
        plain(&server).send(&wrong).await,
        Err(NotifyError::Rejected(_))
    ));
    wrong.to = Recipient::Email {
        address: "not an address".into(),
    };
    assert!(matches!(
        plain(&server).send(&wrong).await,
        Err(NotifyError::Rejected(_))
    ));
}

#[tokio::test]
async fn an_unreachable_server_is_retried_and_the_password_never_shown() {
    let base = unreachable_base().await;
    let port: u16 = base.rsplit(':').next().unwrap().parse().unwrap();
    let mail = smtp(
        json!({"name": "mail", "kind": "smtp", "host": "127.0.0.1", "port": port,
        "tls": "none", "username": "keel", "password": "smtp-pw-secret", "from": "noreply@keel.test"}),
    );
    match mail.send(&message("hi", None)).await {
        Err(NotifyError::Retry { message, .. }) => assert!(!message.contains("smtp-pw-secret"), "{message}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn starttls_with_auth_and_a_trusted_ca_delivers() {
    let Some(server) = SmtpServer::start_secure("keel", "smtp-pw-secret") else {
        return;
    };
    let ca = server.ca_cert_pem().unwrap();
    let mail = smtp(
        json!({"name": "mail", "kind": "smtp", "host": server.host, "port": server.port,
        "tls": "starttls", "username": "keel", "password": "smtp-pw-secret", "ca_cert": ca,
        "from": "noreply@keel.test"}),
    );
    assert_eq!(mail.send(&message("hi", None)).await, Ok(Sent::default()));
    assert_eq!(server.wait_for_messages(1, WAIT).await.len(), 1);
}

#[tokio::test]
async fn required_starttls_refuses_a_server_without_it() {
    let Some(server) = SmtpServer::start() else { return };
    let mail = smtp(
        json!({"name": "mail", "kind": "smtp", "host": server.host, "port": server.port,
        "from": "noreply@keel.test"}),
    );
    assert!(mail.send(&message("hi", None)).await.is_err());
    assert!(server.messages().is_empty(), "nothing is sent in clear");
}
