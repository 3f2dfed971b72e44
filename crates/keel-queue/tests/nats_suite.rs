//! The queue behaviour suite on the NATS JetStream provider, against `KEEL_TEST_NATS_URL`,
//! plus what the suite cannot show: two connections (two processes) sharing one queue.
//!
//! Each test uses its own random stream prefix and checks at the end that no stream with
//! that prefix is left on the server (`purge` deletes a queue's streams).
#![cfg(feature = "nats")]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use keel_core::queue::{ClaimRequest, NewMessage, Queue, QueueStats};
use keel_queue::{NatsQueue, NatsQueueConfig};
use serde_json::json;

/// A provider on a NATS connection of its own (as a separate process would have).
async fn provider(url: &str, prefix: &str, lease: Duration) -> NatsQueue {
    let cfg = NatsQueueConfig {
        lease,
        prefix: prefix.to_string(),
        ..NatsQueueConfig::default()
    };
    let client = async_nats::connect(url).await.unwrap();
    NatsQueue::new(client, cfg).await.unwrap()
}

/// A random stream prefix for one test (letters and digits only).
fn random_prefix() -> String {
    format!("KT{:012X}", rand::random::<u64>() & 0xFFFF_FFFF_FFFF)
}

/// Fails if any stream of `prefix` is left on the server, deleting them first so a failed
/// run does not leave them behind.
async fn assert_no_streams_left(url: &str, prefix: &str) {
    let client = async_nats::connect(url).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let mut names = js.stream_names();
    let mut left = Vec::new();
    while let Some(name) = names.next().await {
        let name = name.unwrap();
        if name.starts_with(&format!("{prefix}_")) {
            left.push(name);
        }
    }
    for name in &left {
        js.delete_stream(name).await.unwrap();
    }
    assert!(left.is_empty(), "streams left behind: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_passes_the_queue_suite() {
    let Some(url) = keel_testkit::engine_url("KEEL_TEST_NATS_URL") else {
        return;
    };
    let prefix = random_prefix();
    {
        let (url, prefix) = (url.clone(), prefix.clone());
        keel_testkit::queue_suite(move || {
            let (url, prefix) = (url.clone(), prefix.clone());
            async move { Arc::new(provider(&url, &prefix, Duration::from_secs(2)).await) as Arc<dyn Queue> }.boxed()
        })
        .await;
    }
    assert_no_streams_left(&url, &prefix).await;
}

/// Two `NatsQueue`s on separate connections (as two Keel processes would be), six consumers
/// between them: each of 300 messages is processed exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_connections_process_each_message_once() {
    let Some(url) = keel_testkit::engine_url("KEEL_TEST_NATS_URL") else {
        return;
    };
    const TOTAL: u64 = 300;
    let prefix = random_prefix();
    let lease = Duration::from_secs(30);
    let a: Arc<dyn Queue> = Arc::new(provider(&url, &prefix, lease).await);
    let b: Arc<dyn Queue> = Arc::new(provider(&url, &prefix, lease).await);
    let n = keel_testkit::random_name();

    // Half pushed through each connection.
    for (i, chunk) in (0..TOTAL).collect::<Vec<_>>().chunks(50).enumerate() {
        let q = if i % 2 == 0 { &a } else { &b };
        let msgs = chunk.iter().map(|i| NewMessage::new(json!(i))).collect();
        q.push_many(&n, msgs).await.unwrap();
    }
    assert_eq!(a.stats(&n).await.unwrap().ready, TOTAL);
    assert_eq!(b.stats(&n).await.unwrap().ready, TOTAL);

    let mut tasks = Vec::new();
    for i in 0..6 {
        let q = if i % 2 == 0 { a.clone() } else { b.clone() };
        let n = n.clone();
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            loop {
                let batch = q
                    .claim(
                        &n,
                        ClaimRequest::new(5, Duration::from_secs(60)).wait(Duration::from_millis(300)),
                    )
                    .await
                    .unwrap();
                if batch.is_empty() {
                    break;
                }
                for d in batch {
                    assert_eq!(d.deliveries, 1, "no message is delivered twice");
                    seen.push(d.payload.as_u64().unwrap());
                    q.ack(&n, &d.lease).await.unwrap();
                }
            }
            seen
        }));
    }
    let mut all = Vec::new();
    let mut per_task = Vec::new();
    for t in tasks {
        let seen = t.await.unwrap();
        per_task.push(seen.len());
        all.extend(seen);
    }
    let distinct: HashSet<_> = all.iter().copied().collect();
    assert_eq!(
        all.len() as u64,
        TOTAL,
        "every message processed exactly once (no duplicates, none lost)"
    );
    assert_eq!(distinct.len() as u64, TOTAL);
    println!("messages per consumer: {per_task:?}");
    assert_eq!(a.stats(&n).await.unwrap(), QueueStats::default());
    assert_eq!(b.stats(&n).await.unwrap(), QueueStats::default());

    // A lease taken through one connection is acked through the other; a purge through one
    // is seen by the other.
    a.push(&n, NewMessage::new(json!("x"))).await.unwrap();
    let d = a.claim(&n, ClaimRequest::new(1, lease)).await.unwrap().pop().unwrap();
    b.extend(&n, &d.lease, lease).await.unwrap();
    b.ack(&n, &d.lease).await.unwrap();
    assert!(matches!(a.ack(&n, &d.lease).await, Err(keel_core::Error::Conflict(_))));
    b.push(&n, NewMessage::new(json!("y"))).await.unwrap();
    assert_eq!(b.purge(&n).await.unwrap(), 1);
    assert!(a.claim(&n, ClaimRequest::new(1, lease)).await.unwrap().is_empty());
    a.push(&n, NewMessage::new(json!("z"))).await.unwrap();
    let d = b.claim(&n, ClaimRequest::new(1, lease)).await.unwrap().pop().unwrap();
    assert_eq!(d.payload, json!("z"));
    a.ack(&n, &d.lease).await.unwrap();

    a.purge(&n).await.unwrap();
    assert_eq!(b.stats(&n).await.unwrap(), QueueStats::default());
    assert_no_streams_left(&url, &prefix).await;
}
