//! The cache behaviour suite: what every `Cache` provider must do. A provider is done when
//! [`cache_suite`] passes on it.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use keel_core::cache::{Cache, CacheEntry};
use keel_core::Error;
use serde_json::{json, Value};

use crate::{eventually, random_name};

/// Runs every cache behaviour against providers made by `make` (called once per behaviour).
/// Each behaviour uses a fresh random namespace and clears it at the end. Panics, naming the
/// behaviour, on the first failure.
pub async fn cache_suite<F>(make: F)
where
    F: Fn() -> BoxFuture<'static, Arc<dyn Cache>>,
{
    let cases: [(&str, Case); 11] = [
        ("get_set_delete_exists", |c, ns| Box::pin(get_set_delete_exists(c, ns))),
        ("ttl_expires", |c, ns| Box::pin(ttl_expires(c, ns))),
        ("incr_is_atomic", |c, ns| Box::pin(incr_is_atomic(c, ns))),
        ("incr_creates_a_counter_with_its_ttl", |c, ns| {
            Box::pin(incr_creates_a_counter_with_its_ttl(c, ns))
        }),
        ("incr_refuses_non_integers", |c, ns| {
            Box::pin(incr_refuses_non_integers(c, ns))
        }),
        ("get_set_many", |c, ns| Box::pin(get_set_many(c, ns))),
        ("tags_invalidate", |c, ns| Box::pin(tags_invalidate(c, ns))),
        ("clear_touches_only_its_namespace", |c, ns| {
            Box::pin(clear_touches_only_its_namespace(c, ns))
        }),
        ("stats_count_hits_and_misses", |c, ns| {
            Box::pin(stats_count_hits_and_misses(c, ns))
        }),
        ("json_round_trips", |c, ns| Box::pin(json_round_trips(c, ns))),
        ("namespaces_isolate", |c, ns| Box::pin(namespaces_isolate(c, ns))),
    ];
    for (name, case) in cases {
        let cache = make().await;
        let ns = random_name();
        println!("cache suite [{}]: {name}", cache.name());
        case(cache.clone(), ns.clone()).await;
        cache.clear(&ns).await.unwrap();
    }
}

type Case = fn(Arc<dyn Cache>, String) -> BoxFuture<'static, ()>;

fn tags(t: &[&str]) -> Vec<String> {
    t.iter().map(|s| s.to_string()).collect()
}

async fn get_set_delete_exists(c: Arc<dyn Cache>, ns: String) {
    assert_eq!(c.get(&ns, "a").await.unwrap(), None);
    assert!(!c.exists(&ns, "a").await.unwrap());
    c.set(&ns, "a", json!("one"), None, &[]).await.unwrap();
    assert_eq!(c.get(&ns, "a").await.unwrap(), Some(json!("one")));
    assert!(c.exists(&ns, "a").await.unwrap());
    c.set(&ns, "a", json!("two"), None, &[]).await.unwrap();
    assert_eq!(c.get(&ns, "a").await.unwrap(), Some(json!("two")));
    assert!(c.delete(&ns, "a").await.unwrap());
    assert!(!c.delete(&ns, "a").await.unwrap());
    assert!(!c.exists(&ns, "a").await.unwrap());
    assert_eq!(c.get(&ns, "a").await.unwrap(), None);
    c.ping().await.unwrap();
}

async fn ttl_expires(c: Arc<dyn Cache>, ns: String) {
    c.set(&ns, "short", json!(1), Some(Duration::from_millis(300)), &[])
        .await
        .unwrap();
    c.set(&ns, "long", json!(2), Some(Duration::from_secs(600)), &[])
        .await
        .unwrap();
    c.set(&ns, "forever", json!(3), None, &[]).await.unwrap();
    eventually(Duration::from_secs(10), "the short-TTL key to expire", || {
        let c = c.clone();
        let ns = ns.clone();
        async move { c.get(&ns, "short").await.unwrap().is_none() }
    })
    .await;
    assert!(!c.exists(&ns, "short").await.unwrap());
    assert_eq!(c.get(&ns, "long").await.unwrap(), Some(json!(2)));
    assert_eq!(c.get(&ns, "forever").await.unwrap(), Some(json!(3)));
    // A set without a TTL replaces the TTL.
    c.set(&ns, "long", json!(4), None, &[]).await.unwrap();
    assert_eq!(c.get(&ns, "long").await.unwrap(), Some(json!(4)));
}

async fn incr_is_atomic(c: Arc<dyn Cache>, ns: String) {
    assert_eq!(c.incr(&ns, "n", 5, None).await.unwrap(), 5);
    assert_eq!(c.incr(&ns, "n", -2, None).await.unwrap(), 3);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let c = c.clone();
            let ns = ns.clone();
            tokio::spawn(async move {
                for _ in 0..10 {
                    c.incr(&ns, "counter", 1, None).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(c.get(&ns, "counter").await.unwrap(), Some(json!(500)));
    assert_eq!(c.incr(&ns, "counter", 0, None).await.unwrap(), 500);
    // incr on a value set as a JSON integer works, and keeps the TTL.
    c.set(&ns, "ttl", json!(10), Some(Duration::from_millis(300)), &[])
        .await
        .unwrap();
    // A TTL given to incr does not replace the key's own.
    assert_eq!(
        c.incr(&ns, "ttl", 1, Some(Duration::from_secs(3600))).await.unwrap(),
        11
    );
    eventually(Duration::from_secs(10), "the incremented key to keep its TTL", || {
        let c = c.clone();
        let ns = ns.clone();
        async move { !c.exists(&ns, "ttl").await.unwrap() }
    })
    .await;
}

async fn incr_creates_a_counter_with_its_ttl(c: Arc<dyn Cache>, ns: String) {
    // Parallel first increments of a window counter: exactly one creates it, every one counts,
    // and the counter expires with the TTL of its creation.
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let c = c.clone();
            let ns = ns.clone();
            tokio::spawn(async move {
                c.incr(&ns, "window", 1, Some(Duration::from_millis(600)))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut seen = Vec::new();
    for t in tasks {
        seen.push(t.await.unwrap());
    }
    seen.sort_unstable();
    assert_eq!(seen, (1..=40).collect::<Vec<i64>>(), "each increment counted once");
    // No TTL given: the counter lives on.
    assert_eq!(c.incr(&ns, "forever", 1, None).await.unwrap(), 1);
    eventually(Duration::from_secs(10), "the window counter to expire", || {
        let c = c.clone();
        let ns = ns.clone();
        async move { !c.exists(&ns, "window").await.unwrap() }
    })
    .await;
    assert!(c.exists(&ns, "forever").await.unwrap());
    // Once expired, the next increment starts a new window from zero.
    assert_eq!(
        c.incr(&ns, "window", 1, Some(Duration::from_secs(60))).await.unwrap(),
        1
    );
}

async fn incr_refuses_non_integers(c: Arc<dyn Cache>, ns: String) {
    for (key, v) in [
        ("s", json!("abc")),
        ("f", json!(1.5)),
        ("o", json!({"a": 1})),
        ("q", json!("5")),
    ] {
        c.set(&ns, key, v.clone(), None, &[]).await.unwrap();
        let err = c.incr(&ns, key, 1, None).await.unwrap_err();
        assert!(matches!(err, Error::BadRequest { .. }), "{key}: {err:?}");
        assert_eq!(c.get(&ns, key).await.unwrap(), Some(v), "{key} must be unchanged");
    }
    c.set(&ns, "max", json!(i64::MAX), None, &[]).await.unwrap();
    let err = c.incr(&ns, "max", 1, None).await.unwrap_err();
    assert!(matches!(err, Error::BadRequest { .. }), "overflow: {err:?}");
}

async fn get_set_many(c: Arc<dyn Cache>, ns: String) {
    let entries = (0..5)
        .map(|i| CacheEntry {
            key: format!("k{i}"),
            value: json!({"i": i}),
            ttl: None,
            tags: Vec::new(),
        })
        .collect();
    c.set_many(&ns, entries).await.unwrap();
    c.set_many(&ns, Vec::new()).await.unwrap();
    let keys: Vec<String> = ["k0", "missing", "k4", "k2"].iter().map(|s| s.to_string()).collect();
    let got = c.get_many(&ns, &keys).await.unwrap();
    assert_eq!(
        got,
        vec![
            Some(json!({"i": 0})),
            None,
            Some(json!({"i": 4})),
            Some(json!({"i": 2}))
        ]
    );
    assert_eq!(c.get_many(&ns, &[]).await.unwrap(), Vec::<Option<Value>>::new());
}

async fn tags_invalidate(c: Arc<dyn Cache>, ns: String) {
    if !c.capabilities().tags {
        return;
    }
    c.set(&ns, "u1", json!(1), None, &tags(&["users"])).await.unwrap();
    c.set(
        &ns,
        "u2",
        json!(2),
        Some(Duration::from_secs(600)),
        &tags(&["users", "hot"]),
    )
    .await
    .unwrap();
    c.set(&ns, "p1", json!(3), None, &tags(&["posts"])).await.unwrap();
    c.set(&ns, "h1", json!(4), None, &tags(&["hot"])).await.unwrap();
    c.set(&ns, "plain", json!(5), None, &[]).await.unwrap();
    c.set_many(
        &ns,
        vec![CacheEntry {
            key: "u3".into(),
            value: json!(6),
            ttl: None,
            tags: tags(&["users"]),
        }],
    )
    .await
    .unwrap();
    assert_eq!(c.invalidate_tags(&ns, &tags(&["users"])).await.unwrap(), 3);
    for k in ["u1", "u2", "u3"] {
        assert!(!c.exists(&ns, k).await.unwrap(), "{k} must be gone");
    }
    for k in ["p1", "h1", "plain"] {
        assert!(c.exists(&ns, k).await.unwrap(), "{k} must stay");
    }
    assert_eq!(c.invalidate_tags(&ns, &tags(&["users"])).await.unwrap(), 0);
    assert_eq!(c.invalidate_tags(&ns, &tags(&["nope"])).await.unwrap(), 0);
    assert_eq!(c.invalidate_tags(&ns, &tags(&["posts", "hot"])).await.unwrap(), 2);
    assert!(c.exists(&ns, "plain").await.unwrap());
    // Tags are per namespace.
    let other = random_name();
    c.set(&other, "x", json!(1), None, &tags(&["t"])).await.unwrap();
    c.set(&ns, "x", json!(1), None, &tags(&["t"])).await.unwrap();
    assert_eq!(c.invalidate_tags(&ns, &tags(&["t"])).await.unwrap(), 1);
    assert!(c.exists(&other, "x").await.unwrap());
    c.clear(&other).await.unwrap();
}

async fn clear_touches_only_its_namespace(c: Arc<dyn Cache>, ns: String) {
    let other = random_name();
    for i in 0..3 {
        c.set(&ns, &format!("k{i}"), json!(i), None, &tags(&["t"]))
            .await
            .unwrap();
    }
    c.set(&other, "k0", json!("other"), None, &tags(&["t"])).await.unwrap();
    assert_eq!(c.clear(&ns).await.unwrap(), 3);
    assert!(!c.exists(&ns, "k0").await.unwrap());
    assert_eq!(c.get(&other, "k0").await.unwrap(), Some(json!("other")));
    assert_eq!(c.clear(&ns).await.unwrap(), 0);
    assert_eq!(c.clear(&other).await.unwrap(), 1);
}

async fn stats_count_hits_and_misses(c: Arc<dyn Cache>, ns: String) {
    let s = c.stats(&ns).await.unwrap();
    assert_eq!((s.hits, s.misses), (0, 0));
    c.set(&ns, "a", json!(1), None, &[]).await.unwrap();
    c.get(&ns, "a").await.unwrap();
    c.get(&ns, "a").await.unwrap();
    c.get(&ns, "nope").await.unwrap();
    c.get_many(&ns, &tags(&["a", "nope", "nope2"])).await.unwrap();
    let s = c.stats(&ns).await.unwrap();
    assert_eq!((s.hits, s.misses), (3, 3), "{s:?}");
    if let Some(keys) = s.keys {
        assert_eq!(keys, 1);
    }
    // Another namespace's counters are its own.
    let other = random_name();
    let o = c.stats(&other).await.unwrap();
    assert_eq!((o.hits, o.misses), (0, 0));
    c.clear(&ns).await.unwrap();
    let s = c.stats(&ns).await.unwrap();
    assert_eq!((s.hits, s.misses), (0, 0), "clear resets the counters");
}

async fn json_round_trips(c: Arc<dyn Cache>, ns: String) {
    let values = [
        json!(null),
        json!(true),
        json!(0),
        json!(-42),
        json!(i64::MAX),
        json!(1.25),
        json!(""),
        json!("héllo \"wörld\" \n ✓"),
        json!([1, "two", [3], {"four": 4}]),
        json!({"nested": {"a": [1, 2, {"b": null}]}, "z": 1, "a": 2}),
    ];
    for (i, v) in values.iter().enumerate() {
        let key = format!("v{i}");
        c.set(&ns, &key, v.clone(), None, &[]).await.unwrap();
        assert_eq!(c.get(&ns, &key).await.unwrap().as_ref(), Some(v), "{key}");
    }
}

async fn namespaces_isolate(c: Arc<dyn Cache>, ns: String) {
    let other = random_name();
    c.set(&ns, "k", json!("mine"), None, &[]).await.unwrap();
    assert_eq!(c.get(&other, "k").await.unwrap(), None);
    assert!(!c.exists(&other, "k").await.unwrap());
    assert!(!c.delete(&other, "k").await.unwrap());
    assert_eq!(c.incr(&other, "k", 1, None).await.unwrap(), 1);
    assert_eq!(c.get(&ns, "k").await.unwrap(), Some(json!("mine")));
    c.clear(&other).await.unwrap();
}
