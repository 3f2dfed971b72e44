//! `http.request`: one request through the outbound guard (a private or loopback address is
//! refused unless `[outbound] allow` lists it; redirects are not followed). Keys: `url`,
//! `method` (GET), `headers` (a map), `body` (text, or JSON sent as JSON), `expectStatus` (a
//! status or a list; any 2xx by default). The answer's body (at most 64 KiB) is the step's
//! stdout; `status`, `body` and `json` (the body parsed, when it is JSON) are its results.

use std::time::Duration;

use keel_ops::{OutputSink, OutputStream};
use reqwest::Method;
use serde_json::{json, Value};

use super::{text, Unit, UnitOutput};

/// How much of an answer is kept.
const BODY_CAP: usize = 64 * 1024;
/// A request's bound when the step gives no `timeoutSec`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

fn expected(with: &serde_json::Map<String, Value>, status: u16) -> bool {
    match with.get("expectStatus") {
        None | Some(Value::Null) => (200..300).contains(&status),
        Some(Value::Array(list)) => list.iter().any(|v| v.as_u64() == Some(u64::from(status))),
        Some(v) => v.as_u64() == Some(u64::from(status)) || v.as_str() == Some(&status.to_string()),
    }
}

pub(super) async fn run(unit: &Unit<'_>) -> UnitOutput {
    let url = text(&unit.with, "url").trim();
    let method_name = unit
        .with
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or("GET")
        .to_ascii_uppercase();
    let Ok(method) = Method::from_bytes(method_name.as_bytes()) else {
        return UnitOutput::failed(&format!("{method_name:?} is not an HTTP method"));
    };
    let mut request = match unit.ctx.app.outbound.request(method.clone(), url) {
        Ok(r) => r,
        Err(refusal) => return UnitOutput::failed(&format!("{method} {url}: {refusal}")),
    };
    if let Some(headers) = unit.with.get("headers").and_then(Value::as_object) {
        for (name, value) in headers {
            let value = value.as_str().map(str::to_string).unwrap_or_else(|| value.to_string());
            request = request.header(name.as_str(), value);
        }
    }
    request = match unit.with.get("body") {
        None | Some(Value::Null) => request,
        Some(Value::String(s)) => request.body(s.clone()),
        Some(other) => request.json(other),
    };
    let request = request.timeout(unit.timeout.unwrap_or(DEFAULT_TIMEOUT));
    let sent = tokio::select! {
        r = request.send() => r,
        _ = unit.ctx.cancel.cancelled() => return UnitOutput::failed("cancelled"),
    };
    let mut response = match sent {
        Ok(r) => r,
        Err(e) => return UnitOutput::failed(&format!("{method} {url}: {}", keel_core::outbound::explain(&e))),
    };
    let status = response.status().as_u16();
    let body = match keel_core::outbound::read_capped(&mut response, BODY_CAP).await {
        Ok((bytes, _)) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => {
            return UnitOutput::failed(&format!(
                "{method} {url}: reading the answer: {}",
                keel_core::outbound::explain(&e)
            ))
        }
    };
    unit.sink
        .chunk(OutputStream::Stdout, bytes::Bytes::from(body.clone()))
        .await;
    let json_body = serde_json::from_str::<Value>(&body).unwrap_or(Value::Null);
    let result = json!({"status": status, "body": body, "json": json_body});
    let result = result.as_object().cloned().unwrap_or_default();
    if expected(&unit.with, status) {
        UnitOutput::succeeded(result)
    } else {
        UnitOutput {
            ok: false,
            exit_code: None,
            result,
            error: Some(format!(
                "{method} {url} answered {status}, not the status the step expects"
            )),
        }
    }
}
