//! `keel changes list|show`, run as a user would: the built binary on a data dir whose
//! collections were made by `keel migrate up` (collections as code), so the history it
//! reads was recorded by the migration path (author `migration`).

mod common;

use std::path::Path;
use std::process::{Output, Stdio};

use serde_json::{json, Value};

fn keel(data: &Path, migrations: &Path, args: &[&str]) -> Output {
    common::keel_command(data)
        .env("KEEL_DATA__MIGRATIONS_DIR", migrations)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok(data: &Path, migrations: &Path, args: &[&str]) -> String {
    let out = keel(data, migrations, args);
    assert!(out.status.success(), "keel {args:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

fn write(dir: &Path, name: &str, up: Value) {
    let file = json!({"up": up, "down": []});
    std::fs::write(dir.join(name), file.to_string()).unwrap();
}

#[test]
fn list_and_show_read_the_history_a_migration_recorded() {
    let data = tempfile::tempdir().unwrap();
    let migrations = tempfile::tempdir().unwrap();
    let (d, m) = (data.path(), migrations.path());
    write(
        m,
        "1000_posts.json",
        json!([{"upsert": {"name": "posts", "type": "base", "fields": [{"name": "title", "type": "text"}]}}]),
    );
    // Without `fields`, an upsert keeps the fields and changes what it names.
    write(
        m,
        "2000_open.json",
        json!([{"upsert": {"name": "posts", "type": "base", "listRule": ""}}]),
    );
    write(
        m,
        "3000_closed.json",
        json!([{"upsert": {"name": "posts", "type": "base", "listRule": null}}]),
    );
    ok(d, m, &["migrate", "up"]);

    let table = ok(d, m, &["changes", "list"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    assert!(lines[0].starts_with("SEQ"), "{table}");
    for (line, want) in lines[1..].iter().zip([
        ["2.0.0", "major", "update"],
        ["1.1.0", "minor", "update"],
        ["1.0.0", "minor", "create"],
    ]) {
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(&cells[1..4], &want[..], "{table}");
        assert_eq!(cells[4], "posts");
        assert_eq!(cells[5], "migration");
    }

    let listed: Value =
        serde_json::from_str(&ok(d, m, &["changes", "list", "--json", "--collection", "posts"])).unwrap();
    assert_eq!(listed["totalItems"], 3);
    let newest = &listed["items"][0];
    assert_eq!(newest["source"], "migration");
    assert!(
        newest.get("before").is_none(),
        "the list leaves the collection JSON to `show`"
    );
    let id = newest["id"].as_str().unwrap().to_string();

    let filtered: Value = serde_json::from_str(&ok(
        d,
        m,
        &["changes", "list", "--json", "--filter", "verdict = 'minor'"],
    ))
    .unwrap();
    assert_eq!(filtered["totalItems"], 2);
    assert_eq!(filtered["items"][1]["kind"], "create");

    let shown = ok(d, m, &["changes", "show", &id]);
    assert!(shown.contains("1.1.0 -> 2.0.0"), "{shown}");
    assert!(shown.contains("rule-tightened"), "{shown}");
    assert!(shown.contains("listRule: \"\" -> null"), "{shown}");
    let shown: Value = serde_json::from_str(&ok(d, m, &["changes", "show", &id, "--json"])).unwrap();
    assert_eq!(shown["after"]["name"], "posts");

    let out = keel(d, m, &["changes", "show", "nosuchchange"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no change \"nosuchchange\""),
        "{}",
        text(&out.stderr)
    );
    let out = keel(d, m, &["changes", "list", "--filter", "nosuchfield = 1"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("filter"), "{}", text(&out.stderr));
}
