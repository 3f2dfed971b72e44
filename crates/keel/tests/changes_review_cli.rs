//! `keel changes propose|approve|apply` against a real `keel serve`: a superuser proposes a
//! collection from a JSON file, a user holding `changes:approve` approves it (the author
//! cannot), and the superuser applies it; each command prints the change's id and state;
//! `keel changes impact` lists what depends on a proposed deletion.

mod common;

use std::process::{Command, Output, Stdio};

use common::{superuser_token, KeelProcess};
use serde_json::{json, Value};

fn keel_changes(url: &str, token: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keel"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("KEEL_") {
            cmd.env_remove(key);
        }
    }
    let out = cmd
        .arg("changes")
        .args(args)
        .env("KEEL_URL", url)
        .env("KEEL_TOKEN", token)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    println!("keel changes {args:?} → {}", out.status);
    println!("stdout:\n{}", String::from_utf8_lossy(&out.stdout));
    println!("stderr:\n{}", String::from_utf8_lossy(&out.stderr));
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

async fn post(http: &reqwest::Client, url: &str, token: Option<&str>, path: &str, body: Value) -> Value {
    let mut req = http.post(format!("{url}{path}")).json(&body);
    if let Some(t) = token {
        req = req.header("Authorization", t);
    }
    let res = req.send().await.unwrap();
    assert!(res.status().is_success(), "{path}: {}", res.status());
    res.json().await.unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_is_proposed_approved_by_another_and_applied_from_the_cli() {
    let keel = KeelProcess::start();
    let http = reqwest::Client::new();
    let su = superuser_token(&http, keel.url()).await;
    let url = keel.url().to_string();

    // a reviewer: a users record with a role holding changes:approve
    let user = post(
        &http,
        &url,
        Some(&su),
        "/api/collections/users/records",
        json!({"email": "rev@example.com", "password": "password-123456", "passwordConfirm": "password-123456"}),
    )
    .await;
    post(
        &http,
        &url,
        Some(&su),
        "/api/roles",
        json!({"name": "reviewer", "permissions": ["changes:approve"]}),
    )
    .await;
    let res = http
        .put(format!(
            "{url}/api/roles/reviewer/members/users/{}",
            user["id"].as_str().unwrap()
        ))
        .header("Authorization", &su)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    let auth = post(
        &http,
        &url,
        None,
        "/api/collections/users/auth-with-password",
        json!({"identity": "rev@example.com", "password": "password-123456"}),
    )
    .await;
    let reviewer = auth["token"].as_str().unwrap().to_string();

    let files = tempfile::tempdir().unwrap();
    let file = files.path().join("notes.json");
    std::fs::write(
        &file,
        r#"{"name": "notes", "type": "base", "fields": [{"name": "body", "type": "text"}]}"#,
    )
    .unwrap();

    let out = keel_changes(&url, &su, &["propose", file.to_str().unwrap(), "--submit"]);
    assert!(out.status.success());
    let line = text(&out.stdout);
    assert!(line.contains("in_review create of notes"), "{line}");
    let id = line.split_whitespace().next().unwrap().to_string();

    // the author cannot approve their own change; the reviewer can
    let out = keel_changes(&url, &su, &["approve", &id]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("403"), "{}", text(&out.stderr));
    let out = keel_changes(&url, &reviewer, &["approve", &id]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("approved"), "{}", text(&out.stdout));

    let out = keel_changes(&url, &su, &["apply", &id]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("applied"), "{}", text(&out.stdout));
    let res = http
        .get(format!("{url}/api/collections/notes"))
        .header("Authorization", &su)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());

    // what depends on notes: a relation and a rule of comments, shown by propose and impact
    let notes: Value = res.json().await.unwrap();
    post(
        &http,
        &url,
        Some(&su),
        "/api/collections",
        json!({"name": "comments", "type": "base", "listRule": "post.body != ''",
               "fields": [{"name": "post", "type": "relation", "collectionId": notes["id"], "maxSelect": 1}]}),
    )
    .await;
    let out = keel_changes(&url, &su, &["propose", "--delete", "notes"]);
    assert!(out.status.success());
    let printed = text(&out.stdout);
    assert!(printed.contains("comments.listRule"), "{printed}");
    let proposal = printed.split_whitespace().next().unwrap().to_string();
    let out = keel_changes(&url, &su, &["impact", &proposal, "--days", "7"]);
    assert!(out.status.success());
    let printed = text(&out.stdout);
    assert!(
        printed.contains("relation") && printed.contains("comments.post"),
        "{printed}"
    );
    let out = keel_changes(&url, &su, &["impact", &proposal, "--json"]);
    assert!(out.status.success());
    let impact: Value = serde_json::from_slice(&out.stdout).unwrap();
    // 30 days asked (the default), cut to the 7 the request logs keep (logs.maxDays).
    assert_eq!(impact["days"], 7, "{impact}");

    // no token: a clear error, no request made
    let out = keel_changes(&url, "", &["apply", &id]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--token"), "{}", text(&out.stderr));
}
