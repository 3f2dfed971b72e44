//! The SMTP mailer against a real SMTP server (aiosmtpd, see `keel_testkit::smtp_server`).

use std::time::{Duration, Instant};

use keel_core::Error;
use keel_notify::{default_templates, render, Address, Mail, Mailer, SmtpAuthMethod, SmtpConfig, SmtpMailer, Vars};
use keel_testkit::smtp_server::{MailAddr, SmtpServer};

const WAIT: Duration = Duration::from_secs(10);

fn mailer_for(server: &SmtpServer) -> SmtpMailer {
    SmtpMailer::new(SmtpConfig {
        enabled: true,
        host: server.host.clone(),
        port: server.port,
        local_name: "keel.test".into(),
        ..SmtpConfig::default()
    })
    .unwrap()
}

fn mail(to: &str) -> Mail {
    Mail {
        from: Address::named("Keel App", "noreply@keel.test"),
        to: vec![Address::new(to)],
        subject: "Welcome aboard".into(),
        html: "<p>Hello <b>Ann</b></p>".into(),
        text: Some("Hello Ann".into()),
    }
}

fn field_names(err: Error) -> Vec<String> {
    match err {
        Error::BadRequest { fields, .. } => fields.into_keys().collect(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_mail_arrives_with_its_sender_recipients_subject_and_both_bodies() {
    let Some(server) = SmtpServer::start() else { return };
    let mailer = mailer_for(&server);
    let mut m = mail("ann@x.test");
    m.to.push(Address::named("Bob", "bob@y.test"));
    mailer.send(&m).await.unwrap();

    let got = server.wait_for_messages(1, WAIT).await;
    assert_eq!(got.len(), 1, "one message arrives");
    let msg = &got[0];
    assert_eq!(
        msg.from,
        Some(MailAddr {
            name: Some("Keel App".into()),
            email: "noreply@keel.test".into()
        })
    );
    let to: Vec<&str> = msg.to.iter().map(|a| a.email.as_str()).collect();
    assert_eq!(to, ["ann@x.test", "bob@y.test"]);
    assert_eq!(msg.to[1].name.as_deref(), Some("Bob"));
    assert_eq!(msg.envelope_from.as_deref(), Some("noreply@keel.test"));
    assert_eq!(msg.envelope_to, ["ann@x.test", "bob@y.test"]);
    assert_eq!(msg.subject.as_deref(), Some("Welcome aboard"));
    assert_eq!(msg.text.as_deref().map(str::trim), Some("Hello Ann"));
    assert_eq!(msg.html.as_deref().map(str::trim), Some("<p>Hello <b>Ann</b></p>"));
    let ids = msg.header("Message-ID");
    assert!(ids.len() == 1 && ids[0].ends_with("@keel.test>"), "{ids:?}");
    assert_eq!(server.messages_to("bob@y.test").len(), 1);
    assert!(server.messages_to("carol@z.test").is_empty());
}

#[tokio::test]
async fn without_a_text_body_one_is_derived_from_the_html() {
    let Some(server) = SmtpServer::start() else { return };
    let mut m = mail("ann@x.test");
    m.text = None;
    m.html = "<p>Your code:</p><p><strong>123456</strong></p>".into();
    mailer_for(&server).send(&m).await.unwrap();
    let got = server.wait_for_messages(1, WAIT).await;
    assert_eq!(got[0].text.as_deref().map(str::trim), Some("Your code:\n\n123456"));
    assert!(got[0]
        .html
        .as_deref()
        .unwrap_or_default()
        .contains("<strong>123456</strong>"));
}

#[tokio::test]
async fn non_ascii_subject_and_names_survive_as_encoded_words() {
    let Some(server) = SmtpServer::start() else { return };
    let mut m = mail("zoe@x.test");
    m.subject = "Bienvenue, Zoë — 欢迎 🎉".into();
    m.from = Address::named("Ærøskøbing Café", "noreply@keel.test");
    m.to = vec![Address::named("Zoë Łukasiewicz", "zoe@x.test")];
    m.html = "<p>Grüße</p>".into();
    m.text = Some("Grüße".into());
    mailer_for(&server).send(&m).await.unwrap();

    let got = server.wait_for_messages(1, WAIT).await;
    let msg = &got[0];
    assert_eq!(msg.subject.as_deref(), Some("Bienvenue, Zoë — 欢迎 🎉"));
    assert_eq!(
        msg.from.as_ref().and_then(|a| a.name.as_deref()),
        Some("Ærøskøbing Café")
    );
    assert_eq!(msg.to[0].name.as_deref(), Some("Zoë Łukasiewicz"));
    assert_eq!(msg.text.as_deref().map(str::trim), Some("Grüße"));
    assert_eq!(msg.html.as_deref().map(str::trim), Some("<p>Grüße</p>"));
    let raw_subject = msg.header("Subject");
    assert!(
        raw_subject[0].is_ascii() && raw_subject[0].contains("=?utf-8?"),
        "{raw_subject:?}"
    );
}

#[tokio::test]
async fn header_injection_is_refused_and_nothing_is_delivered() {
    let Some(server) = SmtpServer::start() else { return };
    let mailer = mailer_for(&server);
    let evil = "Hi\r\nBcc: evil@x.test";

    let mut m = mail("ann@x.test");
    m.subject = evil.into();
    assert_eq!(field_names(mailer.send(&m).await.unwrap_err()), ["subject"]);

    let mut m = mail("ann@x.test");
    m.from.name = Some("Keel\nBcc: evil@x.test".into());
    assert_eq!(field_names(mailer.send(&m).await.unwrap_err()), ["from.name"]);

    let mut m = mail("ann@x.test");
    m.to = vec![Address::new("ann@x.test\r\nBcc: evil@x.test")];
    assert_eq!(field_names(mailer.send(&m).await.unwrap_err()), ["to.0.email"]);

    let mut m = mail("ann@x.test");
    m.from.email = "noreply@keel.test>\r\nBcc: evil@x.test".into();
    assert_eq!(field_names(mailer.send(&m).await.unwrap_err()), ["from.email"]);

    // A marker mail sent afterwards is the only thing the server ever received.
    mailer.send(&mail("marker@x.test")).await.unwrap();
    let got = server.wait_for_messages(1, WAIT).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].envelope_to, ["marker@x.test"]);
    assert!(server.messages_to("evil@x.test").is_empty());
    assert!(got[0].header("Bcc").is_empty());
}

#[tokio::test]
async fn an_unreachable_server_fails_fast_without_leaking_the_password() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port(); // bound then dropped: nothing listens there now
    let mailer = SmtpMailer::new(SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        username: "keel".into(),
        password: "hunter2-very-secret".into(),
        timeout_secs: 2,
        ..SmtpConfig::default()
    })
    .unwrap();
    let started = Instant::now();
    let err = mailer.send(&mail("ann@x.test")).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(matches!(err, Error::Internal(_)), "{err:?}");
    let text = format!("{err} {err:?}");
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(!format!("{mailer:?}").contains("hunter2"));
}

#[tokio::test]
async fn a_permanent_refusal_is_a_bad_request_not_worth_a_retry() {
    let Some(server) = SmtpServer::start_with_max_size(2_000) else {
        return;
    };
    let big = Mail {
        html: format!("<p>{}</p>", "x".repeat(20_000)),
        ..mail("ann@x.test")
    };
    let err = mailer_for(&server).send(&big).await.unwrap_err();
    // SMTP 552 (message too big) is permanent: a caller must not retry it.
    assert!(matches!(err, Error::BadRequest { .. }), "{err:?}");
    assert!(
        format!("{err}").contains(&format!("127.0.0.1:{}", server.port)),
        "{err}"
    );
    // A message the server takes still goes through.
    mailer_for(&server).send(&mail("ann@x.test")).await.unwrap();
    assert_eq!(server.wait_for_messages(1, WAIT).await.len(), 1);
}

#[tokio::test]
async fn a_rendered_default_template_arrives_escaped() {
    let Some(server) = SmtpServer::start() else { return };
    let mut vars = Vars {
        app_name: "Acme".into(),
        app_url: "https://acme.test".into(),
        token: "abc.def".into(),
        ..Vars::default()
    };
    vars.record.insert("name".into(), "<script>x</script>".into());
    let mut template = default_templates().verification;
    template.body = format!("<p>Hi {{RECORD:name}}</p>{}", template.body);
    let out = render(&template, &vars);
    let m = Mail {
        subject: out.subject,
        html: out.html,
        text: None,
        ..mail("ann@x.test")
    };
    mailer_for(&server).send(&m).await.unwrap();
    let got = server.wait_for_messages(1, WAIT).await;
    assert_eq!(got[0].subject.as_deref(), Some("Verify your Acme email"));
    let html = got[0].html.clone().unwrap_or_default();
    assert!(
        html.contains("https://acme.test/_/#/auth/confirm-verification/abc.def"),
        "{html}"
    );
    assert!(html.contains("Hi &lt;script&gt;x&lt;/script&gt;") && !html.contains("<script>"));
    let text = got[0].text.clone().unwrap_or_default();
    assert!(
        text.contains("Hi <script>x</script>"),
        "the text part is plain text: {text}"
    );
}

#[tokio::test]
async fn auth_over_starttls_when_the_server_requires_both() {
    let Some(server) = SmtpServer::start_secure("keel-mailer", "the-smtp-password") else {
        return;
    };
    let ca = server.ca_cert_pem().expect("the server's certificate");
    let config = |password: &str, method: SmtpAuthMethod, ca_cert: &str| SmtpConfig {
        enabled: true,
        host: server.host.clone(),
        port: server.port,
        username: "keel-mailer".into(),
        password: password.into(),
        auth_method: method,
        local_name: "keel.test".into(),
        ca_cert: ca_cert.into(),
        ..SmtpConfig::default()
    };
    // The right password, over STARTTLS to a certificate trusted through caCert, with either
    // mechanism: delivered.
    for (i, method) in [SmtpAuthMethod::Plain, SmtpAuthMethod::Login].into_iter().enumerate() {
        let mailer = SmtpMailer::new(config("the-smtp-password", method, &ca)).unwrap();
        mailer.send(&mail("ann@x.test")).await.unwrap();
        assert_eq!(server.wait_for_messages(i + 1, WAIT).await.len(), i + 1, "{method:?}");
    }
    // Without trusting the certificate the upgrade fails, and no mail goes out in clear.
    let mailer = SmtpMailer::new(config("the-smtp-password", SmtpAuthMethod::Plain, "")).unwrap();
    let err = mailer.send(&mail("ann@x.test")).await.unwrap_err();
    assert!(matches!(err, Error::Internal(_)), "{err:?}");
    assert_eq!(server.messages().len(), 2);
    // A caCert that is not PEM is refused up front, naming the field.
    let err = SmtpMailer::new(config("x", SmtpAuthMethod::Plain, "not a certificate")).unwrap_err();
    assert_eq!(field_names(err), ["caCert"]);
}
