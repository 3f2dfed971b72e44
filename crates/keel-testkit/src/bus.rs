//! The event-bus behaviour suite: what every `EventBus` provider must do (the guarantees in
//! `keel_core::bus`). A provider is done when [`bus_suite`] passes on it.
//!
//! The suite asks its runner for *processes*: each call of `make(channel)` is a provider
//! instance with its own engine connections, as another `keel serve` would have, in the
//! namespace `channel`. A runner whose bus cannot cross processes (`local`) hands back the
//! same instance for the same channel.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use keel_core::bus::{BusDelivery, BusMessage, BusSubscription, EventBus, MAX_PAYLOAD, SUBSCRIPTION_BUFFER};
use keel_core::Error;

use crate::{eventually, random_name};

/// Cuts an instance's connection to its engine (the engine ends it, as a restart or a network
/// failure would); the provider must reconnect by itself.
pub type Cut = Arc<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

/// One provider instance (one "process").
pub struct BusInstance {
    pub bus: Arc<dyn EventBus>,
    /// How to cut its engine connection; `None` when it has none (`local`).
    pub cut: Option<Cut>,
}

/// Makes an instance in a namespace (`[events] channel`).
pub type MakeBus = Arc<dyn Fn(String) -> BoxFuture<'static, BusInstance> + Send + Sync>;

/// How long any one delivery may take before the suite fails.
const WAIT: Duration = Duration::from_secs(30);

/// Runs every behaviour against instances made by `make`, each behaviour in a fresh random
/// channel. Panics, naming the behaviour, on the first failure.
pub async fn bus_suite(make: MakeBus) {
    let cases: [(&str, Case); 10] = [
        ("hears_itself", |m, ch| Box::pin(hears_itself(m, ch))),
        ("another_process_hears_it", |m, ch| {
            Box::pin(another_process_hears_it(m, ch))
        }),
        ("channels_isolate", |m, ch| Box::pin(channels_isolate(m, ch))),
        ("prefixes_filter", |m, ch| Box::pin(prefixes_filter(m, ch))),
        ("per_topic_order_under_1000_publishes", |m, ch| {
            Box::pin(per_topic_order_under_1000_publishes(m, ch))
        }),
        ("large_payloads_arrive_whole", |m, ch| {
            Box::pin(large_payloads_arrive_whole(m, ch))
        }),
        ("bad_input_is_refused", |m, ch| Box::pin(bad_input_is_refused(m, ch))),
        ("a_dropped_subscription_ends", |m, ch| {
            Box::pin(a_dropped_subscription_ends(m, ch))
        }),
        ("a_slow_subscriber_gets_a_gap_then_continues", |m, ch| {
            Box::pin(a_slow_subscriber_gets_a_gap_then_continues(m, ch))
        }),
        ("a_lost_connection_is_a_gap_then_delivery_resumes", |m, ch| {
            Box::pin(a_lost_connection_is_a_gap_then_delivery_resumes(m, ch))
        }),
    ];
    for (name, case) in cases {
        let channel = random_name();
        println!("bus suite: {name}");
        case(make.clone(), channel).await;
    }
}

type Case = fn(MakeBus, String) -> BoxFuture<'static, ()>;

fn msg(topic: &str, payload: impl Into<Bytes>) -> BusMessage {
    BusMessage {
        topic: topic.to_string(),
        payload: payload.into(),
    }
}

/// The next message, skipping gaps (a provider may report a gap it cannot rule out, e.g. its
/// connection settling at start); fails after [`WAIT`].
async fn next_message(sub: &mut BusSubscription) -> BusMessage {
    loop {
        match tokio::time::timeout(WAIT, sub.recv()).await {
            Ok(Some(BusDelivery::Message(m))) => return m,
            Ok(Some(BusDelivery::Gap)) => continue,
            Ok(None) => panic!("the subscription ended"),
            Err(_) => panic!("no message within {WAIT:?}"),
        }
    }
}

/// Messages until (and with) the first on `topic`.
async fn messages_until(sub: &mut BusSubscription, topic: &str) -> Vec<BusMessage> {
    let mut out = Vec::new();
    loop {
        let m = next_message(sub).await;
        let done = m.topic == topic;
        out.push(m);
        if done {
            return out;
        }
    }
}

async fn hears_itself(make: MakeBus, ch: String) {
    let a = make(ch).await.bus;
    let mut sub = a.subscribe("").await.unwrap();
    a.publish("hello", Bytes::from_static(b"{\"n\":1}")).await.unwrap();
    assert_eq!(next_message(&mut sub).await, msg("hello", &b"{\"n\":1}"[..]));
}

async fn another_process_hears_it(make: MakeBus, ch: String) {
    let a = make(ch.clone()).await.bus;
    let b = make(ch).await.bus;
    let mut on_b = b.subscribe("").await.unwrap();
    let mut on_a = a.subscribe("").await.unwrap();
    a.publish("records.posts", Bytes::from_static(b"from a")).await.unwrap();
    b.publish("records.posts", Bytes::from_static(b"from b")).await.unwrap();
    let want = [
        msg("records.posts", &b"from a"[..]),
        msg("records.posts", &b"from b"[..]),
    ];
    for sub in [&mut on_a, &mut on_b] {
        let mut got = vec![next_message(sub).await, next_message(sub).await];
        got.sort_by(|x, y| x.payload.cmp(&y.payload));
        assert_eq!(got, want);
    }
}

async fn channels_isolate(make: MakeBus, ch: String) {
    let a = make(ch).await.bus;
    let other = make(random_name()).await.bus;
    let mut sub = other.subscribe("").await.unwrap();
    let mut on_a = a.subscribe("").await.unwrap();
    a.publish("x", Bytes::from_static(b"not for other")).await.unwrap();
    // Once `a` heard its own message it has crossed the engine; `other` must not hear it.
    assert_eq!(next_message(&mut on_a).await.topic, "x");
    other.publish("y", Bytes::from_static(b"own")).await.unwrap();
    assert_eq!(next_message(&mut sub).await, msg("y", &b"own"[..]));
}

async fn prefixes_filter(make: MakeBus, ch: String) {
    let a = make(ch.clone()).await.bus;
    let b = make(ch).await.bus;
    let mut all = b.subscribe("").await.unwrap();
    let mut records = b.subscribe("records.").await.unwrap();
    let mut users = b.subscribe("records.users").await.unwrap();
    for topic in [
        "records.users",
        "records.posts",
        "schema",
        "records.users/abc",
        "recordsX",
    ] {
        a.publish(topic, Bytes::from(topic.to_string())).await.unwrap();
    }
    // `all` hearing the last message means this process's fan-out handled every one before it.
    let heard: Vec<String> = messages_until(&mut all, "recordsX")
        .await
        .into_iter()
        .map(|m| m.topic)
        .collect();
    assert_eq!(heard.len(), 5, "{heard:?}");
    a.publish("records.users.end", Bytes::new()).await.unwrap();
    let topics = |v: Vec<BusMessage>| v.into_iter().map(|m| m.topic).collect::<Vec<_>>();
    let mut got = topics(messages_until(&mut records, "records.users.end").await);
    got.sort();
    assert_eq!(
        got,
        [
            "records.posts",
            "records.users",
            "records.users.end",
            "records.users/abc"
        ]
    );
    let mut got = topics(messages_until(&mut users, "records.users.end").await);
    got.sort();
    assert_eq!(got, ["records.users", "records.users.end", "records.users/abc"]);
}

async fn per_topic_order_under_1000_publishes(make: MakeBus, ch: String) {
    let a = make(ch.clone()).await.bus;
    let b = make(ch).await.bus;
    let mut on_a = a.subscribe("order.").await.unwrap();
    let mut on_b = b.subscribe("order.").await.unwrap();
    for i in 0..1000u32 {
        let topic = if i % 3 == 0 { "order.b" } else { "order.a" };
        a.publish(topic, Bytes::from(i.to_string())).await.unwrap();
    }
    for sub in [&mut on_a, &mut on_b] {
        let (mut seen_a, mut seen_b) = (Vec::new(), Vec::new());
        while seen_a.len() + seen_b.len() < 1000 {
            let m = next_message(sub).await;
            let n: u32 = std::str::from_utf8(&m.payload).unwrap().parse().unwrap();
            if m.topic == "order.a" {
                seen_a.push(n);
            } else {
                seen_b.push(n);
            }
        }
        let want_a: Vec<u32> = (0..1000).filter(|i| i % 3 != 0).collect();
        let want_b: Vec<u32> = (0..1000).filter(|i| i % 3 == 0).collect();
        assert_eq!(seen_a, want_a);
        assert_eq!(seen_b, want_b);
    }
}

async fn large_payloads_arrive_whole(make: MakeBus, ch: String) {
    let a = make(ch.clone()).await.bus;
    let b = make(ch).await.bus;
    let mut on_b = b.subscribe("big").await.unwrap();
    let mut on_a = a.subscribe("big").await.unwrap();
    let noise = |n: usize| Bytes::from((0..n).map(|_| rand::random::<u8>()).collect::<Vec<u8>>());
    let (largest, medium, small) = (noise(MAX_PAYLOAD), noise(9_000), noise(10));
    a.publish("big.1", largest.clone()).await.unwrap();
    a.publish("big.2", medium.clone()).await.unwrap();
    a.publish("big.3", small.clone()).await.unwrap();
    for sub in [&mut on_b, &mut on_a] {
        let mut got = [
            next_message(sub).await,
            next_message(sub).await,
            next_message(sub).await,
        ];
        got.sort_by(|x, y| x.topic.cmp(&y.topic));
        assert_eq!(got[0].payload.len(), MAX_PAYLOAD);
        assert!(
            got[0] == msg("big.1", largest.clone()),
            "the 1 MiB payload changed on the way"
        );
        assert!(
            got[1] == msg("big.2", medium.clone()),
            "the 9,000-byte payload changed on the way"
        );
        assert_eq!(got[2], msg("big.3", small.clone()));
    }
}

async fn bad_input_is_refused(make: MakeBus, ch: String) {
    let a = make(ch).await.bus;
    let long = "t".repeat(201);
    for topic in ["", "has space", "ümlaut", "a*b", long.as_str()] {
        let e = a.publish(topic, Bytes::new()).await.unwrap_err();
        assert!(matches!(e, Error::BadRequest { .. }), "topic {topic:?}: {e:?}");
    }
    let e = a
        .publish("ok", Bytes::from(vec![0u8; MAX_PAYLOAD + 1]))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::BadRequest { .. }), "{e:?}");
    a.publish(&"t".repeat(200), Bytes::new()).await.unwrap();
}

async fn a_dropped_subscription_ends(make: MakeBus, ch: String) {
    let a = make(ch).await.bus;
    let before = a.subscriptions();
    let keep = a.subscribe("").await.unwrap();
    let gone = a.subscribe("").await.unwrap();
    assert_eq!(a.subscriptions(), before + 2);
    drop(gone);
    assert_eq!(a.subscriptions(), before + 1);
    let mut keep = keep;
    a.publish("after.drop", Bytes::new()).await.unwrap();
    assert_eq!(next_message(&mut keep).await.topic, "after.drop");
    drop(keep);
    assert_eq!(a.subscriptions(), before);
}

async fn a_slow_subscriber_gets_a_gap_then_continues(make: MakeBus, ch: String) {
    let a = make(ch).await.bus;
    let mut slow = a.subscribe("flood").await.unwrap();
    let mut fast = a.subscribe("flood").await.unwrap();
    let total = SUBSCRIPTION_BUFFER + 50;
    // `fast` reads every 500 (well within its buffer) while `slow` reads nothing.
    for i in 0..total {
        a.publish("flood", Bytes::from(i.to_string())).await.unwrap();
        if i % 500 == 499 || i + 1 == total {
            let mut last = next_message(&mut fast).await;
            while last.payload != i.to_string() {
                last = next_message(&mut fast).await;
            }
        }
    }
    assert_eq!(
        tokio::time::timeout(WAIT, slow.recv()).await.unwrap(),
        Some(BusDelivery::Gap),
        "a subscriber that fell behind must learn it first"
    );
    // What its buffer holds follows, in order, then new messages.
    let first = next_message(&mut slow).await;
    assert_eq!(first.payload, Bytes::from("0"));
    a.publish("flood.after", Bytes::new()).await.unwrap();
    let rest = messages_until(&mut slow, "flood.after").await;
    assert_eq!(
        rest.len(),
        SUBSCRIPTION_BUFFER,
        "the buffer's messages, then the new one"
    );
}

async fn a_lost_connection_is_a_gap_then_delivery_resumes(make: MakeBus, ch: String) {
    let a = make(ch.clone()).await.bus;
    let b = make(ch).await;
    let Some(cut) = b.cut.clone() else {
        println!("bus suite [{}]: no engine connection to cut", b.bus.name());
        return;
    };
    let mut sub = b.bus.subscribe("").await.unwrap();
    a.publish("before", Bytes::new()).await.unwrap();
    assert_eq!(next_message(&mut sub).await.topic, "before");
    cut().await;
    match tokio::time::timeout(WAIT, sub.recv()).await {
        Ok(Some(BusDelivery::Gap)) => {}
        Ok(Some(BusDelivery::Message(m))) => panic!("a message before the gap: {m:?}"),
        Ok(None) => panic!("the subscription ended"),
        Err(_) => panic!("no gap within {WAIT:?} after the connection was cut"),
    }
    // The gap is reported once the provider listens again: what is published now arrives.
    a.publish("after", Bytes::from_static(b"1")).await.unwrap();
    assert_eq!(next_message(&mut sub).await, msg("after", &b"1"[..]));
    // And it keeps publishing itself.
    let mut own = b.bus.subscribe("own").await.unwrap();
    eventually(WAIT, "the cut process to publish again", || {
        let bus = b.bus.clone();
        async move { bus.publish("own", Bytes::new()).await.is_ok() }
    })
    .await;
    assert_eq!(next_message(&mut own).await.topic, "own");
}
