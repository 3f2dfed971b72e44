//! `keel bench search`: a tiny run on each engine (embedded, FTS5, and PostgreSQL when its
//! URL is set) indexes every document, answers every query (finding every phrase taken from a
//! document), and leaves no directory or database behind.

mod common;

use std::collections::HashMap;

use sqlx::Connection;

/// The figures `keel bench search` printed, by name.
fn figures(out: &str) -> HashMap<String, f64> {
    out.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.parse().unwrap_or(f64::NAN)))
        .collect()
}

fn bench_dirs() -> usize {
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("keel-bench-search-"))
        .count()
}

async fn bench_databases(pg: &str) -> i64 {
    let mut conn = sqlx::PgConnection::connect(pg).await.unwrap();
    sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname LIKE 'bench_search_%'")
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn each_engine_indexes_every_document_and_answers_every_query() {
    let pg = keel_testkit::engine_url("KEEL_TEST_POSTGRES_URL");
    let dirs_before = bench_dirs();
    let dbs_before = match &pg {
        Some(url) => bench_databases(url).await,
        None => 0,
    };
    let mut engines = vec![("embedded", None), ("fts5", None)];
    if let Some(url) = &pg {
        engines.push(("postgres", Some(url.clone())));
    }
    let dir = tempfile::tempdir().unwrap();
    for (engine, url) in engines {
        let mut cmd = common::keel_command(dir.path());
        cmd.args(["bench", "search", "--engine", engine]);
        cmd.args(["--docs", "500", "--batch", "200", "--clients", "3", "--queries", "40"]);
        if let Some(url) = &url {
            cmd.args(["--postgres-url", url]);
        }
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(out.status.success(), "{engine}: {stdout}\n{stderr}");
        let f = figures(&stdout);
        assert_eq!(f.get("docs"), Some(&500.0), "{engine}: {stdout}");
        assert_eq!(f.get("queries"), Some(&40.0), "{engine}: {stdout}");
        for name in [
            "index_docs_per_s",
            "index_mb",
            "queries_per_s",
            "query_p50_ms",
            "query_max_ms",
            "query_words_p99_ms",
            "query_prefix_p99_ms",
            "query_phrase_p99_ms",
            "query_typo_p99_ms",
        ] {
            assert!(f.get(name).is_some_and(|v| *v > 0.0), "{engine} {name}: {stdout}");
        }
        assert!(f["query_p50_ms"] <= f["query_p99_ms"], "{engine}: {stdout}");
        // A phrase is taken from an indexed document: it is always found.
        assert_eq!(f.get("query_phrase_without_hits"), Some(&0.0), "{engine}: {stdout}");
    }
    assert_eq!(bench_dirs(), dirs_before, "a bench directory was left behind");
    if let Some(url) = &pg {
        assert_eq!(
            bench_databases(url).await,
            dbs_before,
            "a bench database was left behind"
        );
    }
}
