//! `keel vault`, run as a user would: the built binary on a data dir whose secrets were
//! sealed under the key file `keel serve` would have made. `rotate-master` interrupted part
//! way (the hidden `--stop-after`), then run again, then with `KEEL_MASTER_KEY`; `list` shows
//! metadata only; a malformed `KEEL_MASTER_KEY` is named, never shown.

mod common;

use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::Arc;

use keel_app::vault::{rows, secret};
use keel_data::Store;
use keel_vault::{KeySource, Keyring, MasterKey, KEY_FILE, NEXT_FILE, RETIRED_PREFIX};
use serde_json::{json, Value};
use tempfile::TempDir;

const SECRET: &str = "cli-Canary-90af";

fn keel(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = common::keel_command(dir);
    cmd.env_remove(keel_vault::ENV_KEY).env_remove(keel_vault::ENV_PREVIOUS);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.args(args).stdin(Stdio::null()).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = keel(dir, args, env);
    assert!(
        out.status.success(),
        "keel {args:?} failed ({}):\n{}\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout) + &text(&out.stderr)
}

async fn store(dir: &Path) -> Arc<Store> {
    let engine = keel_sql::sqlite::SqliteEngine::open(&dir.join("data.db"), 2)
        .await
        .unwrap();
    Arc::new(Store::open(Arc::new(engine)).await.unwrap())
}

/// Seals `n` secrets with `ring` into the data dir's database; returns their rows.
async fn seed(dir: &Path, ring: &Keyring, n: usize) -> Vec<rows::SecretRow> {
    let store = store(dir).await;
    let mut out = Vec::new();
    for i in 0..n {
        let id = keel_core::id::new_id();
        let data = secret::validate(secret::SecretType::Token, json!({"token": format!("{SECRET}-{i}")})).unwrap();
        let mut fields = rows::sealed_fields(ring, &id, &data).unwrap();
        fields.insert("id".into(), Value::from(id));
        fields.insert("name".into(), Value::from(format!("token-{i}")));
        fields.insert("type".into(), Value::from("token"));
        out.push(rows::insert(&store, fields).await.unwrap());
    }
    out
}

async fn all_rows(dir: &Path) -> Vec<rows::SecretRow> {
    rows::page(&*store(dir).await, 1, 1000).await.unwrap().items
}

fn ciphertext(row: &rows::SecretRow) -> &str {
    row.sealed.split(':').nth(3).unwrap()
}

#[tokio::test]
async fn rotate_master_is_safe_to_interrupt_and_a_rerun_finishes() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    // The key file, as `keel serve` makes it on first start.
    let files = KeySource::File(d.to_path_buf());
    let old = files.load(true).unwrap();
    let before = seed(d, &old, 5).await;

    let listed = ok(d, &["vault", "list"], &[]);
    assert!(
        listed.contains("token-3") && listed.contains(&old.current_id().0),
        "{listed}"
    );
    assert!(!listed.contains(SECRET), "{listed}");

    // Interrupted after two secrets: the new key sits beside the old one, both open everything.
    let out = ok(d, &["vault", "rotate-master", "--stop-after", "2"], &[]);
    assert!(out.contains("again"), "{out}");
    assert!(d.join(NEXT_FILE).exists() && d.join(KEY_FILE).exists());
    let during = files.load(false).unwrap();
    assert_eq!(during.current_id(), old.current_id(), "vault.key was swapped too early");
    let rows_now = all_rows(d).await;
    let moved = rows_now.iter().filter(|r| r.key_id != old.current_id().0).count();
    assert_eq!(moved, 2, "{rows_now:?}");
    for r in &rows_now {
        assert!(rows::open_row(&during, r).is_ok(), "{}", r.name);
    }
    let next_id = rows_now
        .iter()
        .find(|r| r.key_id != old.current_id().0)
        .unwrap()
        .key_id
        .clone();

    // The rerun resumes with the same new key, skips the two, finishes and swaps the files.
    let out = ok(d, &["vault", "rotate-master"], &[]);
    assert!(out.contains("Re-wrapped 3 secrets"), "{out}");
    assert!(!d.join(NEXT_FILE).exists());
    assert!(d.join(format!("{RETIRED_PREFIX}{}", old.current_id())).exists());
    let after = files.load(false).unwrap();
    assert_eq!(after.current_id().0, next_id);
    let new_key = std::fs::read_to_string(d.join(KEY_FILE)).unwrap();
    let new_only = Keyring::new(
        MasterKey::from_base64(&new_key, || keel_vault::VaultError::Malformed).unwrap(),
        Vec::new(),
    );
    for (r, b) in all_rows(d).await.iter().zip(&before) {
        assert_eq!(r.key_id, next_id);
        assert_eq!(ciphertext(r), ciphertext(b), "the data was re-encrypted");
        assert!(rows::open_row(&new_only, r)
            .unwrap()
            .get("token")
            .unwrap()
            .starts_with(SECRET));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.join(KEY_FILE)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    // Audited once, with the new key's id.
    let audit = rows_of_audit(d).await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["details"]["keyId"], next_id.as_str());
    assert_eq!(audit[0]["actor"], "cli");
}

async fn rows_of_audit(dir: &Path) -> Vec<Value> {
    let store = store(dir).await;
    let c = store.collection("_audit").unwrap();
    let params = keel_data::ListParams {
        filter: Some("event = 'vault.rotate'".into()),
        ..Default::default()
    };
    let page = store
        .list_records(
            &c,
            &params,
            &keel_data::RequestInfo::default(),
            keel_data::Access::Superuser,
        )
        .await
        .unwrap();
    page.items
        .iter()
        .map(|r| keel_app::serialize::record_json(r, &keel_data::RequestInfo::default()))
        .collect()
}

#[tokio::test]
async fn with_keel_master_key_the_old_key_is_passed_as_previous() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let old = MasterKey::generate();
    let new = MasterKey::generate();
    let before = seed(d, &Keyring::new(old.clone(), Vec::new()), 3).await;
    let (old_b64, new_b64) = (old.to_base64().to_string(), new.to_base64().to_string());

    // Without the old key the secrets cannot be re-wrapped: the error names the key id and
    // the variable to set, never a key.
    let out = keel(d, &["vault", "rotate-master"], &[("KEEL_MASTER_KEY", &new_b64)]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains(&old.id().0) && err.contains("KEEL_MASTER_KEY_PREVIOUS"),
        "{err}"
    );
    assert!(!err.contains(&new_b64) && !err.contains(&old_b64), "{err}");

    let out = ok(
        d,
        &["vault", "rotate-master"],
        &[("KEEL_MASTER_KEY", &new_b64), ("KEEL_MASTER_KEY_PREVIOUS", &old_b64)],
    );
    assert!(out.contains("Re-wrapped 3 secrets"), "{out}");
    assert!(!d.join(KEY_FILE).exists(), "a key file was made beside KEEL_MASTER_KEY");
    let ring = Keyring::new(new.clone(), Vec::new());
    for (r, b) in all_rows(d).await.iter().zip(&before) {
        assert_eq!(r.key_id, new.id().0);
        assert_eq!(ciphertext(r), ciphertext(b));
        assert!(rows::open_row(&ring, r).is_ok());
    }
    // A second run has nothing to do.
    let out = ok(d, &["vault", "rotate-master"], &[("KEEL_MASTER_KEY", &new_b64)]);
    assert!(out.contains("Re-wrapped 0 secrets"), "{out}");

    // A malformed key: named, not shown.
    let bad = "bm90LWEta2V5";
    let out = keel(d, &["vault", "rotate-master"], &[("KEEL_MASTER_KEY", bad)]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("KEEL_MASTER_KEY") && !err.contains(bad), "{err}");

    // generate-key prints a usable key.
    let key = ok(d, &["vault", "generate-key"], &[]);
    let line = key.lines().next().unwrap();
    assert!(
        MasterKey::from_base64(line, || keel_vault::VaultError::Malformed).is_ok(),
        "{key}"
    );
}

#[cfg(unix)]
#[test]
fn serve_makes_the_key_file_0600_and_refuses_a_loose_one_or_a_malformed_variable() {
    use std::os::unix::fs::PermissionsExt;
    let keel_process = common::KeelProcess::start();
    let dir = keel_process.kill();
    let key = dir.path().join(KEY_FILE);
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let key_text = std::fs::read_to_string(&key).unwrap();
    assert!(MasterKey::from_base64(&key_text, || keel_vault::VaultError::Malformed).is_ok());

    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = keel(dir.path(), &["serve", "--http", "127.0.0.1:0"], &[]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("chmod 600") && err.contains("vault.key"), "{err}");
    assert!(!err.contains(key_text.trim()), "{err}");

    let bad = "c2hvcnQta2V5";
    let out = keel(
        dir.path(),
        &["serve", "--http", "127.0.0.1:0"],
        &[("KEEL_MASTER_KEY", bad)],
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("KEEL_MASTER_KEY") && !err.contains(bad), "{err}");
}

/// The sealed `ssn` values of `people`, straight from the table.
async fn raw_ssns(store: &Store) -> Vec<String> {
    store
        .engine()
        .fetch_all("SELECT \"ssn\" AS v FROM \"people\" ORDER BY \"id\"", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get("v").and_then(Value::as_str).unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn rotate_master_rewraps_encrypted_fields_and_is_safe_to_interrupt() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let files = KeySource::File(d.to_path_buf());
    let old = files.load(true).unwrap();
    {
        let store = store(d).await;
        keel_app::vault::fields::install(&store, Arc::new(keel_vault::Keys::fixed(old.clone())));
        let c = store
            .create_collection(json!({"name": "people", "type": "base",
                "fields": [{"name": "ssn", "type": "text", "encrypted": true}]}))
            .await
            .unwrap();
        for i in 0..3 {
            let data = keel_data::store::obj(&[("ssn", json!(format!("{SECRET}-{i}")))]);
            store
                .create_record(
                    &c,
                    data,
                    &keel_data::RequestInfo::default(),
                    keel_data::Access::Superuser,
                )
                .await
                .unwrap();
        }
    }
    let before = raw_ssns(&*store(d).await).await;
    assert!(before.iter().all(|v| v.contains(&format!(":{}:", old.current_id()))));

    let out = ok(d, &["vault", "rotate-master", "--stop-after", "1"], &[]);
    assert!(out.contains("again"), "{out}");
    let during = raw_ssns(&*store(d).await).await;
    let moved = during
        .iter()
        .filter(|v| !v.contains(&format!(":{}:", old.current_id())))
        .count();
    assert_eq!(moved, 1, "{during:?}");

    let out = ok(d, &["vault", "rotate-master"], &[]);
    assert!(out.contains("2 encrypted field values"), "{out}");
    let new_key = std::fs::read_to_string(d.join(KEY_FILE)).unwrap();
    let new_only = Keyring::new(
        MasterKey::from_base64(&new_key, || keel_vault::VaultError::Malformed).unwrap(),
        Vec::new(),
    );
    let store = store(d).await;
    for (a, b) in raw_ssns(&store).await.iter().zip(&before) {
        assert!(a.contains(&format!(":{}:", new_only.current_id())), "{a}");
        assert_eq!(a.split(':').nth(3), b.split(':').nth(3), "the value was re-encrypted");
    }
    keel_app::vault::fields::install(&store, Arc::new(keel_vault::Keys::fixed(new_only)));
    let c = store.collection("people").unwrap();
    let page = store
        .list_records(
            &c,
            &keel_data::ListParams::default(),
            &keel_data::RequestInfo::default(),
            keel_data::Access::Superuser,
        )
        .await
        .unwrap();
    let mut got: Vec<String> = page
        .items
        .iter()
        .map(|r| r.data["ssn"].as_str().unwrap().to_string())
        .collect();
    got.sort();
    assert_eq!(got, (0..3).map(|i| format!("{SECRET}-{i}")).collect::<Vec<_>>());
}
