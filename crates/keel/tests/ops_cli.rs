//! `keel ops` against a real `keel serve` (with `[ops] shell_exec = true`):
//! a runbook imported from YAML, then `keel ops run … --follow` as a child process prints
//! every step's lines prefixed `[step]` (`[step@target]` on a target) and exits with the outcome.

mod common;

use std::process::{Command, Output, Stdio};

use common::{superuser_token, KeelProcess};

fn keel_ops(url: &str, token: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keel"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("KEEL_") {
            cmd.env_remove(key);
        }
    }
    let out = cmd
        .arg("ops")
        .args(args)
        .env("KEEL_URL", url)
        .env("KEEL_TOKEN", token)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    println!("keel ops {args:?} → {}", out.status);
    println!("stdout:\n{}", String::from_utf8_lossy(&out.stdout));
    println!("stderr:\n{}", String::from_utf8_lossy(&out.stderr));
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const DEPLOY: &str = r#"name: deploy
parameters:
  type: object
  required: [svc]
  properties:
    svc: {type: string, pattern: "^[a-z]+$"}
steps:
  - id: prepare
    type: shell.exec
    command: "echo preparing {{ svc }}; echo second line"
  - id: finish
    type: shell.exec
    needs: [prepare]
    command: "printf 'done with %s\n' {{ svc }}; echo warned >&2"
"#;

const BROKEN: &str = r#"{"name": "broken", "steps": [
  {"id": "try", "type": "shell.exec", "command": "echo trying; exit 3"},
  {"id": "never", "type": "shell.exec", "needs": ["try"], "command": "echo never"}
]}"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_followed_run_prints_its_log_and_exits_with_its_outcome() {
    // `[ops] shell_exec = true`, as the environment variable that sets it.
    let keel = KeelProcess::start_with_env(&[("KEEL_OPS__SHELL_EXEC", "true")]);
    let http = reqwest::Client::new();
    let token = superuser_token(&http, keel.url()).await;
    let url = keel.url().to_string();
    let files = tempfile::tempdir().unwrap();
    let deploy = files.path().join("deploy.yaml");
    std::fs::write(&deploy, DEPLOY).unwrap();
    let broken = files.path().join("broken.json");
    std::fs::write(&broken, BROKEN).unwrap();

    // Import (YAML and JSON) and list.
    let out = keel_ops(&url, &token, &["import", deploy.to_str().unwrap()]);
    assert!(out.status.success());
    assert!(
        text(&out.stdout).contains("runbook deploy version 1"),
        "{}",
        text(&out.stdout)
    );
    assert!(keel_ops(&url, &token, &["import", broken.to_str().unwrap()])
        .status
        .success());
    let out = keel_ops(&url, &token, &["runbooks"]);
    let list = text(&out.stdout);
    assert!(list.contains("deploy") && list.contains("broken"), "{list}");

    // A succeeding run, followed: every line of both steps, in step order, exit 0.
    let out = keel_ops(&url, &token, &["run", "deploy", "--param", "svc=nginx", "--follow"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "[prepare] preparing nginx",
            "[prepare] second line",
            "[finish] done with nginx"
        ],
        "{stdout}"
    );
    let stderr = text(&out.stderr);
    assert!(stderr.contains("[finish] warned"), "{stderr}");
    assert!(stderr.contains("succeeded"), "{stderr}");

    // A failing run: its output, the failure, exit 1; the step after it never ran.
    let out = keel_ops(&url, &token, &["run", "broken", "--follow"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("[try] trying"), "{stdout}");
    assert!(!stdout.contains("never"), "{stdout}");
    assert!(text(&out.stderr).contains("failed"), "{}", text(&out.stderr));

    // The runs, filtered; the log read again afterwards.
    let out = keel_ops(
        &url,
        &token,
        &["runs", "--runbook", "deploy", "--state", "succeeded", "--json"],
    );
    let page: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let runs = page["items"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let run = runs[0]["id"].as_str().unwrap();
    let out = keel_ops(&url, &token, &["logs", run]);
    assert!(text(&out.stdout).contains("[finish] done with nginx"));

    // A bad parameter: the server's message naming it, exit 3, and never the token.
    let out = keel_ops(&url, &token, &["run", "deploy", "--param", "svc=NOT OK", "--follow"]);
    assert_eq!(out.status.code(), Some(3));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("400") && stderr.contains("params.svc"), "{stderr}");
    assert!(!stderr.contains(&token) && !text(&out.stdout).contains(&token));

    // Export gives the runbook back as YAML.
    let out = keel_ops(&url, &token, &["export", "deploy", "--format", "yaml"]);
    assert!(
        text(&out.stdout).contains("preparing {{ svc }}"),
        "{}",
        text(&out.stdout)
    );

    // Without a token: a clear error, exit 3.
    let out = keel_ops(&url, "", &["runbooks"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("--token"));
}
