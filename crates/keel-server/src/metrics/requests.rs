//! The request counter and duration histogram of each (method, route template, status),
//! registered once and kept.
//!
//! `metrics::counter!(name, &labels)` builds the metric's key on every call (the three
//! labels copied into a new vector, the key hashed) and looks it up in the recorder's
//! registry, for the counter and again for the histogram: with the label strings made for it,
//! a dozen allocations and two registry lookups a request (3-5 % of a record view,
//! callgrind). The handles it returns stay valid for the life of the global recorder, which
//! never changes once set, so each combination's pair is kept here after its first request
//! and later requests find it with one hash of the route template and no allocation.

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

use metrics::{Counter, Histogram};

use crate::middleware::{REQUESTS_TOTAL, REQUEST_DURATION};

/// A (method, status) pair's handles, kept per route template.
type Handles = (&'static str, u16, Counter, Histogram);

/// Route template → the handles of each (method, status) seen on it. The set is bounded:
/// templates come from the router, methods are mapped to a fixed set of labels, and a route
/// answers a handful of statuses.
static KEPT: OnceLock<RwLock<HashMap<String, Vec<Handles>>>> = OnceLock::new();

/// Counts one request and records its duration in seconds. `keep` says whether the handles
/// may be kept: only once Keel's recorder is installed (before that, `metrics` hands out
/// handles that record nothing, and a kept one would stay so).
pub(crate) fn record(keep: bool, method: &'static str, route: &str, status: u16, seconds: f64) {
    if !keep {
        let (counter, histogram) = register(method, route, status);
        counter.increment(1);
        histogram.record(seconds);
        return;
    }
    let kept = KEPT.get_or_init(Default::default);
    {
        let map = kept.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let found = map
            .get(route)
            .and_then(|pairs| pairs.iter().find(|(m, s, _, _)| *m == method && *s == status));
        if let Some((_, _, counter, histogram)) = found {
            counter.increment(1);
            histogram.record(seconds);
            return;
        }
    }
    let (counter, histogram) = register(method, route, status);
    counter.increment(1);
    histogram.record(seconds);
    let mut map = kept.write().unwrap_or_else(|poisoned| poisoned.into_inner());
    let pairs = map.entry(route.to_owned()).or_default();
    // Another request may have kept the same pair meanwhile: both handles are the same metric.
    if !pairs.iter().any(|(m, s, _, _)| *m == method && *s == status) {
        pairs.push((method, status, counter, histogram));
    }
}

/// The counter and histogram of one (method, route, status), from the global recorder.
fn register(method: &'static str, route: &str, status: u16) -> (Counter, Histogram) {
    let labels = [
        ("method", method.to_owned()),
        ("route", route.to_owned()),
        ("status", status.to_string()),
    ];
    (
        metrics::counter!(REQUESTS_TOTAL, &labels),
        metrics::histogram!(REQUEST_DURATION, &labels),
    )
}
