//! `keel bench webhooks`: a short steady run and a short burst on the embedded engine, every
//! create delivered to every endpoint; the bench leaves no data dir behind.

mod common;

use std::collections::HashMap;

/// The figures `keel bench webhooks` printed, by name.
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
        .filter(|e| e.file_name().to_string_lossy().starts_with("keel-bench-wh-"))
        .count()
}

#[tokio::test]
async fn every_create_reaches_every_endpoint_steady_and_in_a_burst() {
    let before = bench_dirs();
    let dir = tempfile::tempdir().unwrap();
    for (mode, creates) in [
        (vec!["--rate", "40", "--duration", "2"], 80.0),
        (vec!["--burst", "60", "--concurrency", "8"], 60.0),
    ] {
        let mut cmd = common::keel_command(dir.path());
        cmd.args([
            "bench",
            "webhooks",
            "--engine",
            "sqlite",
            "--endpoints",
            "2",
            "--drain",
            "60",
        ]);
        cmd.args(&mode);
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(out.status.success(), "{mode:?}: {stdout}\n{stderr}");
        let f = figures(&stdout);
        assert_eq!(f.get("creates_failed"), Some(&0.0), "{mode:?}: {stdout}");
        assert_eq!(f.get("creates_answered"), Some(&creates), "{mode:?}: {stdout}");
        assert_eq!(f.get("deliveries"), Some(&(creates * 2.0)), "{mode:?}: {stdout}");
        assert_eq!(f.get("missing"), Some(&0.0), "{mode:?}: {stdout}");
        for name in [
            "deliveries_per_s",
            "peak_deliveries_per_s",
            "latency_p50_ms",
            "latency_max_ms",
        ] {
            assert!(f.get(name).is_some_and(|v| *v > 0.0), "{name}: {stdout}");
        }
        assert!(f["latency_p99_ms"] <= f["latency_max_ms"], "{stdout}");
    }
    assert_eq!(bench_dirs(), before, "a bench data dir was left behind");
}
