//! `keel bench bus --provider P --subscribers S --messages M --rate R`: publish-to-delivery
//! latency and throughput of one event-bus provider between two processes.
//!
//! This process (A) publishes M messages of `--payload` bytes on `bench.<n>` topics at R
//! messages a second (0: each as soon as the previous publish returned). A second `keel`
//! process (B, this binary started with the hidden `--subscriber`), on engines of its own,
//! holds S subscriptions to `bench.`, each read on its own task, in the same random
//! `[events] channel`. Each payload starts with its publish time (the machine's clock, shared
//! by both processes); every delivery's latency is its arrival time minus that. B stops when it
//! has every message, or 30 s after A closed its stdin (A is done), and prints its figures.
//! `local` cannot cross processes: A and B are then one instance in this process.
//!
//! Prints one figure per line on stdout: `latency_p50_ms`, `latency_p99_ms`, `latency_max_ms`
//! (over all M×S deliveries), `publish_per_s` (M over the publishing time),
//! `deliveries_per_s` (deliveries over the time from the first publish to the last
//! delivery), `gaps` and `missing` (deliveries that never came).

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use bytes::{BufMut, Bytes, BytesMut};
use keel_core::bus::{BusDelivery, EventBus};
use keel_core::config::{Config, EventBusProvider};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::cli::BenchBusArgs;
use crate::wiring::{open_bus, Engines, Needs};

/// How long subscribers wait for the rest once the publisher is done.
const DRAIN: Duration = Duration::from_secs(30);

/// What one subscriber saw.
#[derive(Default)]
struct Seen {
    latencies_us: Vec<u64>,
    gaps: u64,
    first_sent_us: Option<u64>,
    last_at_us: u64,
}

/// Microseconds since the Unix epoch (the clock both processes share).
fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

pub async fn run(cfg: &Config, args: BenchBusArgs) -> anyhow::Result<()> {
    let mut cfg = cfg.clone();
    cfg.events.bus = EventBusProvider::from_name(&args.provider).ok_or_else(|| {
        anyhow::anyhow!(
            "unknown --provider: expected one of {}",
            EventBusProvider::ALL.join(", ")
        )
    })?;
    cfg.events.channel = match &args.channel {
        Some(c) => c.clone(),
        None => format!(
            "bench_{}",
            keel_core::id::random_string(12, b"abcdefghijklmnopqrstuvwxyz0123456789")
        ),
    };
    let url = match cfg.events.bus {
        EventBusProvider::Postgres => Some(&mut cfg.engines.postgres_url),
        EventBusProvider::Redis => Some(&mut cfg.engines.redis_url),
        EventBusProvider::Nats => Some(&mut cfg.engines.nats_url),
        EventBusProvider::Local => None,
    };
    let url = match (url, &args.url) {
        (Some(key), Some(given)) => {
            key.clone_from(given);
            Some(given.clone())
        }
        (Some(key), None) => Some(key.clone()),
        (None, Some(_)) => anyhow::bail!("--url is for --provider postgres, redis or nats"),
        (None, None) => None,
    };
    let engines = Engines::open(&cfg.engines, Needs::bus(&cfg)).await?;
    let bus = open_bus(&cfg, &engines).await?;
    if args.subscriber {
        return subscriber(bus, &args).await;
    }
    let figures = match url {
        None => in_one_process(bus, &args).await?,
        Some(url) => across_processes(bus, &args, &cfg.events.channel, &url).await?,
    };
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    eprintln!(
        "keel bench bus: provider {}, {} subscribers in {}, {} messages of {} bytes at {}, {cores} cores",
        args.provider,
        args.subscribers,
        if args.provider == "local" {
            "the same process"
        } else {
            "a second process"
        },
        args.messages,
        args.payload,
        if args.rate == 0 {
            "full speed".to_string()
        } else {
            format!("{}/s", args.rate)
        }
    );
    print!("{figures}");
    Ok(())
}

/// `local`: publisher and subscribers on one instance.
async fn in_one_process(bus: Arc<dyn EventBus>, args: &BenchBusArgs) -> anyhow::Result<String> {
    let (end_tx, end_rx) = watch::channel(None::<Instant>);
    let readers = subscribe(&bus, args, end_rx).await?;
    let publish_secs = publish(&bus, args).await?;
    let _ = end_tx.send(Some(Instant::now() + DRAIN));
    let received = collect(readers, args).await?;
    Ok(format!("{received}{}", publish_rate(args, publish_secs)))
}

/// The subscribers in a child process on engines of their own.
async fn across_processes(
    bus: Arc<dyn EventBus>,
    args: &BenchBusArgs,
    channel: &str,
    url: &str,
) -> anyhow::Result<String> {
    let exe = std::env::current_exe().context("cannot find this program to start the subscriber process")?;
    let mut child = tokio::process::Command::new(exe)
        .args([
            "bench",
            "bus",
            "--subscriber",
            "--provider",
            &args.provider,
            "--url",
            url,
        ])
        .args(["--channel", channel])
        .args(["--subscribers", &args.subscribers.to_string()])
        .args(["--messages", &args.messages.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("cannot start the subscriber process")?;
    let stdout = child.stdout.take().context("the subscriber's stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    match lines.next_line().await? {
        Some(line) if line == "ready" => {}
        other => anyhow::bail!("the subscriber process did not start: {other:?}"),
    }
    let publish_secs = publish(&bus, args).await?;
    // Closing its stdin tells the subscriber the publisher is done.
    drop(child.stdin.take());
    let mut received = String::new();
    while let Some(line) = lines.next_line().await? {
        received.push_str(&line);
        received.push('\n');
    }
    let status = child.wait().await?;
    anyhow::ensure!(status.success(), "the subscriber process failed ({status})");
    Ok(format!("{received}{}", publish_rate(args, publish_secs)))
}

/// The hidden `--subscriber` side: subscribe, say `ready`, read until every message came or
/// [`DRAIN`] after stdin closed, print the figures.
async fn subscriber(bus: Arc<dyn EventBus>, args: &BenchBusArgs) -> anyhow::Result<()> {
    let (end_tx, end_rx) = watch::channel(None::<Instant>);
    let readers = subscribe(&bus, args, end_rx).await?;
    let mut out = tokio::io::stdout();
    out.write_all(b"ready\n").await?;
    out.flush().await?;
    tokio::spawn(async move {
        let mut sink = Vec::new();
        let _ = tokio::io::stdin().read_to_end(&mut sink).await;
        let _ = end_tx.send(Some(Instant::now() + DRAIN));
    });
    let figures = collect(readers, args).await?;
    out.write_all(figures.as_bytes()).await?;
    out.flush().await?;
    Ok(())
}

/// `--subscribers` subscriptions to `bench.`, each read on its own task until it has every
/// message or the end comes.
async fn subscribe(
    bus: &Arc<dyn EventBus>,
    args: &BenchBusArgs,
    end: watch::Receiver<Option<Instant>>,
) -> anyhow::Result<Vec<JoinHandle<Seen>>> {
    let messages = args.messages;
    let mut readers = Vec::new();
    for _ in 0..args.subscribers {
        let mut sub = bus.subscribe("bench.").await?;
        let mut end = end.clone();
        readers.push(tokio::spawn(async move {
            let mut seen = Seen::default();
            let mut received = 0u64;
            while received < messages {
                let next = tokio::select! {
                    next = sub.recv() => next,
                    () = until_end(&mut end) => break,
                };
                match next {
                    Some(BusDelivery::Message(m)) if m.payload.len() >= 8 => {
                        let now = now_us();
                        let sent = u64::from_be_bytes(m.payload[..8].try_into().unwrap_or_default());
                        seen.latencies_us.push(now.saturating_sub(sent));
                        seen.first_sent_us = Some(seen.first_sent_us.map_or(sent, |f| f.min(sent)));
                        seen.last_at_us = now;
                        received += 1;
                    }
                    Some(BusDelivery::Message(_)) => {}
                    Some(BusDelivery::Gap) => seen.gaps += 1,
                    None => break,
                }
            }
            seen
        }));
    }
    Ok(readers)
}

/// Publishes `--messages` at `--rate`; the seconds it took.
async fn publish(bus: &Arc<dyn EventBus>, args: &BenchBusArgs) -> anyhow::Result<f64> {
    let padding = usize::try_from(args.payload.saturating_sub(8)).unwrap_or(0);
    let started = Instant::now();
    for i in 0..args.messages {
        if args.rate > 0 {
            let at = started + Duration::from_secs_f64(i as f64 / args.rate as f64);
            tokio::time::sleep_until(at.into()).await;
        }
        let mut payload = BytesMut::with_capacity(8 + padding);
        payload.put_u64(now_us());
        payload.put_bytes(b'x', padding);
        let topic = format!("bench.{}", i % 16);
        bus.publish(&topic, Bytes::from(payload)).await?;
    }
    Ok(started.elapsed().as_secs_f64())
}

fn publish_rate(args: &BenchBusArgs, secs: f64) -> String {
    let rate = if secs > 0.0 {
        (args.messages as f64 / secs).round() as u64
    } else {
        0
    };
    format!("publish_per_s {rate}\n")
}

/// The readers' figures, one per line.
async fn collect(readers: Vec<JoinHandle<Seen>>, args: &BenchBusArgs) -> anyhow::Result<String> {
    let mut all = Vec::with_capacity((args.messages * args.subscribers) as usize);
    let (mut gaps, mut first_us, mut last_us) = (0, u64::MAX, 0);
    for reader in readers {
        let seen = reader.await.map_err(|e| anyhow::anyhow!("a subscriber failed: {e}"))?;
        gaps += seen.gaps;
        first_us = first_us.min(seen.first_sent_us.unwrap_or(u64::MAX));
        last_us = last_us.max(seen.last_at_us);
        all.extend(seen.latencies_us);
    }
    all.sort_unstable();
    let pct = |p: f64| percentile(&all, p).map_or(0.0, |us| us as f64 / 1000.0);
    let secs = last_us.saturating_sub(first_us) as f64 / 1e6;
    let per_s = if secs > 0.0 {
        (all.len() as f64 / secs).round() as u64
    } else {
        0
    };
    let missing = (args.messages * args.subscribers).saturating_sub(all.len() as u64);
    Ok(format!(
        "latency_p50_ms {:.2}\nlatency_p99_ms {:.2}\nlatency_max_ms {:.2}\ndeliveries_per_s {per_s}\ngaps {gaps}\nmissing {missing}\n",
        pct(0.50),
        pct(0.99),
        pct(1.0)
    ))
}

/// The `p` (0 to 1) percentile of `sorted` (nearest rank); `None` when it is empty.
pub(crate) fn percentile<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len().max(1)) - 1;
    sorted.get(i).copied()
}

/// Returns once the end was announced and its time came.
pub(crate) async fn until_end(end: &mut watch::Receiver<Option<Instant>>) {
    loop {
        let at = *end.borrow_and_update();
        if let Some(at) = at {
            tokio::time::sleep_until(at.into()).await;
            return;
        }
        if end.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
