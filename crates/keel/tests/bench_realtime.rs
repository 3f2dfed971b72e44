//! `keel bench realtime`: two `keel serve` processes on a fresh PostgreSQL database, SSE
//! clients on B hearing every create made on A across each bus whose engine is configured;
//! the bench leaves no database behind.

mod common;

use sqlx::Connection;

/// The figures `keel bench realtime` printed, by name.
fn figures(out: &str) -> std::collections::HashMap<String, f64> {
    out.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.parse().unwrap_or(f64::NAN)))
        .collect()
}

async fn bench_databases(pg: &str) -> i64 {
    let mut conn = sqlx::PgConnection::connect(pg).await.unwrap();
    sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname LIKE 'bench_rt_%'")
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn every_create_on_a_reaches_every_subscriber_on_b_on_each_bus() {
    let Some(pg) = keel_testkit::engine_url("KEEL_TEST_POSTGRES_URL") else {
        return;
    };
    let before = bench_databases(&pg).await;
    let mut buses = vec![("postgres", None)];
    for (bus, var, flag) in [
        ("redis", "KEEL_TEST_REDIS_URL", "--redis-url"),
        ("nats", "KEEL_TEST_NATS_URL", "--nats-url"),
    ] {
        if let Some(url) = keel_testkit::engine_url(var) {
            buses.push((bus, Some((flag, url))));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    for (bus, engine) in buses {
        let mut cmd = common::keel_command(dir.path());
        cmd.args(["bench", "realtime", "--bus", bus, "--postgres-url", &pg]);
        cmd.args(["--subscribers", "3", "--creates", "10", "--rate", "50"]);
        if let Some((flag, url)) = &engine {
            cmd.args([*flag, url.as_str()]);
        }
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(out.status.success(), "{bus}: {stdout}\n{stderr}");
        let f = figures(&stdout);
        assert_eq!(f.get("missing"), Some(&0.0), "{bus}: {stdout}");
        assert_eq!(f.get("creates_failed"), Some(&0.0), "{bus}: {stdout}");
        for name in ["from_answer", "from_send"] {
            for p in ["p50", "p99", "max"] {
                assert!(f.contains_key(&format!("{name}_{p}_ms")), "{bus}: {stdout}");
            }
        }
        assert!(f["from_send_max_ms"] > 0.0, "{bus}: {stdout}");
    }
    assert_eq!(bench_databases(&pg).await, before, "a bench database was left behind");
}
