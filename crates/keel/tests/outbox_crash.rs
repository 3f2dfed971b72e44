//! Nothing lost in flight: an auth email whose send is pending (the mail server is not up
//! yet) when Keel is killed with `kill -9` is delivered after the restart, once the server
//! is up, exactly once. The email lives in the outbox and then as a `_keel-mail` job, never
//! only in the killed process's memory.

mod common;

use std::time::{Duration, Instant};

use common::{superuser_token, KeelProcess};
use keel_testkit::smtp_server::SmtpServer;
use serde_json::{json, Value};

const DEADLINE: Duration = Duration::from_secs(60);

/// The jobs of Keel's mail queue, as the jobs API lists them.
async fn mail_jobs(http: &reqwest::Client, url: &str, token: &str) -> Vec<Value> {
    let res = http
        .get(format!("{url}/api/queues/_keel-mail/jobs"))
        .header("Authorization", token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_auth_email_is_delivered_after_kill_9_and_restart() {
    if !SmtpServer::available() {
        return;
    }
    // The mail server's port, reserved and closed: nothing answers there yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let keel = KeelProcess::start();
    let url = keel.url().to_string();
    let su = superuser_token(&http, &url).await;
    let settings = json!({
        "meta": {"appName": "Acme", "senderName": "Acme", "senderAddress": "support@acme.test"},
        "smtp": {"enabled": true, "host": "127.0.0.1", "port": port, "tls": false}
    });
    let res = http
        .patch(format!("{url}/api/settings"))
        .header("Authorization", &su)
        .json(&settings)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let user =
        json!({"email": "crash@x.test", "password": "secret-password-1", "passwordConfirm": "secret-password-1"});
    let res = http
        .post(format!("{url}/api/collections/users/records"))
        .header("Authorization", &su)
        .json(&user)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());

    let res = http
        .post(format!("{url}/api/collections/users/request-password-reset"))
        .json(&json!({"email": "crash@x.test"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204, "{}", res.text().await.unwrap());

    // Keel tried and failed (the server is not up): the email is pending, a failed attempt
    // visible in the jobs API.
    let started = Instant::now();
    loop {
        let jobs = mail_jobs(&http, &url, &su).await;
        if jobs
            .first()
            .is_some_and(|j| j["errors"].as_array().is_some_and(|e| !e.is_empty()))
        {
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "no failed send attempt recorded: {jobs:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // kill -9, then the mail server comes up, then Keel again on the same data dir.
    let data_dir = keel.kill();
    let smtp = SmtpServer::start_on(port).unwrap();
    let keel = KeelProcess::serve(data_dir);
    let got = smtp.wait_for_messages(1, DEADLINE).await;
    assert_eq!(
        got.len(),
        1,
        "the pending email was delivered after the restart: {got:?}"
    );
    assert!(got[0].to.iter().any(|a| a.email == "crash@x.test"), "{:?}", got[0].to);
    assert!(
        got[0].subject.as_deref().unwrap_or("").contains("password"),
        "{:?}",
        got[0].subject
    );

    // Exactly once: the job completed, and nothing else is pending or sent.
    let url = keel.url().to_string();
    let su = superuser_token(&http, &url).await;
    let started = Instant::now();
    loop {
        let jobs = mail_jobs(&http, &url, &su).await;
        if jobs.len() == 1 && jobs[0]["state"] == "completed" {
            assert_eq!(jobs[0]["result"]["sent"], true, "{jobs:?}");
            break;
        }
        assert!(started.elapsed() < DEADLINE, "the mail job did not complete: {jobs:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(smtp.messages_to("crash@x.test").len(), 1);
}
