//! `keel bench bus --provider P --subscribers S --messages M --rate R`: publish-to-delivery
//! latency and throughput of one event-bus provider across two instances.
//!
//! Instance A publishes M messages of `--payload` bytes on `bench.<n>` topics at R messages a
//! second (0: as fast as each publish returns); instance B, opened on engines of its own (its
//! own pool, client or connection, as another process would have them), holds S subscriptions
//! to `bench.`, each reading on its own task. Each payload starts with the time it was
//! published; every delivery's latency is its arrival time minus that. Both instances live in
//! this process (one clock), in a random `[events] channel`. `local` cannot cross processes:
//! A and B are then the same instance.
//!
//! Prints one figure per line on stdout: `latency_p50_ms`, `latency_p99_ms`, `latency_max_ms`
//! (over all M×S deliveries), `publish_per_s` (M over the publishing time),
//! `deliveries_per_s` (deliveries over the time from the first publish to the last
//! delivery), `gaps` and `missing` (deliveries that never came).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use keel_core::bus::{BusDelivery, EventBus};
use keel_core::config::{Config, EventBusProvider};
use tokio::sync::watch;

use crate::cli::BenchBusArgs;
use crate::wiring::{open_bus, Engines, Needs};

/// How long subscribers wait for the rest once the last message was published.
const DRAIN: Duration = Duration::from_secs(30);

/// What one subscriber saw.
#[derive(Default)]
struct Seen {
    latencies_us: Vec<u64>,
    gaps: u64,
    last_at_us: u64,
}

pub async fn run(cfg: &Config, args: BenchBusArgs) -> anyhow::Result<()> {
    let mut cfg = cfg.clone();
    cfg.events.bus = EventBusProvider::from_name(&args.provider).ok_or_else(|| {
        anyhow::anyhow!(
            "unknown --provider: expected one of {}",
            EventBusProvider::ALL.join(", ")
        )
    })?;
    cfg.events.channel = format!(
        "bench_{}",
        keel_core::id::random_string(12, b"abcdefghijklmnopqrstuvwxyz0123456789")
    );
    if let Some(url) = &args.url {
        match cfg.events.bus {
            EventBusProvider::Postgres => cfg.engines.postgres_url = url.clone(),
            EventBusProvider::Redis => cfg.engines.redis_url = url.clone(),
            EventBusProvider::Nats => cfg.engines.nats_url = url.clone(),
            EventBusProvider::Local => anyhow::bail!("--url is for --provider postgres, redis or nats"),
        }
    }
    // Two instances, each on engines of its own (the local bus is one process: one instance).
    let engines_a = Engines::open(&cfg.engines, Needs::bus(&cfg)).await?;
    let a = open_bus(&cfg, &engines_a).await?;
    let (b, _engines_b) = if cfg.events.bus == EventBusProvider::Local {
        (a.clone(), None)
    } else {
        let engines_b = Engines::open(&cfg.engines, Needs::bus(&cfg)).await?;
        (open_bus(&cfg, &engines_b).await?, Some(engines_b))
    };
    let figures = measure(a, b, &args).await?;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    eprintln!(
        "keel bench bus: provider {}, {} subscribers on a second instance, {} messages of {} bytes at {}, {cores} cores",
        args.provider,
        args.subscribers,
        args.messages,
        args.payload,
        if args.rate == 0 {
            "full speed".to_string()
        } else {
            format!("{}/s", args.rate)
        }
    );
    figures.print();
    Ok(())
}

struct Figures {
    sorted_us: Vec<u64>,
    publish_secs: f64,
    delivery_secs: f64,
    gaps: u64,
    missing: u64,
    messages: u64,
}

impl Figures {
    fn print(&self) {
        let pct = |p: f64| -> f64 {
            if self.sorted_us.is_empty() {
                return 0.0;
            }
            let i = ((self.sorted_us.len() as f64 * p).ceil() as usize).clamp(1, self.sorted_us.len()) - 1;
            self.sorted_us[i] as f64 / 1000.0
        };
        let per_s = |n: f64, secs: f64| if secs > 0.0 { (n / secs).round() as u64 } else { 0 };
        println!("latency_p50_ms {:.2}", pct(0.50));
        println!("latency_p99_ms {:.2}", pct(0.99));
        println!("latency_max_ms {:.2}", pct(1.0));
        println!("publish_per_s {}", per_s(self.messages as f64, self.publish_secs));
        println!(
            "deliveries_per_s {}",
            per_s(self.sorted_us.len() as f64, self.delivery_secs)
        );
        println!("gaps {}", self.gaps);
        println!("missing {}", self.missing);
    }
}

async fn measure(a: Arc<dyn EventBus>, b: Arc<dyn EventBus>, args: &BenchBusArgs) -> anyhow::Result<Figures> {
    let base = Instant::now();
    let since = move || base.elapsed().as_micros() as u64;
    let messages = args.messages;
    // Set once the last message is published: readers stop [`DRAIN`] after it.
    let (end_tx, end_rx) = watch::channel(None::<Instant>);
    let mut readers = Vec::new();
    for _ in 0..args.subscribers {
        let mut sub = b.subscribe("bench.").await?;
        let mut end = end_rx.clone();
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
                        let now = since();
                        let sent = u64::from_be_bytes(m.payload[..8].try_into().unwrap_or_default());
                        seen.latencies_us.push(now.saturating_sub(sent));
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

    let started_us = since();
    let started = Instant::now();
    let padding = usize::try_from(args.payload.saturating_sub(8)).unwrap_or(0);
    for i in 0..messages {
        if args.rate > 0 {
            let at = started + Duration::from_secs_f64(i as f64 / args.rate as f64);
            tokio::time::sleep_until(at.into()).await;
        }
        let mut payload = BytesMut::with_capacity(8 + padding);
        payload.put_u64(since());
        payload.put_bytes(b'x', padding);
        let topic = format!("bench.{}", i % 16);
        a.publish(&topic, Bytes::from(payload)).await?;
    }
    let publish_secs = started.elapsed().as_secs_f64();
    let _ = end_tx.send(Some(Instant::now() + DRAIN));

    let mut all = Vec::with_capacity((messages * args.subscribers) as usize);
    let (mut gaps, mut last_us) = (0, started_us);
    for reader in readers {
        let seen = reader.await.map_err(|e| anyhow::anyhow!("a subscriber failed: {e}"))?;
        gaps += seen.gaps;
        last_us = last_us.max(seen.last_at_us);
        all.extend(seen.latencies_us);
    }
    all.sort_unstable();
    let expected = messages * args.subscribers;
    Ok(Figures {
        missing: expected.saturating_sub(all.len() as u64),
        sorted_us: all,
        publish_secs,
        delivery_secs: (last_us.saturating_sub(started_us)) as f64 / 1e6,
        gaps,
        messages,
    })
}

/// Returns once the end was announced and its time came.
async fn until_end(end: &mut watch::Receiver<Option<Instant>>) {
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
