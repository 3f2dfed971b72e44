//! Who called the touched collection's records API recently, from the request logs (`_logs`,
//! keel-logs): the rows of the last `days` days whose URL starts with
//! `/api/collections/{name or id}/records`, grouped by the caller's collection and id. The
//! logs keep no bodies and no field list, so the match is per collection, not per field; the
//! caller's id is there only while `logs.logAuthId` was on (otherwise one entry per caller
//! collection). Batch requests (`/api/batch`) are not attributed.

use chrono::{Duration, Utc};
use keel_core::Error;
use keel_data::{Access, RequestInfo};
use serde_json::Value;

use super::touched::Touched;
use super::Item;
use crate::App;

/// Most callers listed.
const MAX_CALLERS: u32 = 100;

/// `s` in a filter's single-quoted LIKE pattern: `_`, `%` and `\` escaped.
fn like_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '_' | '%' | '\\') {
            out.push('\\');
        }
        if c == '\'' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The callers of the touched collection's records API in the last `days` days; `None` when
/// request logs are off (no store, or `logs.maxDays` 0).
pub async fn caller_items(app: &App, t: &Touched, days: u32) -> Result<Option<Vec<Item>>, Error> {
    let Some(store) = app.logs.store() else {
        return Ok(None);
    };
    if !crate::logs::enabled(app) {
        return Ok(None);
    }
    let since = keel_core::time::format(Utc::now() - Duration::days(i64::from(days)));
    let urls: Vec<String> = [t.name(), t.id()]
        .iter()
        .map(|k| format!("data.url ~ '/api/collections/{}/records%'", like_literal(k)))
        .collect();
    let filter = format!("created >= '{since}' && ({})", urls.join(" || "));
    let counts = store.callers(&filter, MAX_CALLERS).await?;
    let mut out = Vec::new();
    for c in counts {
        let who = match (c.auth.as_str(), c.auth_id.as_str()) {
            ("", _) => "guest".to_string(),
            (auth, "") => auth.to_string(),
            (auth, id) => format!("{auth}/{id}"),
        };
        let label = match (c.auth.as_str(), c.auth_id.as_str()) {
            ("", _) => "Guests (no credentials)".to_string(),
            (keel_data::system::API_KEYS, "") => "API keys".to_string(),
            (keel_data::system::API_KEYS, id) => match key_name(app, id).await {
                Some(name) => format!("API key {name} ({id})"),
                None => format!("API key {id}"),
            },
            (auth, "") => format!("Records of {auth} (their ids are not logged: logs.logAuthId is off)"),
            (auth, id) => format!("{auth}/{id}"),
        };
        let message = format!(
            "{label} called the records API of {} {} time(s) in the last {days} days (last {}). \
             The logs do not record fields: this caller may or may not use what the change touches.",
            t.name(),
            c.requests,
            c.last
        );
        let mut item =
            Item::new("caller", who, format!("{} requests", c.requests), message).touching(t.name().to_string());
        item.requests = Some(c.requests);
        item.last_seen = Some(c.last);
        out.push(item);
    }
    Ok(Some(out))
}

/// The name of the API key `id`, when it still exists.
async fn key_name(app: &App, id: &str) -> Option<String> {
    let keys = app.store.collection(keel_data::system::API_KEYS).ok()?;
    let r = app
        .store
        .get_record(&keys, id, &RequestInfo::default(), Access::Superuser)
        .await
        .ok()?;
    r.data.get("name").and_then(Value::as_str).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::like_literal;

    #[test]
    fn wildcards_are_escaped() {
        assert_eq!(like_literal("my_posts"), "my\\_posts");
        assert_eq!(like_literal("a%b"), "a\\%b");
    }
}
