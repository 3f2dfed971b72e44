//! `keel bench realtime --bus B --subscribers S --creates N --rate R`: commit-to-delivery
//! latency of a realtime event from one `keel serve` process to SSE clients on another.
//!
//! Starts two `keel serve` processes, A and B (this binary, each on a data dir of its own), on
//! one fresh PostgreSQL database (`--data-engine postgres`) kept in step by the `--bus`
//! (`postgres`, `redis` or `nats`, in a random `[events] channel`); the database is dropped at
//! the end. With `--a URL --b URL` it uses two processes already running instead (and the
//! superuser given by `--email`/`--password`). It creates a collection with open rules, opens
//! S PocketBase-style SSE clients on B (GET /api/realtime, the `PB_CONNECT` clientId, POST
//! /api/realtime subscribing to `COLLECTION/*`, as the SDK does), then makes N creates on A at R a
//! second (each on its own task, so a slow answer does not delay the next send).
//!
//! Each delivery's latency is measured in this process on one clock, twice: from the moment
//! A answered the create (`from_answer`: commit to delivery; the event may even come before
//! the answer is read, which shows as a negative figure) and from when it was sent
//! (`from_send`). Prints one figure per line on stdout: p50/p99/max of each, `creates_failed`,
//! and `missing` (deliveries of answered creates that never came within 10 s of the last).

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use keel_core::config::Config;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::bench_bus::{percentile, until_end};
use crate::cli::BenchRealtimeArgs;

/// How long subscribers wait for the rest once the last create was answered.
const DRAIN: Duration = Duration::from_secs(10);
/// How long a spawned `keel serve` may take to print its listening line.
const READY: Duration = Duration::from_secs(60);
const READY_PREFIX: &str = "Keel listening on ";
const COLLECTION: &str = "bench_rt";

/// When create `i` was sent and answered (microseconds since the run's start).
type Times = Arc<Mutex<Vec<Option<(u64, u64)>>>>;

pub async fn run(cfg: &Config, args: BenchRealtimeArgs) -> anyhow::Result<()> {
    let mut run = match (&args.a, &args.b) {
        (Some(a), Some(b)) => Run {
            a: a.trim_end_matches('/').to_string(),
            b: b.trim_end_matches('/').to_string(),
            email: args.email.clone(),
            password: args.password.clone(),
            children: Vec::new(),
            dirs: Vec::new(),
            database: None,
        },
        (None, None) => Run::spawn(cfg, &args).await?,
        _ => anyhow::bail!("give both --a and --b, or neither (then both processes are started)"),
    };
    let result = measure(&run, &args).await;
    run.stop().await;
    let figures = result?;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    eprintln!(
        "keel bench realtime: data engine {}, bus {}, {} SSE subscribers on B, {} creates on A at {}/s, {cores} cores",
        args.data_engine, args.bus, args.subscribers, args.creates, args.rate
    );
    print!("{figures}");
    Ok(())
}

/// The two processes under test (and what to clean up when this run started them).
struct Run {
    a: String,
    b: String,
    email: String,
    password: String,
    children: Vec<Child>,
    dirs: Vec<PathBuf>,
    /// The admin URL and name of the fresh database.
    database: Option<(String, String)>,
}

impl Run {
    async fn spawn(cfg: &Config, args: &BenchRealtimeArgs) -> anyhow::Result<Run> {
        let rand = || keel_core::id::random_string(12, b"abcdefghijklmnopqrstuvwxyz0123456789");
        let pg = args
            .postgres_url
            .clone()
            .unwrap_or_else(|| cfg.engines.postgres_url.clone());
        anyhow::ensure!(!pg.is_empty(), "give --postgres-url (or set [engines] postgres_url)");
        let name = format!("bench_rt_{}", rand());
        let db_url = create_database(&pg, &name).await?;
        let mut run = Run {
            a: String::new(),
            b: String::new(),
            email: "bench@keel.test".into(),
            password: format!("bench-{}", rand()),
            children: Vec::new(),
            dirs: Vec::new(),
            database: Some((pg, name)),
        };
        let channel = format!("bench_{}", rand());
        let mut env = vec![
            ("KEEL_DATA__ENGINE", args.data_engine.clone()),
            ("KEEL_ENGINES__POSTGRES_URL", db_url),
            ("KEEL_EVENTS__BUS", args.bus.clone()),
            ("KEEL_EVENTS__CHANNEL", channel),
            ("KEEL_LOG_LEVEL", "warn".into()),
            ("KEEL_LIMITS__MAX_CONNECTIONS_PER_IP", "0".into()),
        ];
        match args.bus.as_str() {
            "redis" => env.push((
                "KEEL_ENGINES__REDIS_URL",
                args.redis_url.clone().unwrap_or_else(|| cfg.engines.redis_url.clone()),
            )),
            "nats" => env.push((
                "KEEL_ENGINES__NATS_URL",
                args.nats_url.clone().unwrap_or_else(|| cfg.engines.nats_url.clone()),
            )),
            _ => {}
        }
        let started = run.start_both(&env).await;
        if let Err(e) = started {
            run.stop().await;
            return Err(e);
        }
        Ok(run)
    }

    async fn start_both(&mut self, env: &[(&str, String)]) -> anyhow::Result<()> {
        let exe = std::env::current_exe().context("cannot find this program to start `keel serve`")?;
        for i in 0..2 {
            let dir = std::env::temp_dir().join(format!(
                "keel-bench-rt-{}-{i}",
                keel_core::id::random_string(8, b"abcdefghijklmnopqrstuvwxyz0123456789")
            ));
            std::fs::create_dir_all(&dir).context("cannot create a data dir")?;
            self.dirs.push(dir.clone());
            if i == 0 {
                let status = tokio::process::Command::new(&exe)
                    .arg("--data-dir")
                    .arg(&dir)
                    .args(["superuser", "upsert", &self.email, &self.password])
                    .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
                    .stdout(Stdio::null())
                    .status()
                    .await?;
                anyhow::ensure!(status.success(), "`keel superuser upsert` failed ({status})");
            }
            let (child, url) = serve(&exe, &dir, env).await?;
            self.children.push(child);
            if i == 0 {
                self.a = url;
            } else {
                self.b = url;
            }
        }
        Ok(())
    }

    /// Stops what this run started: the processes, their data dirs, the database.
    async fn stop(&mut self) {
        for mut child in self.children.drain(..) {
            let _ = child.kill().await;
        }
        for dir in self.dirs.drain(..) {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some((admin, name)) = self.database.take() {
            if let Err(e) = drop_database(&admin, &name).await {
                eprintln!("could not drop the bench database {name}: {e}");
            }
        }
    }
}

/// Starts `exe serve --http 127.0.0.1:0` on `dir` with `env`; the child (killed on drop) and
/// the URL it listens on, once it printed its listening line.
pub(crate) async fn serve(
    exe: &std::path::Path,
    dir: &std::path::Path,
    env: &[(&str, String)],
) -> anyhow::Result<(Child, String)> {
    let mut child = tokio::process::Command::new(exe)
        .arg("--data-dir")
        .arg(dir)
        .args(["serve", "--http", "127.0.0.1:0"])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("cannot start `keel serve`")?;
    let stdout = child.stdout.take().context("the server's stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let url = tokio::time::timeout(READY, async {
        while let Some(line) = lines.next_line().await? {
            if let Some(url) = line.strip_prefix(READY_PREFIX) {
                return Ok(url.trim().trim_end_matches('/').to_string());
            }
        }
        anyhow::bail!("`keel serve` exited before listening (its log is above)")
    })
    .await
    .context("`keel serve` did not start listening in time")??;
    // Keep reading its stdout so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((child, url))
}

/// Creates the database `name` on the server at `admin`; its URL.
pub(crate) async fn create_database(admin: &str, name: &str) -> anyhow::Result<String> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(admin)
        .await
        .context("cannot connect to --postgres-url")?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut conn)
        .await
        .context("cannot create the bench database")?;
    let _ = conn.close().await;
    let mut url = url::Url::parse(admin).context("--postgres-url is not a URL")?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

pub(crate) async fn drop_database(admin: &str, name: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(admin).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await?;
    let _ = conn.close().await;
    Ok(())
}

/// What one SSE subscriber heard: (create number, arrival in µs since the start).
type Heard = Vec<(usize, u64)>;

async fn measure(run: &Run, args: &BenchRealtimeArgs) -> anyhow::Result<String> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
    let token = sign_in(&http, &run.a, &run.email, &run.password).await?;
    let res = http
        .post(format!("{}/api/collections", run.a))
        .header("Authorization", &token)
        .json(&json!({
            "name": COLLECTION, "type": "base",
            "fields": [{"name": "title", "type": "text"}],
            "listRule": "", "viewRule": "", "createRule": "",
        }))
        .send()
        .await?;
    anyhow::ensure!(
        res.status().is_success(),
        "creating the collection on A failed: {} {}",
        res.status(),
        res.text().await.unwrap_or_default()
    );
    // B serves the collection once the schema change crossed the bus.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let res = http
            .get(format!("{}/api/collections/{COLLECTION}/records?perPage=1", run.b))
            .send()
            .await?;
        if res.status().is_success() {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "B does not serve the collection made on A");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let origin = Instant::now();
    let (end_tx, end_rx) = watch::channel(None::<Instant>);
    let sse = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()?;
    let mut readers: Vec<JoinHandle<anyhow::Result<Heard>>> = Vec::new();
    for _ in 0..args.subscribers {
        let res = sse.get(format!("{}/api/realtime", run.b)).send().await?;
        anyhow::ensure!(res.status().is_success(), "GET /api/realtime on B: {}", res.status());
        let mut events = Events::new(res);
        let (name, data) = events.next().await?.context("the SSE stream ended before PB_CONNECT")?;
        anyhow::ensure!(name == "PB_CONNECT", "the first SSE event was {name}, not PB_CONNECT");
        let client = data["clientId"]
            .as_str()
            .context("PB_CONNECT without clientId")?
            .to_string();
        let res = http
            .post(format!("{}/api/realtime", run.b))
            .json(&json!({"clientId": client, "subscriptions": [format!("{COLLECTION}/*")]}))
            .send()
            .await?;
        anyhow::ensure!(res.status().is_success(), "POST /api/realtime on B: {}", res.status());
        let mut end = end_rx.clone();
        let expected = args.creates as usize;
        readers.push(tokio::spawn(async move {
            let mut heard = Vec::with_capacity(expected);
            while heard.len() < expected {
                let next = tokio::select! {
                    next = events.next() => next?,
                    () = until_end(&mut end) => break,
                };
                let Some((_, data)) = next else { break };
                let number = data["record"]["title"]
                    .as_str()
                    .and_then(|t| t.strip_prefix("rt "))
                    .and_then(|n| n.parse::<usize>().ok());
                if let Some(n) = number {
                    heard.push((n, micros(origin)));
                }
            }
            Ok(heard)
        }));
    }

    let times: Times = Arc::new(Mutex::new(vec![None; args.creates as usize]));
    let mut creates = Vec::new();
    let started = Instant::now();
    for i in 0..args.creates as usize {
        let at = started + Duration::from_secs_f64(i as f64 / args.rate as f64);
        tokio::time::sleep_until(at.into()).await;
        let (http, url, token, times) = (
            http.clone(),
            format!("{}/api/collections/{COLLECTION}/records", run.a),
            token.clone(),
            times.clone(),
        );
        creates.push(tokio::spawn(async move {
            let sent = micros(origin);
            let res = http
                .post(url)
                .header("Authorization", token)
                .json(&json!({"title": format!("rt {i}")}))
                .send()
                .await;
            let answered = micros(origin);
            if matches!(res, Ok(ref r) if r.status().is_success()) {
                if let Ok(mut t) = times.lock() {
                    t[i] = Some((sent, answered));
                }
            }
        }));
    }
    for c in creates {
        let _ = c.await;
    }
    let _ = end_tx.send(Some(Instant::now() + DRAIN));
    let mut heard = Vec::new();
    for r in readers {
        heard.push(r.await.map_err(|e| anyhow::anyhow!("a subscriber failed: {e}"))??);
    }
    let times = times
        .lock()
        .map_err(|_| anyhow::anyhow!("a create task panicked"))?
        .clone();
    Ok(figures(&times, &heard, args.subscribers))
}

fn micros(origin: Instant) -> u64 {
    origin.elapsed().as_micros() as u64
}

pub(crate) async fn sign_in(http: &reqwest::Client, url: &str, email: &str, password: &str) -> anyhow::Result<String> {
    let res = http
        .post(format!("{url}/api/collections/_superusers/auth-with-password"))
        .json(&json!({"identity": email, "password": password}))
        .send()
        .await?;
    anyhow::ensure!(res.status().is_success(), "superuser sign-in on A: {}", res.status());
    let body: Value = res.json().await?;
    body["token"]
        .as_str()
        .map(str::to_string)
        .context("the sign-in answer has no token")
}

/// An SSE response read event by event.
struct Events {
    stream: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buf: String,
}

impl Events {
    fn new(res: reqwest::Response) -> Events {
        Events {
            stream: res.bytes_stream().boxed(),
            buf: String::new(),
        }
    }

    /// The next named event and its JSON data; `None` when the stream ended.
    async fn next(&mut self) -> anyhow::Result<Option<(String, Value)>> {
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut event, mut data) = ("", "");
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data = v.trim();
                    }
                }
                if !event.is_empty() {
                    return Ok(Some((
                        event.to_string(),
                        serde_json::from_str(data).unwrap_or(Value::Null),
                    )));
                }
            }
            match self.stream.next().await {
                Some(chunk) => self.buf.push_str(&String::from_utf8_lossy(&chunk?)),
                None => return Ok(None),
            }
        }
    }
}

/// The figures, one per line.
fn figures(times: &[Option<(u64, u64)>], heard: &[Heard], subscribers: u64) -> String {
    let (mut from_answer, mut from_send) = (Vec::new(), Vec::new());
    for sub in heard {
        let mut seen = HashSet::new();
        for &(n, at) in sub {
            if let Some(Some((sent, answered))) = times.get(n) {
                if seen.insert(n) {
                    from_answer.push(at as i64 - *answered as i64);
                    from_send.push(at as i64 - *sent as i64);
                }
            }
        }
    }
    let answered = times.iter().filter(|t| t.is_some()).count() as u64;
    let missing = (answered * subscribers).saturating_sub(from_answer.len() as u64);
    let failed = times.len() as u64 - answered;
    let mut out = String::new();
    for (name, mut all) in [("from_answer", from_answer), ("from_send", from_send)] {
        all.sort_unstable();
        let pct = |p: f64| percentile(&all, p).map_or(0.0, |us| us as f64 / 1000.0);
        out.push_str(&format!(
            "{name}_p50_ms {:.2}\n{name}_p99_ms {:.2}\n{name}_max_ms {:.2}\n",
            pct(0.5),
            pct(0.99),
            pct(1.0)
        ));
    }
    out.push_str(&format!("creates_failed {failed}\nmissing {missing}\n"));
    out
}
