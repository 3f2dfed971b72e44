//! `keel api diff OLD NEW` as a user runs it: text by default, `--json`, YAML files, and the
//! exit status (0 nothing breaks, 1 breaking, 2 unreadable or not OpenAPI 3.x).

mod common;

use std::path::Path;
use std::process::{Output, Stdio};

use serde_json::{json, Value};

fn keel(dir: &Path, args: &[&str]) -> Output {
    common::keel_command(dir)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn write(dir: &Path, name: &str, v: &Value) {
    std::fs::write(dir.join(name), serde_json::to_string_pretty(v).unwrap()).unwrap();
}

#[test]
fn api_diff_verdicts_and_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let old = json!({"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {
        "/pets": {"get": {"responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {
            "type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}}}}}}}}}});
    let mut additive = old.clone();
    additive["paths"]["/owners"] = json!({"get": {"responses": {"200": {"description": "ok"}}}});
    let mut breaking = old.clone();
    breaking["paths"]["/pets"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["properties"]
        .as_object_mut()
        .unwrap()
        .remove("name");
    write(d, "old.json", &old);
    write(d, "additive.json", &additive);
    write(d, "breaking.json", &breaking);
    std::fs::write(
        d.join("old.yaml"),
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /pets:\n    get:\n      responses:\n        '200': {description: ok}\n",
    )
    .unwrap();
    std::fs::write(d.join("swagger.json"), r#"{"swagger": "2.0", "paths": {}}"#).unwrap();

    let out = keel(d, &["api", "diff", "old.json", "old.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("verdict: none"), "{}", text(&out.stdout));

    let out = keel(d, &["api", "diff", "old.json", "additive.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("verdict: minor") && stdout.contains("endpoint-added"),
        "{stdout}"
    );

    let out = keel(d, &["api", "diff", "old.json", "breaking.json"]);
    assert_eq!(out.status.code(), Some(1), "breaking exits 1: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("verdict: major (breaking)"), "{stdout}");
    assert!(
        stdout.contains("response-property-removed") && stdout.contains("`name`"),
        "{stdout}"
    );

    let out = keel(d, &["api", "diff", "--json", "old.json", "breaking.json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["verdict"], "major");
    assert_eq!(report["breaking"], true);
    assert_eq!(report["findings"][0]["code"], "response-property-removed");
    assert_eq!(report["findings"][0]["level"], "major");

    // YAML against JSON: the old YAML has no response body, the JSON one adds it.
    let out = keel(d, &["api", "diff", "old.yaml", "old.json"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        text(&out.stdout).contains("response-media-type-added"),
        "{}",
        text(&out.stdout)
    );

    // Unreadable or not OpenAPI 3.x: exit 2 naming the file.
    let out = keel(d, &["api", "diff", "old.json", "missing.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("missing.json"), "{}", text(&out.stderr));
    let out = keel(d, &["api", "diff", "swagger.json", "old.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("OLD") && text(&out.stderr).contains("OpenAPI 3"),
        "{}",
        text(&out.stderr)
    );

    let out = keel(d, &["api", "diff", "--help"]);
    assert!(
        text(&out.stdout).contains("Exit status: 0 when nothing breaks"),
        "{}",
        text(&out.stdout)
    );
}
