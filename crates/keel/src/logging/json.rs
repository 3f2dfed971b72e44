//! The JSON line format: one object per event,
//! `{"timestamp","level",<event fields>,"target","span":{<span fields>,"name"}}`.
//!
//! It is the shape of `tracing_subscriber`'s JSON format with `flatten_event` and the current
//! span, written directly. A span's fields are written once, when the span is created, as the
//! JSON members [`SpanFields`] keeps (`,"a":1,"b":2`), and copied into each line. The stock
//! `JsonFields` built a map of them and serialized it for every span (~6,500 instructions a
//! request for the request span), and its format parsed them back for every event.

use std::fmt;

use serde::Serialize;
use tracing::field::{Field, Visit};
use tracing::{span, Event, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The span field formatter: each field as `,"name":value`, in the order recorded.
#[derive(Default)]
pub struct SpanFields;

impl<'w> FormatFields<'w> for SpanFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut text = Vec::with_capacity(96);
        fields.record(&mut Fields(&mut text));
        writer.write_str(&as_text(&text))
    }

    fn add_fields(&self, current: &'w mut FormattedFields<Self>, fields: &span::Record<'_>) -> fmt::Result {
        let mut text = Vec::new();
        fields.record(&mut Fields(&mut text));
        current.fields.push_str(&as_text(&text));
        Ok(())
    }
}

/// The event formatter (pair it with `.fmt_fields(SpanFields)`).
pub struct JsonLines;

impl<S> FormatEvent<S, SpanFields> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, SpanFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut line = Vec::with_capacity(256);
        line.extend_from_slice(b"{\"timestamp\":\"");
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        line.extend_from_slice(now.as_bytes());
        line.extend_from_slice(b"\",\"level\":\"");
        line.extend_from_slice(meta.level().as_str().as_bytes());
        line.push(b'"');
        event.record(&mut Fields(&mut line));
        line.extend_from_slice(b",\"target\":");
        json(&mut line, meta.target());
        if let Some(span) = ctx.lookup_current() {
            line.extend_from_slice(b",\"span\":{");
            let ext = span.extensions();
            if let Some(fields) = ext.get::<FormattedFields<SpanFields>>() {
                // `,"a":1,"b":2` → `"a":1,"b":2,`
                if let Some(inner) = fields.fields.strip_prefix(',') {
                    line.extend_from_slice(inner.as_bytes());
                    line.push(b',');
                }
            }
            line.extend_from_slice(b"\"name\":");
            json(&mut line, span.name());
            line.push(b'}');
        }
        line.extend_from_slice(b"}\n");
        writer.write_str(&as_text(&line))
    }
}

/// The bytes written above as text. Every piece is UTF-8 (serde_json output, ASCII, or text
/// already in a `str`), so the check passes and nothing is copied; `from_utf8_lossy` checked
/// them chunk by chunk at ~900 instructions for a request span's fields.
fn as_text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// Appends `v` as JSON.
fn json(out: &mut Vec<u8>, v: impl Serialize) {
    if serde_json::to_writer(&mut *out, &v).is_err() {
        out.extend_from_slice(b"null");
    }
}

/// Appends `s` as a JSON string: copied as it is when nothing in it needs escaping (a request
/// id, a method, a path: checked eight bytes at a time), else through serde_json, which looks
/// up every byte (~7 instructions a byte; the request span's three values cost ~1,200).
fn string(out: &mut Vec<u8>, s: &str) {
    if needs_escape(s.as_bytes()) {
        json(out, s);
        return;
    }
    out.reserve(s.len() + 2);
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.push(b'"');
}

/// Whether a byte of `s` is one JSON escapes: a control character, `"` or `\`.
fn needs_escape(s: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // Whether a byte of `x` is below `n` (n <= 128; bytes of 0x80 and above never count).
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGHS != 0;
    let mut words = s.chunks_exact(8);
    for w in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        let x = u64::from_le_bytes(b);
        if below(x, 0x20) || below(x ^ (ONES * u64::from(b'"')), 1) || below(x ^ (ONES * u64::from(b'\\')), 1) {
            return true;
        }
    }
    words.remainder().iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

/// Writes each event field as `,"name":value`.
struct Fields<'a>(&'a mut Vec<u8>);

impl Fields<'_> {
    fn name(&mut self, field: &Field) {
        self.0.push(b',');
        let name = field.name();
        // A field name is nearly always an identifier (`request_id`, `message`): nothing
        // in it to escape, so it is copied as it is instead of going through serde_json.
        if name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        {
            self.0.push(b'"');
            self.0.extend_from_slice(name.as_bytes());
            self.0.push(b'"');
        } else {
            json(self.0, name);
        }
        self.0.push(b':');
    }

    fn put(&mut self, field: &Field, value: impl Serialize) {
        self.name(field);
        json(self.0, value);
    }
}

impl Visit for Fields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.name(field);
        string(self.0, value);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, format!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::Capture;

    fn lines_of(f: impl FnOnce()) -> Vec<serde_json::Value> {
        let out = Capture::default();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(SpanFields)
            .event_format(JsonLines)
            .with_writer(out.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).expect("each line is one JSON object"))
            .collect()
    }

    #[test]
    fn a_request_event_carries_its_fields_and_its_span() {
        let lines = lines_of(|| {
            let span = tracing::info_span!("request", request_id = "r-1", method = "GET", path = "/a\"b");
            let _in = span.enter();
            tracing::info!(status = 200u16, latency_ms = 1.5, "request finished");
        });
        assert_eq!(lines.len(), 1);
        let l = &lines[0];
        assert_eq!(l["level"], "INFO");
        assert_eq!(l["message"], "request finished");
        assert_eq!(l["status"], 200);
        assert_eq!(l["latency_ms"], 1.5);
        assert_eq!(l["span"]["request_id"], "r-1");
        assert_eq!(l["span"]["path"], "/a\"b");
        assert_eq!(l["span"]["name"], "request");
        assert!(l["target"].as_str().unwrap().contains("json"));
        let ts = l["timestamp"].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{ts}");
    }

    #[test]
    fn fields_recorded_on_a_span_later_are_in_its_lines() {
        let lines = lines_of(|| {
            let span = tracing::info_span!("job", id = 7u64, queue = tracing::field::Empty);
            let _in = span.enter();
            tracing::info!("before");
            span.record("queue", "mail");
            tracing::info!("after");
        });
        assert_eq!(lines[0]["span"], serde_json::json!({"id": 7, "name": "job"}));
        assert_eq!(
            lines[1]["span"],
            serde_json::json!({"id": 7, "queue": "mail", "name": "job"})
        );
    }

    #[test]
    fn events_outside_spans_and_odd_values_stay_valid_json() {
        let lines = lines_of(|| {
            let e = std::io::Error::other("disk \u{1} full\n");
            tracing::warn!(error = %e, nan = f64::NAN, flag = true, n = -3i64, "line\nbreak");
            let empty = tracing::info_span!("bare");
            let _in = empty.enter();
            tracing::error!(detail = ?vec!["a"], "inside");
        });
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["message"], "line\nbreak");
        assert_eq!(lines[0]["error"], "disk \u{1} full\n");
        assert!(lines[0]["nan"].is_null());
        assert_eq!(lines[0]["flag"], true);
        assert_eq!(lines[0]["n"], -3);
        assert!(lines[0].get("span").is_none());
        assert_eq!(lines[1]["span"], serde_json::json!({"name": "bare"}));
        assert_eq!(lines[1]["detail"], "[\"a\"]");
        assert_eq!(lines[1]["level"], "ERROR");
    }

    #[test]
    fn string_values_are_escaped_as_serde_json_escapes_them() {
        // Each byte JSON escapes, at each place in an eight-byte word and in the tail.
        let specials: Vec<char> = (0u8..0x20).map(char::from).chain(['"', '\\']).collect();
        let mut values = vec![
            String::new(),
            "/api/collections/items/records/abc".into(),
            "ünï 😀 \u{7f}".into(),
        ];
        for len in 1..20 {
            for at in 0..len {
                for &c in &specials {
                    values.push((0..len).map(|i| if i == at { c } else { 'a' }).collect());
                }
            }
        }
        for v in &values {
            let lines = lines_of(|| tracing::info!(value = v.as_str(), "line"));
            assert_eq!(lines[0]["value"], v.as_str(), "{v:?}");
            let mut out = Vec::new();
            string(&mut out, v);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(v).unwrap(),
                "{v:?}"
            );
        }
    }

    #[test]
    fn field_names_that_need_escaping_are_escaped() {
        let lines = lines_of(|| {
            let span = tracing::info_span!("s", "a\"b" = 1u64, "dotted.name" = 2u64);
            let _in = span.enter();
            tracing::info!("in");
        });
        assert_eq!(lines[0]["span"]["a\"b"], 1);
        assert_eq!(lines[0]["span"]["dotted.name"], 2);
    }
}
