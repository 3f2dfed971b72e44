//! The queue behaviour suite on the PostgreSQL provider, against `KEEL_TEST_POSTGRES_URL`,
//! plus what the suite cannot show: two providers on separate pools (as two processes would
//! be) share a queue, and their consumers get every message exactly once.
#![cfg(feature = "postgres")]

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use keel_core::queue::{ClaimRequest, NewMessage, Queue, QueueStats};
use keel_queue::PostgresQueue;
use serde_json::json;

/// A provider on a pool of its own (as a separate process would have).
async fn provider(url: &str) -> PostgresQueue {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(10)
        .connect(url)
        .await
        .unwrap();
    PostgresQueue::new(pool).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_passes_the_queue_suite() {
    let Some(url) = keel_testkit::engine_url("KEEL_TEST_POSTGRES_URL") else {
        return;
    };
    keel_testkit::queue_suite(move || {
        let url = url.clone();
        async move { Arc::new(provider(&url).await) as Arc<dyn Queue> }.boxed()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_a_queue_each_message_once() {
    let Some(url) = keel_testkit::engine_url("KEEL_TEST_POSTGRES_URL") else {
        return;
    };
    const TOTAL: usize = 500;
    let (a, b) = tokio::join!(provider(&url), provider(&url));
    let providers: [Arc<dyn Queue>; 2] = [Arc::new(a), Arc::new(b)];
    let name = keel_testkit::random_name();
    let done = Arc::new(AtomicUsize::new(0));

    // Six consumers, three per provider, wait for messages that both providers push meanwhile:
    // a consumer is woken by a push made through the other provider's pool.
    let mut consumers = Vec::new();
    for i in 0..6 {
        let q = providers[i % 2].clone();
        let name = name.clone();
        let done = done.clone();
        consumers.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            while done.load(Ordering::SeqCst) < TOTAL {
                let req = ClaimRequest::new(5, Duration::from_secs(60)).wait(Duration::from_millis(500));
                for d in q.claim(&name, req).await.unwrap() {
                    assert_eq!(d.deliveries, 1, "no message is delivered twice");
                    seen.push(d.payload.as_u64().unwrap());
                    q.ack(&name, &d.lease).await.unwrap();
                    done.fetch_add(1, Ordering::SeqCst);
                }
            }
            seen
        }));
    }
    for (n, chunk) in (0..TOTAL).collect::<Vec<_>>().chunks(25).enumerate() {
        let msgs = chunk.iter().map(|i| NewMessage::new(json!(i))).collect();
        providers[n % 2].push_many(&name, msgs).await.unwrap();
    }

    let mut all = Vec::new();
    let collect = async {
        for c in consumers {
            all.extend(c.await.unwrap());
        }
    };
    tokio::time::timeout(Duration::from_secs(120), collect)
        .await
        .expect("the consumers finish");
    let distinct: HashSet<_> = all.iter().copied().collect();
    assert_eq!(all.len(), TOTAL, "every message processed exactly once");
    assert_eq!(distinct.len(), TOTAL);
    for q in &providers {
        assert_eq!(q.stats(&name).await.unwrap(), QueueStats::default());
    }
    providers[0].purge(&name).await.unwrap();
}
