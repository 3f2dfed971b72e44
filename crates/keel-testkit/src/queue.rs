//! The queue behaviour suite: what every `Queue` provider must do. A provider is done when
//! [`queue_suite`] passes on it.
//!
//! Lease-dependent cases ask for short leases (400 ms). A provider without
//! `lease_per_claim` must be built with a short fixed lease (about a second) for the suite;
//! the cases read `Delivery::lease_expires_at` rather than assuming the requested length.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use keel_core::queue::{ClaimRequest, Delivery, Nack, NewMessage, Queue, QueueStats};
use keel_core::Error;
use serde_json::json;

use crate::{eventually, random_name};

/// Runs every queue behaviour against providers made by `make` (called once per behaviour).
/// Each behaviour uses a fresh random queue name and purges it at the end. Panics, naming
/// the behaviour, on the first failure.
pub async fn queue_suite<F>(make: F)
where
    F: Fn() -> BoxFuture<'static, Arc<dyn Queue>>,
{
    let cases: [(&str, Case); 15] = [
        ("push_claim_ack", |q, n| Box::pin(push_claim_ack(q, n))),
        ("priority_then_fifo", |q, n| Box::pin(priority_then_fifo(q, n))),
        ("delay_hides_until_due", |q, n| Box::pin(delay_hides_until_due(q, n))),
        ("lease_expiry_redelivers", |q, n| {
            Box::pin(lease_expiry_redelivers(q, n))
        }),
        ("nack_retries_later", |q, n| Box::pin(nack_retries_later(q, n))),
        ("dead_letter_after_max_deliveries", |q, n| {
            Box::pin(dead_letter_after_max_deliveries(q, n))
        }),
        ("expired_last_lease_dead_letters", |q, n| {
            Box::pin(expired_last_lease_dead_letters(q, n))
        }),
        ("nack_dead_and_requeue", |q, n| Box::pin(nack_dead_and_requeue(q, n))),
        ("extend_keeps_the_lease", |q, n| Box::pin(extend_keeps_the_lease(q, n))),
        ("ack_many_acks_held_leases_only", |q, n| {
            Box::pin(ack_many_acks_held_leases_only(q, n))
        }),
        ("stale_leases_are_refused", |q, n| {
            Box::pin(stale_leases_are_refused(q, n))
        }),
        ("concurrent_consumers_each_once", |q, n| {
            Box::pin(concurrent_consumers_each_once(q, n))
        }),
        ("push_many_is_all_or_none", |q, n| {
            Box::pin(push_many_is_all_or_none(q, n))
        }),
        ("claim_waits_for_a_push", |q, n| Box::pin(claim_waits_for_a_push(q, n))),
        ("queues_are_isolated_and_validated", |q, n| {
            Box::pin(queues_are_isolated_and_validated(q, n))
        }),
    ];
    for (name, case) in cases {
        let queue = make().await;
        let qname = random_name();
        println!("queue suite [{}]: {name}", queue.name());
        case(queue.clone(), qname.clone()).await;
        queue.purge(&qname).await.unwrap();
        assert_eq!(
            queue.stats(&qname).await.unwrap(),
            QueueStats::default(),
            "{name}: purge left messages"
        );
    }
}

type Case = fn(Arc<dyn Queue>, String) -> BoxFuture<'static, ()>;

const SHORT: Duration = Duration::from_millis(400);
const LONG: Duration = Duration::from_secs(60);

async fn claim(q: &Arc<dyn Queue>, name: &str, max: usize, lease: Duration) -> Vec<Delivery> {
    q.claim(name, ClaimRequest::new(max, lease)).await.unwrap()
}

/// Claims until one message arrives (within `within`), then returns it.
async fn claim_eventually(q: &Arc<dyn Queue>, name: &str, lease: Duration, within: Duration, what: &str) -> Delivery {
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(d) = q.claim(name, ClaimRequest::new(1, lease)).await.unwrap().pop() {
            return d;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {within:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How long past `d`'s lease expiry to wait before it must be claimable again.
fn after_lease(d: &Delivery) -> Duration {
    let left = (d.lease_expires_at - chrono::Utc::now()).to_std().unwrap_or_default();
    left + Duration::from_secs(10)
}

fn is_conflict(r: &keel_core::Result<impl std::fmt::Debug>) -> bool {
    matches!(r, Err(Error::Conflict(_)))
}

async fn push_claim_ack(q: Arc<dyn Queue>, n: String) {
    assert_eq!(q.stats(&n).await.unwrap(), QueueStats::default());
    let id = q
        .push(&n, NewMessage::new(json!({"to": "a@b.c", "n": [1, 2]})))
        .await
        .unwrap();
    assert!(!id.is_empty());
    assert_eq!(q.stats(&n).await.unwrap().ready, 1);

    let got = claim(&q, &n, 10, LONG).await;
    assert_eq!(got.len(), 1, "one message pushed, one claimed");
    let d = &got[0];
    assert_eq!(d.id, id);
    assert_eq!(d.payload, json!({"to": "a@b.c", "n": [1, 2]}));
    assert_eq!(d.deliveries, 1);
    assert_eq!(d.priority, keel_core::queue::DEFAULT_PRIORITY);
    assert!(d.lease_expires_at > chrono::Utc::now());
    let s = q.stats(&n).await.unwrap();
    assert_eq!((s.ready, s.leased), (0, 1));

    assert!(
        claim(&q, &n, 10, LONG).await.is_empty(),
        "a held message is not claimed twice"
    );
    q.ack(&n, &d.lease).await.unwrap();
    assert_eq!(q.stats(&n).await.unwrap(), QueueStats::default());
    assert!(claim(&q, &n, 10, LONG).await.is_empty(), "an acked message is gone");
    assert!(
        is_conflict(&q.ack(&n, &d.lease).await),
        "a second ack of the same lease is refused"
    );
    q.ping().await.unwrap();
}

async fn priority_then_fifo(q: Arc<dyn Queue>, n: String) {
    for (tag, p) in [("a", 5), ("b", 9), ("c", 5), ("d", 0), ("e", 9), ("f", 5)] {
        q.push(&n, NewMessage::new(json!(tag)).priority(p)).await.unwrap();
    }
    let first = claim(&q, &n, 2, LONG).await;
    let rest = claim(&q, &n, 10, LONG).await;
    let order: Vec<_> = first.iter().chain(&rest).map(|d| d.payload.clone()).collect();
    assert_eq!(
        order,
        vec![json!("b"), json!("e"), json!("a"), json!("c"), json!("f"), json!("d")]
    );
    for d in first.iter().chain(&rest) {
        q.ack(&n, &d.lease).await.unwrap();
    }
}

async fn delay_hides_until_due(q: Arc<dyn Queue>, n: String) {
    q.push(&n, NewMessage::new(json!("later")).delay(Duration::from_millis(700)))
        .await
        .unwrap();
    q.push(&n, NewMessage::new(json!("now"))).await.unwrap();
    let s = q.stats(&n).await.unwrap();
    if q.capabilities().exact_stats {
        assert_eq!((s.ready, s.delayed), (1, 1));
    }
    assert_eq!(s.size(), 2);
    let got = claim(&q, &n, 10, LONG).await;
    assert_eq!(got.len(), 1, "the delayed message is not claimable yet");
    assert_eq!(got[0].payload, json!("now"));
    let later = claim_eventually(&q, &n, LONG, Duration::from_secs(10), "the delayed message to come due").await;
    assert_eq!(later.payload, json!("later"));
    assert_eq!(later.deliveries, 1, "waiting out a delay is not a delivery");
    q.ack(&n, &got[0].lease).await.unwrap();
    q.ack(&n, &later.lease).await.unwrap();
}

async fn lease_expiry_redelivers(q: Arc<dyn Queue>, n: String) {
    q.push(&n, NewMessage::new(json!("x"))).await.unwrap();
    let first = claim(&q, &n, 1, SHORT).await.pop().unwrap();
    assert!(claim(&q, &n, 1, SHORT).await.is_empty(), "held until the lease expires");
    let second = claim_eventually(&q, &n, LONG, after_lease(&first), "an expired lease to redeliver").await;
    assert_eq!(second.id, first.id);
    assert_eq!(second.deliveries, 2);
    assert_ne!(second.lease, first.lease, "each delivery has its own lease");
    assert!(
        is_conflict(&q.ack(&n, &first.lease).await),
        "the expired lease cannot ack"
    );
    q.ack(&n, &second.lease).await.unwrap();
    assert_eq!(q.stats(&n).await.unwrap().size(), 0);
}

async fn nack_retries_later(q: Arc<dyn Queue>, n: String) {
    q.push(&n, NewMessage::new(json!("retry me"))).await.unwrap();
    let d = claim(&q, &n, 1, LONG).await.pop().unwrap();
    q.nack(&n, &d.lease, Nack::Retry(Duration::from_millis(600)))
        .await
        .unwrap();
    assert!(claim(&q, &n, 1, LONG).await.is_empty(), "not before the retry time");
    assert_eq!(q.stats(&n).await.unwrap().size(), 1);
    let again = claim_eventually(&q, &n, LONG, Duration::from_secs(10), "the nacked message to come back").await;
    assert_eq!(again.id, d.id);
    assert_eq!(again.deliveries, 2);
    assert!(is_conflict(&q.nack(&n, &d.lease, Nack::Retry(Duration::ZERO)).await));
    q.ack(&n, &again.lease).await.unwrap();
}

async fn dead_letter_after_max_deliveries(q: Arc<dyn Queue>, n: String) {
    let id = q
        .push(&n, NewMessage::new(json!({"k": 1})).max_deliveries(2))
        .await
        .unwrap();
    let d1 = claim(&q, &n, 1, LONG).await.pop().unwrap();
    assert_eq!(d1.max_deliveries, 2);
    q.nack(&n, &d1.lease, Nack::Retry(Duration::ZERO)).await.unwrap();
    let d2 = claim_eventually(&q, &n, LONG, Duration::from_secs(10), "the first retry").await;
    assert_eq!(d2.deliveries, 2);
    q.nack(&n, &d2.lease, Nack::Retry(Duration::ZERO)).await.unwrap();
    assert!(
        claim(&q, &n, 1, LONG).await.is_empty(),
        "a message out of deliveries is not delivered"
    );
    let s = q.stats(&n).await.unwrap();
    assert_eq!((s.size(), s.dead), (0, 1));
    let dead = q.dead(&n, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].id.as_str(), dead[0].deliveries), (id.as_str(), 2));
    assert_eq!(dead[0].payload, json!({"k": 1}));
}

async fn expired_last_lease_dead_letters(q: Arc<dyn Queue>, n: String) {
    q.push(&n, NewMessage::new(json!("crashy")).max_deliveries(1))
        .await
        .unwrap();
    let d = claim(&q, &n, 1, SHORT).await.pop().unwrap();
    let within = after_lease(&d);
    eventually(within, "the expired last delivery to be dead-lettered", || {
        let q = q.clone();
        let n = n.clone();
        async move {
            assert!(
                q.claim(&n, ClaimRequest::new(1, LONG)).await.unwrap().is_empty(),
                "no delivery past the max"
            );
            q.stats(&n).await.unwrap().dead == 1
        }
    })
    .await;
    assert_eq!(q.stats(&n).await.unwrap().size(), 0);
}

async fn nack_dead_and_requeue(q: Arc<dyn Queue>, n: String) {
    let a = q.push(&n, NewMessage::new(json!("a"))).await.unwrap();
    let b = q.push(&n, NewMessage::new(json!("b"))).await.unwrap();
    for d in claim(&q, &n, 2, LONG).await {
        q.nack(&n, &d.lease, Nack::Dead).await.unwrap();
    }
    let s = q.stats(&n).await.unwrap();
    assert_eq!((s.size(), s.dead), (0, 2));
    assert_eq!(q.requeue_dead(&n, std::slice::from_ref(&b)).await.unwrap(), 1);
    let d = claim(&q, &n, 10, LONG).await;
    assert_eq!(d.len(), 1);
    assert_eq!(
        (d[0].id.as_str(), d[0].deliveries),
        (b.as_str(), 1),
        "requeued with fresh deliveries"
    );
    q.ack(&n, &d[0].lease).await.unwrap();
    assert_eq!(q.requeue_dead(&n, &[]).await.unwrap(), 1);
    let d = claim(&q, &n, 10, LONG).await;
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].id, a);
    q.ack(&n, &d[0].lease).await.unwrap();
    assert_eq!(q.stats(&n).await.unwrap(), QueueStats::default());
}

async fn extend_keeps_the_lease(q: Arc<dyn Queue>, n: String) {
    q.push(&n, NewMessage::new(json!("slow"))).await.unwrap();
    let d = claim(&q, &n, 1, SHORT).await.pop().unwrap();
    // Halfway through the lease, extend it; a quarter lease past the original expiry, the
    // message is still held (a fixed-lease provider restarts its full lease on extend).
    let lease = (d.lease_expires_at - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(lease / 2).await;
    let until = q.extend(&n, &d.lease, Duration::from_secs(30)).await.unwrap();
    assert!(until > d.lease_expires_at, "extending moves the expiry forward");
    tokio::time::sleep(lease / 2 + lease / 4).await;
    assert!(
        claim(&q, &n, 1, LONG).await.is_empty(),
        "an extended lease is still held"
    );
    q.ack(&n, &d.lease).await.unwrap();
    assert!(is_conflict(&q.extend(&n, &d.lease, Duration::from_secs(1)).await));
}

async fn ack_many_acks_held_leases_only(q: Arc<dyn Queue>, n: String) {
    for i in 0..3 {
        q.push(&n, NewMessage::new(json!(i))).await.unwrap();
    }
    let got = claim(&q, &n, 3, LONG).await;
    assert_eq!(got.len(), 3);
    let leases = vec![
        got[0].lease.clone(),
        got[1].lease.clone(),
        "nonsense".to_string(),
        got[1].lease.clone(),
    ];
    assert_eq!(
        q.ack_many(&n, &leases).await.unwrap(),
        vec![true, true, false, false],
        "held leases are acked once; a made-up or already acked one is not"
    );
    let s = q.stats(&n).await.unwrap();
    assert_eq!((s.ready, s.leased), (0, 1), "the third message is still leased");
    assert!(is_conflict(&q.ack(&n, &got[0].lease).await), "an acked message is gone");
    assert_eq!(q.ack_many(&n, &[]).await.unwrap(), Vec::<bool>::new());
    q.ack(&n, &got[2].lease).await.unwrap();
}

async fn stale_leases_are_refused(q: Arc<dyn Queue>, n: String) {
    q.push(&n, NewMessage::new(json!(1))).await.unwrap();
    let d = claim(&q, &n, 1, LONG).await.pop().unwrap();
    for bogus in ["", "nonsense", "0:0:0"] {
        let r = q.ack(&n, bogus).await;
        assert!(
            matches!(r, Err(Error::Conflict(_)) | Err(Error::BadRequest { .. })),
            "a made-up lease {bogus:?} must be a 409 or 400, got {r:?}"
        );
    }
    // A real lease of another queue does not work here.
    let other = format!("{n}-other");
    assert!(matches!(
        q.ack(&other, &d.lease).await,
        Err(Error::Conflict(_)) | Err(Error::BadRequest { .. })
    ));
    q.ack(&n, &d.lease).await.unwrap();
    q.purge(&other).await.unwrap();
}

async fn concurrent_consumers_each_once(q: Arc<dyn Queue>, n: String) {
    const TOTAL: usize = 300;
    for chunk in (0..TOTAL).collect::<Vec<_>>().chunks(100) {
        let msgs = chunk.iter().map(|i| NewMessage::new(json!(i))).collect();
        q.push_many(&n, msgs).await.unwrap();
    }
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let q = q.clone();
        let n = n.clone();
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            loop {
                let batch = q.claim(&n, ClaimRequest::new(7, LONG)).await.unwrap();
                if batch.is_empty() {
                    break;
                }
                for d in batch {
                    seen.push(d.payload.as_u64().unwrap());
                    q.ack(&n, &d.lease).await.unwrap();
                }
            }
            seen
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let distinct: HashSet<_> = all.iter().copied().collect();
    assert_eq!(
        all.len(),
        TOTAL,
        "every message processed exactly once (no duplicates, none lost)"
    );
    assert_eq!(distinct.len(), TOTAL);
    assert_eq!(q.stats(&n).await.unwrap(), QueueStats::default());
}

async fn push_many_is_all_or_none(q: Arc<dyn Queue>, n: String) {
    let bad = vec![NewMessage::new(json!(1)), NewMessage::new(json!(2)).priority(42)];
    assert!(matches!(q.push_many(&n, bad).await, Err(Error::BadRequest { .. })));
    assert_eq!(
        q.stats(&n).await.unwrap(),
        QueueStats::default(),
        "nothing of a refused batch is kept"
    );
    let ids = q
        .push_many(&n, vec![NewMessage::new(json!(1)), NewMessage::new(json!(2))])
        .await
        .unwrap();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
    let got = claim(&q, &n, 10, LONG).await;
    let got_ids: Vec<_> = got.iter().map(|d| d.id.clone()).collect();
    assert_eq!(got_ids, ids, "same priority: push order");
    for d in got {
        q.ack(&n, &d.lease).await.unwrap();
    }
}

async fn claim_waits_for_a_push(q: Arc<dyn Queue>, n: String) {
    let waiter = {
        let q = q.clone();
        let n = n.clone();
        tokio::spawn(async move {
            q.claim(&n, ClaimRequest::new(5, LONG).wait(Duration::from_secs(20)))
                .await
        })
    };
    // Give the claim time to find the queue empty and start waiting, so the push below
    // exercises the wake-up (the assertions hold either way).
    tokio::time::sleep(Duration::from_millis(200)).await;
    q.push(&n, NewMessage::new(json!("wake"))).await.unwrap();
    let got = waiter.await.unwrap().unwrap();
    assert_eq!(got.len(), 1, "a waiting claim returns the message pushed meanwhile");
    assert_eq!(got[0].payload, json!("wake"));
    q.ack(&n, &got[0].lease).await.unwrap();
    // With nothing to claim, a short wait returns empty.
    let none = q
        .claim(&n, ClaimRequest::new(1, LONG).wait(Duration::from_millis(200)))
        .await
        .unwrap();
    assert!(none.is_empty());
}

async fn queues_are_isolated_and_validated(q: Arc<dyn Queue>, n: String) {
    let other = format!("{n}-2");
    q.push(&n, NewMessage::new(json!("mine"))).await.unwrap();
    assert!(claim(&q, &other, 10, LONG).await.is_empty());
    assert_eq!(q.stats(&other).await.unwrap(), QueueStats::default());
    assert_eq!(q.purge(&other).await.unwrap(), 0);
    assert_eq!(q.stats(&n).await.unwrap().ready, 1);
    assert_eq!(q.purge(&n).await.unwrap(), 1);

    let bad_request = |r: keel_core::Result<_>| matches!(r, Err(Error::BadRequest { .. }));
    assert!(bad_request(
        q.push("bad name!", NewMessage::new(json!(1))).await.map(|_| ())
    ));
    assert!(bad_request(
        q.push(&n, NewMessage::new(json!(1)).priority(-1)).await.map(|_| ())
    ));
    assert!(bad_request(
        q.push(&n, NewMessage::new(json!(1)).max_deliveries(0))
            .await
            .map(|_| ())
    ));
    assert!(bad_request(q.claim(&n, ClaimRequest::new(0, LONG)).await.map(|_| ())));
    assert!(bad_request(
        q.claim(&n, ClaimRequest::new(1, Duration::ZERO)).await.map(|_| ())
    ));
    let big = json!("x".repeat(keel_core::queue::MAX_PAYLOAD_BYTES + 1));
    assert!(matches!(
        q.push(&n, NewMessage::new(big)).await,
        Err(Error::TooLarge(_))
    ));
    assert_eq!(
        q.stats(&n).await.unwrap(),
        QueueStats::default(),
        "refused pushes store nothing"
    );
}
