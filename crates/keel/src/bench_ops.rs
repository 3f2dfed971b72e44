//! `keel bench ops [--runs N] [--ssh HOST:PORT --ssh-user U --ssh-key FILE]`: what the ops
//! engine costs.
//!
//! Starts `keel serve` (this binary) on a temporary data dir with `[outbound] allow =
//! ["127.0.0.1/32"]`, a superuser, and an HTTP server of its own on 127.0.0.1 answering
//! `GET /ping` with 204 at once and noting when each request arrived (µs on this process's
//! clock).
//!
//! (a) **Overhead per step**: a runbook of 100 sequential `http.request` steps (each `needs`
//! the one before) to that server, run once to warm up and then `--runs` times through the real
//! engine (the `_keel-ops` queue, the store, the log). A step's cycle is the time between two
//! consecutive requests arriving; the request's own time is the median round trip of 200
//! requests the bench makes itself on fresh connections (as a step opens one). Prints
//! `step_cycle_p50_ms`, `request_p50_ms`, `overhead_per_step_p50_ms` (cycle − request; target
//! under 10 ms), `overhead_per_step_p90_ms`, and `run_wall_ms` (the run's own start to end,
//! the median over the runs).
//!
//! (b) **Fan-out**, with `--ssh`: a vault `ssh_key` secret from `--ssh-key`, 50 targets on that
//! one server (tag `bench`, trust on first use), one `ssh.exec` of `--command` fanned out to all
//! 50 with `parallelism` 50, against the same step on one target at a time (5 runs); prints
//! `fanout_50_wall_ms`, `single_slowest_wall_ms` and `fanout_ratio` (target within 2×).
//! Without `--ssh` it says (b) is skipped. The server must accept 50 connections at once
//! (`MaxStartups 100`, `MaxSessions` ≥ 2 in sshd_config).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{json, Value};

use crate::bench_bus::percentile;
use crate::bench_realtime::{serve, sign_in};
use crate::cli::BenchOpsArgs;

const STEPS: usize = 100;
const TARGETS: usize = 50;
const WAIT: Duration = Duration::from_secs(600);

struct Pings {
    origin: Instant,
    arrivals: Mutex<Vec<u64>>,
}

async fn ping(axum::extract::State(p): axum::extract::State<Arc<Pings>>) -> axum::http::StatusCode {
    let at = p.origin.elapsed().as_micros() as u64;
    if let Ok(mut a) = p.arrivals.lock() {
        a.push(at);
    }
    axum::http::StatusCode::NO_CONTENT
}

pub async fn run(_cfg: &keel_core::config::Config, args: BenchOpsArgs) -> anyhow::Result<()> {
    let pings = Arc::new(Pings {
        origin: Instant::now(),
        arrivals: Mutex::new(Vec::new()),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot open the bench's HTTP port")?;
    let target = format!("http://{}/ping", listener.local_addr()?);
    let app = axum::Router::new()
        .route("/ping", axum::routing::get(ping))
        .with_state(pings.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let suffix = keel_core::id::random_string(12, b"abcdefghijklmnopqrstuvwxyz0123456789");
    let dir = std::env::temp_dir().join(format!("keel-bench-ops-{suffix}"));
    std::fs::create_dir_all(&dir).context("cannot create a data dir")?;
    let result = measure(&dir, &suffix, &target, &pings, &args).await;
    let _ = std::fs::remove_dir_all(&dir);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    eprintln!(
        "keel bench ops: {STEPS}-step runbook ×{} runs, {cores} cores",
        args.runs
    );
    print!("{}", result?);
    Ok(())
}

async fn measure(
    dir: &std::path::Path,
    suffix: &str,
    target: &str,
    pings: &Pings,
    args: &BenchOpsArgs,
) -> anyhow::Result<String> {
    let exe = std::env::current_exe().context("cannot find this program to start `keel serve`")?;
    let env = vec![
        ("KEEL_OUTBOUND__ALLOW", "127.0.0.1/32".to_string()),
        ("KEEL_LOG_LEVEL", "warn".to_string()),
    ];
    let (email, password) = ("bench@keel.test", format!("bench-{suffix}"));
    let status = tokio::process::Command::new(&exe)
        .arg("--data-dir")
        .arg(dir)
        .args(["superuser", "upsert", email, &password])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(std::process::Stdio::null())
        .status()
        .await?;
    anyhow::ensure!(status.success(), "`keel superuser upsert` failed ({status})");
    let (mut child, url) = serve(&exe, dir, &env).await?;
    let out = async {
        let http = reqwest::Client::new();
        let token = sign_in(&http, &url, email, &password).await?;
        let api = Api { http, url, token };
        let mut out = overhead(&api, target, pings, args.runs).await?;
        match (&args.ssh, &args.ssh_user, &args.ssh_key) {
            (Some(ssh), Some(user), Some(key)) => out.push_str(&fanout(&api, ssh, user, key, &args.command).await?),
            _ => out.push_str("fanout: skipped (give --ssh HOST:PORT --ssh-user U --ssh-key FILE)\n"),
        }
        anyhow::Ok(out)
    }
    .await;
    let _ = child.kill().await;
    out
}

struct Api {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Api {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url))
            .header("Authorization", &self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await?;
        let status = res.status();
        let v: Value = res.json().await.unwrap_or(Value::Null);
        anyhow::ensure!(status.is_success(), "{path}: {status} {v}");
        Ok(v)
    }

    /// Launches `runbook` and waits for it to end; the run with its steps.
    async fn run(&self, runbook: &str) -> anyhow::Result<Value> {
        let run = self
            .call(
                reqwest::Method::POST,
                &format!("/api/ops/runbooks/{runbook}/run"),
                Some(json!({})),
            )
            .await?;
        let id = run["id"].as_str().context("the run has no id")?.to_string();
        let deadline = Instant::now() + WAIT;
        loop {
            let view = self
                .call(reqwest::Method::GET, &format!("/api/ops/runs/{id}"), None)
                .await?;
            let state = view["state"].as_str().unwrap_or_default();
            if keel_app::ops::state::ended(state) {
                anyhow::ensure!(
                    state == "succeeded",
                    "run {id} of {runbook} ended {state}: {}",
                    view["error"]
                );
                return Ok(view);
            }
            anyhow::ensure!(Instant::now() < deadline, "run {id} did not end within {WAIT:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A run's wall time from its `startedAt` to its `endedAt`, in ms.
fn wall_ms(run: &Value) -> anyhow::Result<i64> {
    let at = |k: &str| {
        keel_core::time::parse(run[k].as_str().unwrap_or_default()).with_context(|| format!("the run has no {k}"))
    };
    Ok((at("endedAt")? - at("startedAt")?).num_milliseconds())
}

async fn overhead(api: &Api, target: &str, pings: &Pings, runs: u64) -> anyhow::Result<String> {
    let steps: Vec<Value> = (0..STEPS)
        .map(|i| {
            let mut s = json!({"id": format!("s{i}"), "type": "http.request", "url": target, "expectStatus": 204});
            if i > 0 {
                s["needs"] = json!([format!("s{}", i - 1)]);
            }
            s
        })
        .collect();
    api.call(
        reqwest::Method::POST,
        "/api/ops/runbooks",
        Some(json!({"name": "bench-seq", "steps": steps})),
    )
    .await?;
    // The request's own time: fresh connections, as a step opens one.
    let mut direct = Vec::new();
    for _ in 0..200 {
        let client = reqwest::Client::new();
        let t = Instant::now();
        let res = client.get(target).send().await?;
        anyhow::ensure!(res.status() == 204, "the bench's own server answered {}", res.status());
        direct.push(t.elapsed().as_micros() as u64);
    }
    direct.sort_unstable();
    api.run("bench-seq").await?; // warm-up
    let mut cycles = Vec::new();
    let mut walls = Vec::new();
    for _ in 0..runs {
        if let Ok(mut a) = pings.arrivals.lock() {
            a.clear();
        }
        let view = api.run("bench-seq").await?;
        walls.push(wall_ms(&view)?);
        let arrivals = pings.arrivals.lock().map(|a| a.clone()).unwrap_or_default();
        anyhow::ensure!(
            arrivals.len() == STEPS,
            "{} requests arrived, not {STEPS}",
            arrivals.len()
        );
        cycles.extend(arrivals.windows(2).map(|w| w[1] - w[0]));
    }
    cycles.sort_unstable();
    walls.sort_unstable();
    let request = percentile(&direct, 0.5).unwrap_or(0);
    let ms = |us: u64| us as f64 / 1000.0;
    let cycle50 = percentile(&cycles, 0.5).unwrap_or(0);
    let cycle90 = percentile(&cycles, 0.9).unwrap_or(0);
    Ok(format!(
        "step_cycle_p50_ms {:.2}\nrequest_p50_ms {:.2}\noverhead_per_step_p50_ms {:.2}\noverhead_per_step_p90_ms {:.2}\nrun_wall_ms {}\n",
        ms(cycle50),
        ms(request),
        ms(cycle50.saturating_sub(request)),
        ms(cycle90.saturating_sub(request)),
        percentile(&walls, 0.5).unwrap_or(0),
    ))
}

async fn fanout(api: &Api, ssh: &str, user: &str, key: &std::path::Path, command: &str) -> anyhow::Result<String> {
    let (host, port) = ssh
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
        .context("--ssh must be HOST:PORT")?;
    let private = std::fs::read_to_string(key).with_context(|| format!("cannot read --ssh-key {}", key.display()))?;
    api.call(
        reqwest::Method::POST,
        "/api/vault/secrets",
        Some(json!({"name": "bench-ssh", "type": "ssh_key", "data": {"username": user, "privateKey": private}})),
    )
    .await?;
    for i in 0..TARGETS {
        api.call(
            reqwest::Method::POST,
            "/api/ops/targets",
            Some(
                json!({"name": format!("fan-{i}"), "address": host, "port": port, "transport": "ssh",
                        "credential": "bench-ssh", "trustOnFirstUse": true, "tags": ["bench"]}),
            ),
        )
        .await?;
    }
    let step = |targets: Value| json!({"id": "exec", "type": "ssh.exec", "targets": targets, "parallelism": TARGETS, "command": command});
    api.call(
        reqwest::Method::POST,
        "/api/ops/runbooks",
        Some(json!({"name": "bench-fan", "steps": [step(json!({"tags": ["bench"]}))]})),
    )
    .await?;
    for i in 0..5 {
        api.call(
            reqwest::Method::POST,
            "/api/ops/runbooks",
            Some(json!({"name": format!("bench-one-{i}"), "steps": [step(json!([format!("fan-{i}")]))]})),
        )
        .await?;
    }
    // Warm-up: every target's first connection pins its host key.
    api.run("bench-fan").await?;
    let mut single = 0;
    for i in 0..5 {
        single = single.max(wall_ms(&api.run(&format!("bench-one-{i}")).await?)?);
    }
    let fan = wall_ms(&api.run("bench-fan").await?)?;
    let ratio = if single > 0 { fan as f64 / single as f64 } else { 0.0 };
    Ok(format!(
        "fanout_50_wall_ms {fan}\nsingle_slowest_wall_ms {single}\nfanout_ratio {ratio:.2}\n"
    ))
}
