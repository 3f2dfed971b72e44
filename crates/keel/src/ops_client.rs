//! The HTTP client behind `keel ops`: a running Keel at `--url`, authenticated with `--token`
//! (a superuser token or an API key, sent as `Authorization`). An error answer becomes an
//! error naming the request, the server's message and each field's problem; the token never
//! reaches an error text.

use anyhow::Context;
use reqwest::{Method, RequestBuilder};
use serde_json::Value;

/// A failed request (an error answer, or no answer): `keel ops` exits 3 on it.
#[derive(Debug)]
pub struct RequestFailed(pub String);

impl std::fmt::Display for RequestFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RequestFailed {}

pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    pub fn new(url: &str, token: Option<String>) -> anyhow::Result<Client> {
        Client::for_service(url, token, "ops:*")
    }

    /// [`Client::new`] for the commands of another service; `holding` names the permissions
    /// the missing-token error asks for.
    pub fn for_service(url: &str, token: Option<String>, holding: &str) -> anyhow::Result<Client> {
        let base = url.trim_end_matches('/').to_string();
        let parsed = url::Url::parse(&base).map_err(|e| RequestFailed(format!("--url {base:?} is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(RequestFailed(format!("--url {base:?} must start with http:// or https://")).into());
        }
        let token = token.filter(|t| !t.trim().is_empty()).ok_or_else(|| {
            RequestFailed(format!(
                "give --token (or set KEEL_TOKEN): a superuser token or an API key holding {holding}"
            ))
        })?;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Client { http, base, token })
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header("Authorization", &self.token)
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.json(Method::GET, path, self.request(Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.json(Method::POST, path, self.request(Method::POST, path).json(body))
            .await
    }

    /// POSTs `text` as it is (a runbook in JSON or YAML).
    pub async fn post_text(&self, path: &str, text: String, content_type: &str) -> anyhow::Result<Value> {
        let req = self
            .request(Method::POST, path)
            .header("Content-Type", content_type)
            .body(text);
        self.json(Method::POST, path, req).await
    }

    /// The answer's body as text (an export).
    pub async fn get_text(&self, path: &str) -> anyhow::Result<String> {
        let res = self.send(&Method::GET, path, self.request(Method::GET, path)).await?;
        res.text()
            .await
            .map_err(|e| RequestFailed(format!("GET {path}: reading the answer: {e}")).into())
    }

    async fn json(&self, method: Method, path: &str, req: RequestBuilder) -> anyhow::Result<Value> {
        let res = self.send(&method, path, req).await?;
        let bytes = res
            .bytes()
            .await
            .map_err(|e| RequestFailed(format!("{method} {path}: reading the answer: {e}")))?;
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| RequestFailed(format!("{method} {path}: the answer is not JSON: {e}")).into())
    }

    async fn send(&self, method: &Method, path: &str, req: RequestBuilder) -> anyhow::Result<reqwest::Response> {
        let res = req.send().await.map_err(|e| {
            // reqwest's error names the URL (never a header), so the token cannot leak here.
            RequestFailed(format!("{method} {path}: cannot reach Keel at {}: {e}", self.base))
        })?;
        let status = res.status();
        if status.is_success() {
            return Ok(res);
        }
        let body: Value = res.json().await.unwrap_or(Value::Null);
        Err(RequestFailed(describe(method, path, status.as_u16(), &body)).into())
    }
}

/// `POST /api/ops/… answered 400: message` and one line per field problem.
fn describe(method: &Method, path: &str, status: u16, body: &Value) -> String {
    let message = body["message"].as_str().unwrap_or("(no message)");
    let mut out = format!("{method} {path} answered {status}: {message}");
    if let Some(fields) = body["data"].as_object() {
        for (field, problem) in fields {
            let text = problem["message"]
                .as_str()
                .map_or_else(|| problem.to_string(), str::to_string);
            out.push_str(&format!("\n  {field}: {text}"));
        }
    }
    out
}

/// A path segment, percent-encoded (a runbook name may hold any character).
pub fn segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_answer_names_the_message_and_every_field() {
        let body = serde_json::json!({"status": 400, "message": "Bad parameters.",
            "data": {"params.svc": {"code": "validation_required", "message": "Missing required value."}}});
        let text = describe(&Method::POST, "/api/ops/runbooks/x/run", 400, &body);
        assert_eq!(
            text,
            "POST /api/ops/runbooks/x/run answered 400: Bad parameters.\n  params.svc: Missing required value."
        );
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
    }
}
