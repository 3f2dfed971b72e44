//! `keel jobs`, `keel queues` and `keel schedules`, run as a user would: the built binary on a
//! fresh data dir (the embedded jobs store, `jobs.db`), checking output and exit codes.

mod common;

use std::path::Path;
use std::process::{Output, Stdio};

use serde_json::Value;
use tempfile::TempDir;

fn data_dir() -> TempDir {
    tempfile::Builder::new().prefix("keel-cli-test-").tempdir().unwrap()
}

/// Runs `keel --data-dir DIR ARGS…`.
fn keel(dir: &Path, args: &[&str]) -> Output {
    common::keel_command(dir)
        // The jobs store is chosen by config: make sure a caller's variables do not move it.
        .env_remove("KEEL_JOBS__STORE")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs a command that must succeed; returns its stdout.
fn ok(dir: &Path, args: &[&str]) -> String {
    let out = keel(dir, args);
    assert!(
        out.status.success(),
        "keel {args:?} failed ({}):\n{}\n{}",
        out.status,
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// Runs a command that must succeed and print JSON.
fn ok_json(dir: &Path, args: &[&str]) -> Value {
    let text = ok(dir, args);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("keel {args:?} printed no JSON ({e}):\n{text}"))
}

/// Runs a command that must fail with `code`; returns its stderr.
fn fails(dir: &Path, args: &[&str], code: i32) -> String {
    let out = keel(dir, args);
    assert_eq!(
        out.status.code(),
        Some(code),
        "keel {args:?} should exit {code}:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    stderr(&out)
}

#[test]
fn jobs_enqueue_list_show_cancel_retry() {
    let dir = data_dir();
    let d = dir.path();

    let job = ok_json(
        d,
        &[
            "jobs",
            "enqueue",
            "emails",
            "--name",
            "welcome",
            "--payload",
            r#"{"to":"a@b.c"}"#,
            "--priority",
            "7",
            "--max-attempts",
            "5",
        ],
    );
    let id = job["id"].as_str().unwrap().to_string();
    assert_eq!(job["queue"], "emails");
    assert_eq!(job["name"], "welcome");
    assert_eq!(job["payload"]["to"], "a@b.c");
    assert_eq!(job["state"], "waiting");
    assert_eq!(
        (job["priority"].as_i64(), job["maxAttempts"].as_i64()),
        (Some(7), Some(5))
    );

    let table = ok(d, &["jobs", "list", "emails"]);
    let header = table.lines().next().unwrap();
    for col in ["ID", "NAME", "STATE", "ATTEMPTS", "PRIORITY"] {
        assert!(header.contains(col), "{table}");
    }
    let row = table
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        row.contains("welcome") && row.contains("waiting") && row.contains("0/5"),
        "{row}"
    );
    let page = ok_json(d, &["jobs", "list", "emails", "--state", "waiting", "--json"]);
    assert_eq!(page["totalItems"], 1);
    assert_eq!(page["items"][0]["id"], id.as_str());
    let none = ok(d, &["jobs", "list", "emails", "--state", "dead"]);
    assert!(none.contains("No dead jobs"), "{none}");

    let shown = ok_json(d, &["jobs", "show", &id]);
    assert_eq!(shown["id"], id.as_str());
    assert_eq!(shown["payload"]["to"], "a@b.c");

    let said = ok(d, &["jobs", "cancel", &id]);
    assert!(said.contains(&id), "{said}");
    assert_eq!(ok_json(d, &["jobs", "show", &id])["state"], "cancelled");
    let cancelled = ok(d, &["jobs", "list", "emails", "--state", "cancelled"]);
    assert!(cancelled.contains(&id), "{cancelled}");
    let again = fails(d, &["jobs", "cancel", &id], 1);
    assert!(again.contains("cancelled already"), "{again}");

    ok(d, &["jobs", "retry", &id]);
    let retried = ok_json(d, &["jobs", "show", &id]);
    assert_eq!(retried["state"], "waiting");
    assert_eq!(retried["attempts"], 0);

    let missing = fails(d, &["jobs", "show", "nosuchjob"], 1);
    assert!(missing.contains("no job nosuchjob"), "{missing}");
    let missing = fails(d, &["jobs", "retry", "nosuchjob"], 1);
    assert!(missing.contains("no job nosuchjob"), "{missing}");
}

#[test]
fn unique_key_returns_the_pending_job() {
    let dir = data_dir();
    let d = dir.path();
    let args = ["jobs", "enqueue", "reports", "--unique-key", "report-42"];
    let first = ok_json(d, &args);
    let out = keel(d, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let second: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(first["id"], second["id"]);
    assert!(
        stderr(&out).contains("report-42") && stderr(&out).contains("nothing was enqueued"),
        "the second enqueue says it returned the existing job: {}",
        stderr(&out)
    );
    let page = ok_json(d, &["jobs", "list", "reports", "--json"]);
    assert_eq!(page["totalItems"], 1);
}

#[test]
fn bad_input_exits_2_naming_the_field() {
    let dir = data_dir();
    let d = dir.path();
    let err = fails(d, &["jobs", "list", "emails", "--state", "sleeping"], 2);
    assert!(err.contains("state:") && err.contains("sleeping"), "{err}");
    let err = fails(d, &["jobs", "enqueue", "emails", "--delay-ms", "-5"], 2);
    assert!(err.contains("delayMs:"), "{err}");
    let err = fails(d, &["jobs", "enqueue", "emails", "--priority", "12"], 2);
    assert!(err.contains("priority:"), "{err}");
    let err = fails(d, &["jobs", "enqueue", "emails", "--payload", "{nope"], 2);
    assert!(err.contains("payload:"), "{err}");
    let err = fails(d, &["jobs", "enqueue", "bad.queue"], 2);
    assert!(err.contains("queue:"), "{err}");
    // Nothing was enqueued by the refused commands.
    let queues = ok(d, &["queues"]);
    assert!(!queues.contains("emails"), "{queues}");
}

#[test]
fn queues_table_and_pause_resume() {
    let dir = data_dir();
    let d = dir.path();
    assert!(ok(d, &["queues"]).contains("No queues yet"));
    ok(d, &["jobs", "enqueue", "thumbs"]);
    ok(d, &["jobs", "enqueue", "thumbs", "--delay-ms", "60000"]);
    let table = ok(d, &["queues"]);
    let header = table.lines().next().unwrap();
    for col in [
        "QUEUE",
        "WAITING",
        "DELAYED",
        "ACTIVE",
        "COMPLETED",
        "FAILED",
        "DEAD",
        "CANCELLED",
        "PAUSED",
        "CONCURRENCY",
    ] {
        assert!(header.contains(col), "{table}");
    }
    let row: Vec<&str> = table
        .lines()
        .find(|l| l.starts_with("thumbs"))
        .unwrap_or_else(|| panic!("{table}"))
        .split_whitespace()
        .collect();
    assert_eq!(&row[..4], ["thumbs", "1", "1", "0"], "waiting 1, delayed 1, active 0");

    // An unknown queue is an error naming it; --create pauses one before its first job.
    let err = fails(d, &["queues", "pause", "nosuch"], 1);
    assert!(err.contains("no queue named \"nosuch\""), "{err}");
    let err = fails(d, &["queues", "resume", "nosuch"], 1);
    assert!(err.contains("nosuch"), "{err}");
    ok(d, &["queues", "pause", "later", "--create"]);
    ok(d, &["queues", "pause", "thumbs"]);
    let listed = ok_json(d, &["queues", "--json"]);
    assert_eq!(listed["items"][0]["name"], "later");
    assert_eq!(listed["items"][0]["settings"]["paused"], true);
    assert_eq!(listed["items"][1]["name"], "thumbs");
    assert_eq!(listed["items"][1]["settings"]["paused"], true);
    assert_eq!(listed["items"][1]["counts"]["waiting"], 1);
    ok(d, &["queues", "resume", "thumbs"]);
    assert_eq!(
        ok_json(d, &["queues", "--json"])["items"][1]["settings"]["paused"],
        false
    );
}

#[test]
fn schedules_create_show_trigger_runs_delete() {
    let dir = data_dir();
    let d = dir.path();
    let err = fails(
        d,
        &[
            "schedules",
            "create",
            "broken",
            "--queue",
            "reports",
            "--cron",
            "not a cron",
        ],
        2,
    );
    assert!(err.contains("schedule.cron:"), "{err}");
    let err = fails(
        d,
        &[
            "schedules",
            "create",
            "late",
            "--queue",
            "reports",
            "--at",
            "2001-01-01T00:00:00Z",
        ],
        2,
    );
    assert!(err.contains("schedule.at:"), "{err}");
    // Exactly one of --cron, --every, --at (a usage error, exit 2 from clap).
    fails(d, &["schedules", "create", "none", "--queue", "reports"], 2);

    let said = ok(
        d,
        &[
            "schedules",
            "create",
            "nightly",
            "--queue",
            "reports",
            "--cron",
            "0 3 * * *",
            "--timezone",
            "Europe/Paris",
            "--job",
            r#"{"name":"report","payload":{"kind":"daily"}}"#,
        ],
    );
    assert!(said.contains("nightly"), "{said}");
    ok(
        d,
        &["schedules", "create", "tick", "--queue", "pings", "--every", "15m"],
    );
    let dup = fails(
        d,
        &["schedules", "create", "tick", "--queue", "pings", "--every", "1h"],
        2,
    );
    assert!(dup.contains("name:"), "{dup}");

    let list = ok(d, &["schedules", "list"]);
    assert!(list.contains("nightly") && list.contains("Europe/Paris"), "{list}");
    assert!(list.contains("tick") && list.contains("every 15m"), "{list}");

    let shown = ok(d, &["schedules", "show", "nightly"]);
    let times: Vec<&str> = shown
        .lines()
        .skip_while(|l| !l.starts_with("Next 5 fire times"))
        .skip(1)
        .collect();
    assert_eq!(times.len(), 5, "{shown}");
    assert!(
        times.iter().all(|t| t.contains(":00:00")),
        "03:00 Paris is on the hour in UTC: {shown}"
    );
    let doc = ok_json(d, &["schedules", "show", "nightly", "--json"]);
    assert_eq!(doc["upcoming"].as_array().map(Vec::len), Some(5));
    assert_eq!(doc["schedule"]["timezone"], "Europe/Paris");

    let said = ok(d, &["schedules", "trigger", "nightly"]);
    let job_id = said
        .split_whitespace()
        .skip_while(|w| *w != "job")
        .nth(1)
        .unwrap_or_else(|| panic!("{said}"))
        .to_string();
    let job = ok_json(d, &["jobs", "show", &job_id]);
    assert_eq!(
        (job["queue"].as_str(), job["name"].as_str()),
        (Some("reports"), Some("report"))
    );
    assert_eq!(job["payload"]["kind"], "daily");

    let runs = ok(d, &["schedules", "runs", "nightly"]);
    let row = runs
        .lines()
        .find(|l| l.contains(&job_id))
        .unwrap_or_else(|| panic!("{runs}"));
    assert!(row.contains("triggered") && row.contains("waiting"), "{row}");
    let runs = ok_json(d, &["schedules", "runs", "nightly", "--limit", "5", "--json"]);
    assert_eq!(runs["items"][0]["jobId"], job_id.as_str());

    ok(d, &["schedules", "pause", "nightly"]);
    assert_eq!(ok_json(d, &["schedules", "show", "nightly", "--json"])["paused"], true);
    ok(d, &["schedules", "resume", "nightly"]);
    assert_eq!(ok_json(d, &["schedules", "show", "nightly", "--json"])["paused"], false);

    ok(d, &["schedules", "delete", "nightly"]);
    let list = ok(d, &["schedules", "list"]);
    assert!(!list.contains("nightly") && list.contains("tick"), "{list}");
    let err = fails(d, &["schedules", "show", "nightly"], 1);
    assert!(err.contains("no schedule nightly"), "{err}");
    let err = fails(d, &["schedules", "trigger", "nightly"], 1);
    assert!(err.contains("no schedule nightly"), "{err}");
    // The triggered job outlives its schedule.
    assert_eq!(ok_json(d, &["jobs", "show", &job_id])["id"], job_id.as_str());
}

#[test]
fn every_command_has_help() {
    let dir = data_dir();
    let d = dir.path();
    let commands: &[&[&str]] = &[
        &["jobs"],
        &["jobs", "enqueue"],
        &["jobs", "list"],
        &["jobs", "show"],
        &["jobs", "retry"],
        &["jobs", "cancel"],
        &["queues"],
        &["queues", "pause"],
        &["queues", "resume"],
        &["schedules"],
        &["schedules", "list"],
        &["schedules", "show"],
        &["schedules", "create"],
        &["schedules", "delete"],
        &["schedules", "pause"],
        &["schedules", "resume"],
        &["schedules", "trigger"],
        &["schedules", "runs"],
        &["bench", "jobs"],
    ];
    for cmd in commands {
        let mut args = cmd.to_vec();
        args.push("--help");
        let help = ok(d, &args);
        assert!(help.contains("Usage: keel"), "{cmd:?}: {help}");
    }
    let help = ok(d, &["jobs", "enqueue", "--help"]);
    assert!(help.contains("--unique-key") && help.contains("--delay-ms"), "{help}");
}

/// Parses `keel bench jobs` output: the three figures, each a positive rate.
fn bench_figures(out: &str) -> Vec<(String, u64)> {
    let figures: Vec<(String, u64)> = out
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.parse().unwrap_or(0)))
        .collect();
    let names: Vec<&str> = figures.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        ["enqueue_single_per_s", "enqueue_bulk_per_s", "processed_per_s"],
        "{out}"
    );
    assert!(figures.iter().all(|(_, v)| *v > 0), "{out}");
    figures
}

#[test]
fn bench_jobs_runs_on_the_embedded_engine_both_ways() {
    let dir = data_dir();
    let d = dir.path();
    for via in ["store", "queue"] {
        let out = ok(
            d,
            &[
                "bench",
                "jobs",
                "--engine",
                "embedded",
                "--via",
                via,
                "--jobs",
                "300",
                "--concurrency",
                "8",
            ],
        );
        bench_figures(&out);
    }
    // The temporary engine is gone afterwards and the data dir untouched.
    assert!(!d.join("jobs.db").exists() && !d.join("queues.db").exists());
    let err = fails(d, &["bench", "jobs", "--engine", "redis", "--via", "store"], 1);
    assert!(err.contains("--via queue"), "{err}");
}

#[test]
fn bench_jobs_runs_on_every_server_engine() {
    let engines = [
        ("postgres", "KEEL_TEST_POSTGRES_URL"),
        ("redis", "KEEL_TEST_REDIS_URL"),
        ("nats", "KEEL_TEST_NATS_URL"),
    ];
    let dir = data_dir();
    for (engine, var) in engines {
        let Some(url) = keel_testkit::engine_url(var) else {
            continue;
        };
        let out = ok(
            dir.path(),
            &[
                "bench",
                "jobs",
                "--engine",
                engine,
                "--url",
                &url,
                "--jobs",
                "300",
                "--concurrency",
                "8",
            ],
        );
        bench_figures(&out);
    }
}
