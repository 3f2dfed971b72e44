//! What `keel` says at start: its help, the forms `--http` takes, a data dir another
//! `keel serve` holds, a data dir it cannot write.

mod common;

use std::process::Stdio;

use common::{keel_command, upsert_superuser, KeelProcess, SUPERUSER_EMAIL};

fn run(cmd: &mut std::process::Command) -> (std::process::ExitStatus, String, String) {
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_says_what_keel_is_and_what_each_argument_means() {
    let dir = tempfile::tempdir().unwrap();
    let (status, out, _) = run(keel_command(dir.path()).arg("--help"));
    assert!(status.success());
    assert!(out.starts_with("Keel: records, auth, files, realtime"), "{out}");
    assert!(!out.contains("wiring"), "{out}");
    let (_, out, _) = run(keel_command(dir.path()).args(["superuser", "upsert", "--help"]));
    assert!(out.contains("email address"), "{out}");
    assert!(out.contains("at least 8 characters"), "{out}");
}

#[test]
fn a_bare_port_is_refused_with_the_expected_form_before_the_data_dir_is_created() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("not-yet");
    let (status, _, err) = run(keel_command(&data).args(["serve", "--http", "8090"]));
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(
        err.contains("--http: expected HOST:PORT such as 127.0.0.1:8090 or :8090"),
        "{err}"
    );
    assert!(!data.exists(), "the data dir was created for a refused address");
}

#[tokio::test]
async fn a_port_alone_serves_on_loopback() {
    let dir = tempfile::Builder::new().prefix("keel-test-").tempdir().unwrap();
    let keel = KeelProcess::serve_on(dir, ":0", &[]);
    assert!(keel.url().starts_with("http://127.0.0.1:"), "{}", keel.url());
    let r = reqwest::get(format!("{}/api/health", keel.url())).await.unwrap();
    assert_eq!(r.status(), 200);
}

#[test]
fn a_second_serve_on_the_same_data_dir_is_refused_naming_the_first() {
    let first = KeelProcess::start();
    let data = first.data_dir().to_path_buf();
    let (status, _, err) = run(keel_command(&data).args(["serve", "--http", "127.0.0.1:0"]));
    assert!(!status.success(), "a second keel serve started: {err}");
    let addr = first.url().trim_start_matches("http://");
    let expected = format!(
        "the data dir {} is in use by keel process {} (serving {addr}); stop it or choose another --data-dir",
        data.display(),
        first.pid()
    );
    assert!(err.contains(&expected), "{err}");
    assert!(
        err.contains("to run several processes, put records and jobs on a shared engine"),
        "{err}"
    );

    // other commands still work beside the server
    upsert_superuser(&data, SUPERUSER_EMAIL, "another-password-2");
}

#[test]
fn an_unwritable_data_dir_is_named_with_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    // A path under a regular file cannot be created, even by root.
    let data = file.join("data");
    for args in [&["serve", "--http", "127.0.0.1:0"][..], &["migrate"][..]] {
        let (status, _, err) = run(keel_command(&data).args(args));
        assert!(!status.success(), "{args:?}: {err}");
        let expected = format!("cannot write to data dir {}: ", data.display());
        assert!(err.contains(&expected), "{args:?}: {err}");
        assert!(err.contains("choose another --data-dir"), "{args:?}: {err}");
        assert!(!err.contains("code: 14"), "{args:?}: {err}");
    }
}

#[tokio::test]
async fn the_banner_links_pages_that_exist() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut child = keel_command(dir.path())
        .args(["serve", "--http", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    // Read up to the data dir line, then keep draining so the server never writes to a
    // closed pipe.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = Vec::new();
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let done = line.contains("Data dir:");
            lines.push(line);
            if done {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(std::mem::take(&mut lines));
                }
            }
        }
    });
    let banner: Vec<String> = tokio::task::spawn_blocking(move || rx.recv_timeout(std::time::Duration::from_secs(30)))
        .await
        .unwrap()
        .expect("no banner within 30 s");
    let links: Vec<&str> = banner
        .iter()
        .flat_map(|l| l.split_whitespace())
        .filter(|w| w.starts_with("http://"))
        .collect();
    assert!(links.len() >= 2, "{banner:?}");
    // The REST API link leads to the API's docs page (a redirect), and the page is linked.
    assert!(links.iter().any(|l| l.ends_with("/api/")), "{banner:?}");
    assert!(links.iter().any(|l| l.ends_with("/api/docs/")), "{banner:?}");
    // every link but the bare base URL answers 200 (redirects followed)
    for link in links.iter().filter(|l| l.matches('/').count() > 2) {
        let status = reqwest::get(*link).await.map(|r| r.status().as_u16());
        assert_eq!(status.ok(), Some(200), "{link} in {banner:?}");
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(target_os = "linux")]
#[test]
fn serve_raises_the_open_files_soft_limit_to_the_hard_limit() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    // Start with a low soft limit (below the hard one), as many systems do (1024).
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -Sn 256 && exec \"$0\" --data-dir \"$1\" serve --http 127.0.0.1:0")
        .arg(env!("CARGO_BIN_EXE_keel"))
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.starts_with("Keel listening on ") {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(());
                }
            }
        }
    });
    let listening = rx.recv_timeout(std::time::Duration::from_secs(30));
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    assert!(listening.is_ok(), "keel serve did not start");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap_or_default()
        .to_string();
    let numbers: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers.len(), 2, "{limits}");
    assert_ne!(numbers[0], "256", "the soft limit was not raised: {line}");
    assert_eq!(numbers[0], numbers[1], "{line}");
}

#[test]
fn an_unreachable_records_database_names_the_key_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    for url in ["postgres://keel:secret-pw@127.0.0.1:1/app", "not a url"] {
        let (status, _, err) = run(keel_command(dir.path())
            .env("KEEL_DATA__ENGINE", "postgres")
            .env("KEEL_ENGINES__POSTGRES_URL", url)
            .arg("migrate"));
        assert!(!status.success(), "{err}");
        assert!(err.contains("engines.postgres_url"), "{err}");
        assert!(!err.contains("secret-pw"), "the password was printed: {err}");
    }
}

#[test]
fn a_database_from_a_newer_keel_is_refused_naming_its_migration() {
    let Some(url) = keel_testkit::engine_url("KEEL_TEST_POSTGRES_URL") else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (db_url, name) = rt.block_on(keel_testkit::postgres::fresh_database(&url));
    let _db = keel_testkit::postgres::DatabaseGuard { url, name };
    let dir = tempfile::tempdir().unwrap();
    let migrate = || {
        run(keel_command(dir.path())
            .env("KEEL_DATA__ENGINE", "postgres")
            .env("KEEL_ENGINES__POSTGRES_URL", &db_url)
            .arg("migrate"))
    };
    let (status, _, err) = migrate();
    assert!(status.success(), "an empty database gets Keel's tables: {err}");
    rt.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&db_url).await.unwrap();
        sqlx::query("INSERT INTO _migrations (name, applied) VALUES ('9999_from_the_future', '')")
            .execute(&mut c)
            .await
            .unwrap();
    });
    let (status, _, err) = migrate();
    assert!(!status.success());
    assert!(err.contains("9999_from_the_future") && err.contains("newer"), "{err}");
}
