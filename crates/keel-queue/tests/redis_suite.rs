//! The queue behaviour suite on the Redis provider, against `KEEL_TEST_REDIS_URL`, and a
//! test of two providers sharing one Redis as two Keel processes would.
#![cfg(feature = "redis")]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use keel_core::queue::{ClaimRequest, NewMessage, Queue, QueueStats};
use keel_queue::RedisQueue;
use serde_json::json;

/// A provider on a Redis engine of its own (as a separate process would have).
async fn provider(url: &str) -> RedisQueue {
    let client = redis::Client::open(url).unwrap();
    let config =
        redis::aio::ConnectionManagerConfig::new().set_response_timeout(Some(keel_queue::redis::RESPONSE_TIMEOUT));
    let conn = client.get_connection_manager_with_config(config).await.unwrap();
    RedisQueue::new(&client, conn).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_passes_the_queue_suite() {
    let Some(url) = keel_testkit::engine_url("KEEL_TEST_REDIS_URL") else {
        return;
    };
    keel_testkit::queue_suite(move || {
        let url = url.clone();
        async move { Arc::new(provider(&url).await) as Arc<dyn Queue> }.boxed()
    })
    .await;
}

/// Two `RedisQueue`s (two connection managers, like two processes) with three consumers each
/// drain one queue: every message is processed exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_a_queue_each_message_once() {
    let Some(url) = keel_testkit::engine_url("KEEL_TEST_REDIS_URL") else {
        return;
    };
    const TOTAL: u64 = 500;
    let a: Arc<dyn Queue> = Arc::new(provider(&url).await);
    let b: Arc<dyn Queue> = Arc::new(provider(&url).await);
    let name = keel_testkit::random_name();
    for chunk in (0..TOTAL).collect::<Vec<_>>().chunks(100) {
        let msgs = chunk.iter().map(|i| NewMessage::new(json!(i))).collect();
        a.push_many(&name, msgs).await.unwrap();
    }

    let mut consumers = Vec::new();
    for i in 0..6 {
        let q = if i % 2 == 0 { a.clone() } else { b.clone() };
        let name = name.clone();
        consumers.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            loop {
                // A short wait exercises the wake-up path while the others hold the rest.
                let req = ClaimRequest::new(4, Duration::from_secs(60)).wait(Duration::from_millis(300));
                let batch = q.claim(&name, req).await.unwrap();
                if batch.is_empty() {
                    break;
                }
                for d in batch {
                    seen.push(d.payload.as_u64().unwrap());
                    q.ack(&name, &d.lease).await.unwrap();
                }
            }
            seen
        }));
    }
    let mut all = Vec::new();
    for c in consumers {
        all.extend(c.await.unwrap());
    }
    let distinct: HashSet<_> = all.iter().copied().collect();
    assert_eq!(all.len() as u64, TOTAL, "no message processed twice or lost");
    assert_eq!(distinct, (0..TOTAL).collect::<HashSet<_>>());
    assert_eq!(b.stats(&name).await.unwrap(), QueueStats::default());
    a.purge(&name).await.unwrap();
}
