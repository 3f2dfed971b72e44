//! `keel bench webhooks --engine sqlite|postgres --endpoints E --rate R --duration D`
//! (or `--burst N`): how many webhook deliveries one `keel serve` makes a second, and how long
//! a record event takes from the create's answer to the receiver.
//!
//! The bench runs the receiver itself (an axum server on 127.0.0.1, one path per endpoint),
//! starts `keel serve` (this binary) on a temporary data dir — records on SQLite, or on a fresh
//! PostgreSQL database from `--postgres-url` (records and jobs there; dropped at the end) — with
//! `[outbound] allow = ["127.0.0.1/32"]`, creates a superuser, a collection and E webhook
//! endpoints for `record.created` on it, sends one warm-up create (and waits until every
//! endpoint got it), then creates records:
//! - steady (default): R creates a second for D seconds, each on its own task so a slow answer
//!   does not delay the next send;
//! - `--burst N`: N creates as fast as `--concurrency` clients can make them.
//!
//! Deliveries are matched to creates by record id (a retried delivery counts once, as a
//! duplicate). Prints one figure per line on stdout: `creates_answered`, `creates_failed`,
//! `creates_per_s`, `deliveries`, `duplicates`, `deliveries_per_s` (distinct deliveries over
//! the time from the first send to the last arrival), `peak_deliveries_per_s` (the busiest
//! whole second), `latency_p50_ms`/`_p99_ms`/`_max_ms` (the create's answer to the
//! delivery's arrival, on this process's clock) and `missing` (deliveries of answered creates
//! that had not come when the `--drain` period after the last create ended).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use keel_core::config::Config;
use serde_json::{json, Value};
use tokio::process::Child;

use crate::bench_bus::percentile;
use crate::bench_realtime::{create_database, drop_database, serve, sign_in};
use crate::cli::BenchWebhooksArgs;

const COLLECTION: &str = "bench_wh";

/// What the receiver heard: (endpoint number, record id, arrival in µs since the origin).
#[derive(Default)]
struct Heard {
    arrivals: Mutex<Vec<(u16, String, u64)>>,
    count: AtomicU64,
}

struct Receiver {
    origin: Instant,
    heard: Heard,
}

async fn receive(State(rx): State<Arc<Receiver>>, Path(endpoint): Path<u16>, body: axum::body::Bytes) -> StatusCode {
    let at = rx.origin.elapsed().as_micros() as u64;
    let Ok(event) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let Some(id) = event["data"]["record"]["id"].as_str() else {
        return StatusCode::BAD_REQUEST;
    };
    if let Ok(mut a) = rx.heard.arrivals.lock() {
        a.push((endpoint, id.to_string(), at));
    }
    rx.heard.count.fetch_add(1, Ordering::Relaxed);
    StatusCode::NO_CONTENT
}

/// The receiver on 127.0.0.1; its base URL (`…/hook/{n}` is endpoint n).
async fn start_receiver(rx: Arc<Receiver>) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot open the receiver's port")?;
    let addr = listener.local_addr()?;
    let app = axum::Router::new()
        .route("/hook/{endpoint}", axum::routing::post(receive))
        .with_state(rx);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(format!("http://{addr}"))
}

/// The server under test and what to clean up.
struct Run {
    url: String,
    email: String,
    password: String,
    child: Option<Child>,
    dir: Option<PathBuf>,
    /// The admin URL and name of the fresh database.
    database: Option<(String, String)>,
}

impl Run {
    async fn start(cfg: &Config, args: &BenchWebhooksArgs) -> anyhow::Result<Run> {
        let rand = || keel_core::id::random_string(12, b"abcdefghijklmnopqrstuvwxyz0123456789");
        let mut run = Run {
            url: String::new(),
            email: "bench@keel.test".into(),
            password: format!("bench-{}", rand()),
            child: None,
            dir: None,
            database: None,
        };
        let started = run.spawn(cfg, args, rand()).await;
        match started {
            Ok(()) => Ok(run),
            Err(e) => {
                run.stop().await;
                Err(e)
            }
        }
    }

    async fn spawn(&mut self, cfg: &Config, args: &BenchWebhooksArgs, suffix: String) -> anyhow::Result<()> {
        let mut env = vec![
            ("KEEL_DATA__ENGINE", args.engine.clone()),
            ("KEEL_OUTBOUND__ALLOW", "127.0.0.1/32".to_string()),
            ("KEEL_LOG_LEVEL", "warn".into()),
            ("KEEL_LIMITS__MAX_CONNECTIONS_PER_IP", "0".into()),
        ];
        if args.engine == "postgres" {
            let pg = args
                .postgres_url
                .clone()
                .unwrap_or_else(|| cfg.engines.postgres_url.clone());
            anyhow::ensure!(!pg.is_empty(), "give --postgres-url (or set [engines] postgres_url)");
            let name = format!("bench_wh_{suffix}");
            let db_url = create_database(&pg, &name).await?;
            self.database = Some((pg, name));
            env.push(("KEEL_ENGINES__POSTGRES_URL", db_url));
            env.push(("KEEL_JOBS__STORE", "postgres".into()));
        }
        let exe = std::env::current_exe().context("cannot find this program to start `keel serve`")?;
        let dir = std::env::temp_dir().join(format!("keel-bench-wh-{suffix}"));
        std::fs::create_dir_all(&dir).context("cannot create a data dir")?;
        self.dir = Some(dir.clone());
        let status = tokio::process::Command::new(&exe)
            .arg("--data-dir")
            .arg(&dir)
            .args(["superuser", "upsert", &self.email, &self.password])
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(std::process::Stdio::null())
            .status()
            .await?;
        anyhow::ensure!(status.success(), "`keel superuser upsert` failed ({status})");
        let (child, url) = serve(&exe, &dir, &env).await?;
        self.child = Some(child);
        self.url = url;
        Ok(())
    }

    /// Stops what this run started: the process, its data dir, the database.
    async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some((admin, name)) = self.database.take() {
            if let Err(e) = drop_database(&admin, &name).await {
                eprintln!("could not drop the bench database {name}: {e}");
            }
        }
    }
}

pub async fn run(cfg: &Config, args: BenchWebhooksArgs) -> anyhow::Result<()> {
    let mut run = Run::start(cfg, &args).await?;
    let result = measure(&run, &args).await;
    run.stop().await;
    let figures = result?;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = match args.burst {
        Some(n) => format!("a burst of {n} creates from {} clients", args.concurrency),
        None => format!("{} creates/s for {} s", args.rate, args.duration),
    };
    eprintln!(
        "keel bench webhooks: engine {}, {} endpoints, {load}, {cores} cores",
        args.engine, args.endpoints
    );
    print!("{figures}");
    Ok(())
}

/// When each answered create was answered (µs since the origin), by record id; and the count
/// of creates that failed.
#[derive(Default)]
struct Creates {
    answered: Mutex<HashMap<String, u64>>,
    failed: AtomicU64,
}

impl Creates {
    async fn create(&self, http: &reqwest::Client, url: &str, token: &str, origin: Instant, i: u64) {
        let res = http
            .post(url)
            .header("Authorization", token)
            .json(&json!({"title": format!("wh {i}")}))
            .send()
            .await;
        let answered = origin.elapsed().as_micros() as u64;
        let id = match res {
            Ok(r) if r.status().is_success() => r
                .json::<Value>()
                .await
                .ok()
                .and_then(|v| v["id"].as_str().map(str::to_string)),
            _ => None,
        };
        match id {
            Some(id) => {
                if let Ok(mut a) = self.answered.lock() {
                    a.insert(id, answered);
                }
            }
            None => {
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

async fn measure(run: &Run, args: &BenchWebhooksArgs) -> anyhow::Result<String> {
    let origin = Instant::now();
    let rx = Arc::new(Receiver {
        origin,
        heard: Heard::default(),
    });
    let receiver = start_receiver(rx.clone()).await?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(1024)
        .build()?;
    let token = sign_in(&http, &run.url, &run.email, &run.password).await?;
    let res = http
        .post(format!("{}/api/collections", run.url))
        .header("Authorization", &token)
        .json(&json!({
            "name": COLLECTION, "type": "base",
            "fields": [{"name": "title", "type": "text"}],
        }))
        .send()
        .await?;
    let status = res.status();
    let collection: Value = res.json().await.unwrap_or(Value::Null);
    anyhow::ensure!(
        status.is_success(),
        "creating the collection failed: {status} {collection}"
    );
    let collection_id = collection["id"].as_str().context("the collection has no id")?;
    for n in 0..args.endpoints {
        let res = http
            .post(format!("{}/api/webhooks", run.url))
            .header("Authorization", &token)
            .json(&json!({
                "url": format!("{receiver}/hook/{n}"),
                "events": ["record.created"],
                "collection": collection_id,
                "description": format!("bench endpoint {n}"),
            }))
            .send()
            .await?;
        anyhow::ensure!(
            res.status().is_success(),
            "creating webhook endpoint {n} failed: {} {}",
            res.status(),
            res.text().await.unwrap_or_default()
        );
    }
    let records = format!("{}/api/collections/{COLLECTION}/records", run.url);

    // Warm up: one create, delivered to every endpoint, before anything is measured.
    let warm = Creates::default();
    warm.create(&http, &records, &token, origin, 0).await;
    anyhow::ensure!(warm.failed.load(Ordering::Relaxed) == 0, "the warm-up create failed");
    let deadline = Instant::now() + Duration::from_secs(30);
    while rx.heard.count.load(Ordering::Relaxed) < args.endpoints {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the warm-up create did not reach every endpoint within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let warm_ids: HashSet<String> = warm
        .answered
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .keys()
        .cloned()
        .collect();

    let creates = Arc::new(Creates::default());
    let first_send = origin.elapsed().as_micros() as u64;
    let started = Instant::now();
    let mut tasks = Vec::new();
    match args.burst {
        Some(n) => {
            let next = Arc::new(AtomicU64::new(0));
            for _ in 0..args.concurrency.min(n) {
                let (http, url, token, creates, next) = (
                    http.clone(),
                    records.clone(),
                    token.clone(),
                    creates.clone(),
                    next.clone(),
                );
                tasks.push(tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            break;
                        }
                        creates.create(&http, &url, &token, origin, i + 1).await;
                    }
                }));
            }
        }
        None => {
            let total = args.rate * args.duration;
            for i in 0..total {
                let at = started + Duration::from_secs_f64(i as f64 / args.rate as f64);
                tokio::time::sleep_until(at.into()).await;
                let (http, url, token, creates) = (http.clone(), records.clone(), token.clone(), creates.clone());
                tasks.push(tokio::spawn(async move {
                    creates.create(&http, &url, &token, origin, i + 1).await;
                }));
            }
        }
    }
    for t in tasks {
        let _ = t.await;
    }
    let create_secs = started.elapsed().as_secs_f64();
    let answered = creates
        .answered
        .lock()
        .map_err(|_| anyhow::anyhow!("a create task panicked"))?
        .clone();
    let expected = answered.len() as u64 * args.endpoints;

    // Drain: until every answered create reached every endpoint, or the drain period ends.
    let deadline = Instant::now() + Duration::from_secs(args.drain);
    loop {
        let got = rx.heard.count.load(Ordering::Relaxed);
        if got >= expected + args.endpoints && distinct(&rx.heard, &answered)? >= expected {
            break;
        }
        if Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let arrivals = rx
        .heard
        .arrivals
        .lock()
        .map_err(|_| anyhow::anyhow!("the receiver panicked"))?
        .clone();
    let arrivals: Vec<_> = arrivals
        .into_iter()
        .filter(|(_, id, _)| !warm_ids.contains(id))
        .collect();
    Ok(figures(
        &answered,
        creates.failed.load(Ordering::Relaxed),
        create_secs,
        first_send,
        &arrivals,
        args.endpoints,
    ))
}

/// How many distinct (endpoint, record) deliveries of `answered` creates came.
fn distinct(heard: &Heard, answered: &HashMap<String, u64>) -> anyhow::Result<u64> {
    let arrivals = heard
        .arrivals
        .lock()
        .map_err(|_| anyhow::anyhow!("the receiver panicked"))?;
    let seen: HashSet<(u16, &str)> = arrivals
        .iter()
        .filter(|(_, id, _)| answered.contains_key(id))
        .map(|(n, id, _)| (*n, id.as_str()))
        .collect();
    Ok(seen.len() as u64)
}

/// The figures, one per line.
fn figures(
    answered: &HashMap<String, u64>,
    failed: u64,
    create_secs: f64,
    first_send: u64,
    arrivals: &[(u16, String, u64)],
    endpoints: u64,
) -> String {
    let mut seen = HashSet::new();
    let mut latencies = Vec::new();
    let mut duplicates = 0u64;
    let mut last = first_send;
    let mut per_second: HashMap<u64, u64> = HashMap::new();
    for (n, id, at) in arrivals {
        let Some(answer) = answered.get(id) else {
            continue;
        };
        if !seen.insert((*n, id.as_str())) {
            duplicates += 1;
            continue;
        }
        latencies.push(*at as i64 - *answer as i64);
        last = last.max(*at);
        *per_second.entry(at.saturating_sub(first_send) / 1_000_000).or_default() += 1;
    }
    latencies.sort_unstable();
    let delivered = latencies.len() as u64;
    let span = (last.saturating_sub(first_send) as f64 / 1e6).max(1e-6);
    let pct = |p: f64| percentile(&latencies, p).map_or(0.0, |us| us as f64 / 1000.0);
    let mut out = String::new();
    out.push_str(&format!("creates_answered {}\n", answered.len()));
    out.push_str(&format!("creates_failed {failed}\n"));
    out.push_str(&format!(
        "creates_per_s {:.0}\n",
        answered.len() as f64 / create_secs.max(1e-6)
    ));
    out.push_str(&format!("deliveries {delivered}\n"));
    out.push_str(&format!("duplicates {duplicates}\n"));
    out.push_str(&format!("deliveries_per_s {:.0}\n", delivered as f64 / span));
    out.push_str(&format!(
        "peak_deliveries_per_s {}\n",
        per_second.values().max().copied().unwrap_or(0)
    ));
    out.push_str(&format!(
        "latency_p50_ms {:.2}\nlatency_p99_ms {:.2}\nlatency_max_ms {:.2}\n",
        pct(0.5),
        pct(0.99),
        pct(1.0)
    ));
    let missing = (answered.len() as u64 * endpoints).saturating_sub(delivered);
    out.push_str(&format!("missing {missing}\n"));
    out
}
