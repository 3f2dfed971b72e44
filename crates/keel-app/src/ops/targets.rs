//! Targets (`ops:read` to read, `ops:manage` to change): the hosts runs reach. A target is
//! `{"name", "address", "port", "transport" (ssh | winrm | local), "credential" (a vault
//! secret's name or id), "hostKey" (SSH: `SHA256:…`), "trustOnFirstUse", "tags", "os",
//! "winrm" ({"https", "auth": ntlm | basic, "allowUnencrypted", "acceptInvalidCerts",
//! "shell": powershell | cmd}), "description"}`.
//!
//! SSH host keys: a pinned `hostKey` must match or the connection fails before signing in;
//! with `trustOnFirstUse` and no key yet, the first connection's key is stored and pinned;
//! with neither, the connection is refused naming the key the server showed, to pin.
//! `POST /api/ops/targets/{id}/test` connects, signs in, runs a trivial command and answers
//! with the remote's identity and the latency.

use std::sync::Arc;
use std::time::Instant;

use keel_core::{Error, Result};
use keel_data::system::OPS_TARGETS;
use keel_data::Record;
use keel_ops::runbook::Selector;
use keel_ops::transport::local::LocalTransport;
use keel_ops::transport::ssh::{HostKeyPolicy, SshConfig, SshTransport};
use keel_ops::transport::winrm::{WinrmAuth, WinrmConfig, WinrmShell, WinrmTransport};
use keel_ops::{Credentials, Transport};
use serde_json::{json, Map, Value};

use super::may;
use crate::audit;
use crate::authz::Permission;
use crate::caller::Caller;
use crate::rows::{find, get, insert, lit, patch, remove, str_of};
use crate::vault::SecretData;
use crate::{App, Origin};

const KEYS: [&str; 11] = [
    "name",
    "address",
    "port",
    "transport",
    "credential",
    "hostKey",
    "trustOnFirstUse",
    "tags",
    "os",
    "winrm",
    "description",
];

/// A target as the API shows it.
pub fn view_json(r: &Record) -> Value {
    let d = &r.data;
    json!({
        "id": r.id(),
        "name": str_of(d, "name"),
        "address": str_of(d, "address"),
        "port": d.get("port").cloned().unwrap_or(json!(0)),
        "transport": str_of(d, "transport"),
        "credential": str_of(d, "credential"),
        "hostKey": str_of(d, "hostKey"),
        "trustOnFirstUse": d.get("trustOnFirstUse").cloned().unwrap_or(json!(false)),
        "tags": d.get("tags").cloned().unwrap_or(json!([])),
        "os": str_of(d, "os"),
        "winrm": d.get("winrm").cloned().unwrap_or(json!({})),
        "description": str_of(d, "description"),
        "created": str_of(d, "created"),
        "updated": str_of(d, "updated"),
    })
}

/// The target `id_or_name`, or a 404.
pub(crate) async fn load(app: &App, id_or_name: &str) -> Result<Record> {
    if let Some(r) = get(app, OPS_TARGETS, id_or_name).await? {
        return Ok(r);
    }
    find(app, OPS_TARGETS, &format!("name = {}", lit(id_or_name)))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| Error::NotFound(format!("No target {id_or_name:?}.")))
}

fn tags_of(r: &Record) -> Vec<String> {
    r.data
        .get("tags")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

/// What templates see of a target (`target.name`, `.address`, `.port`, `.os`, `.tags`).
pub fn template_value(r: &Record) -> Value {
    json!({
        "name": str_of(&r.data, "name"),
        "address": str_of(&r.data, "address"),
        "port": r.data.get("port").cloned().unwrap_or(json!(0)),
        "os": str_of(&r.data, "os"),
        "tags": tags_of(r),
    })
}

/// The targets a step names: `target` (one name, rendered), or `targets` (names or tags),
/// by name.
pub(crate) async fn select(app: &App, target: Option<&str>, targets: Option<&Selector>) -> Result<Vec<Record>> {
    let mut all = find(app, OPS_TARGETS, "").await?;
    all.sort_by(|a, b| str_of(&a.data, "name").cmp(str_of(&b.data, "name")));
    Ok(all
        .into_iter()
        .filter(|r| {
            let name = str_of(&r.data, "name");
            target.is_some_and(|t| t == name) || targets.is_some_and(|s| s.selects(name, &tags_of(r)))
        })
        .collect())
}

async fn validate(app: &App, input: &Value, current: Option<&Record>) -> Result<Map<String, Value>> {
    let Some(obj) = input.as_object() else {
        return Err(Error::bad_request("A target is a JSON object."));
    };
    for key in obj.keys() {
        if !KEYS.contains(&key.as_str()) {
            return Err(Error::field(
                key.as_str(),
                "validation_unknown_key",
                format!("A target has no {key:?}; its keys are {}.", KEYS.join(", ")),
            ));
        }
    }
    let merged: Map<String, Value> = {
        let mut m = current
            .map(|r| view_json(r).as_object().cloned().unwrap_or_default())
            .unwrap_or_default();
        for (k, v) in obj {
            m.insert(k.clone(), v.clone());
        }
        m
    };
    let s = |k: &str| {
        merged
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    let name = s("name");
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err(Error::field(
            "name",
            "validation_invalid_name",
            "A target's name is letters, digits, `-`, `_` and `.`.",
        ));
    }
    let transport = s("transport");
    let default_port = match transport.as_str() {
        "ssh" => 22,
        "winrm" => {
            if merged
                .get("winrm")
                .and_then(|w| w.get("https"))
                .and_then(Value::as_bool)
                == Some(false)
            {
                5985
            } else {
                5986
            }
        }
        "local" => 0,
        _ => {
            return Err(Error::field(
                "transport",
                "validation_invalid_value",
                "transport is ssh, winrm or local.",
            ))
        }
    };
    if transport != "local" && s("address").is_empty() {
        return Err(Error::field(
            "address",
            "validation_required",
            "An ssh or winrm target needs an address.",
        ));
    }
    let port = match merged.get("port") {
        None | Some(Value::Null) => default_port,
        Some(v) => match v.as_u64() {
            Some(0) => default_port,
            Some(p) if p <= 65535 => p,
            _ => return Err(Error::field("port", "validation_invalid_value", "port is 1 to 65535.")),
        },
    };
    let credential = s("credential");
    if transport != "local" {
        if credential.is_empty() {
            return Err(Error::field(
                "credential",
                "validation_required",
                "An ssh or winrm target needs a credential: the name of a vault secret.",
            ));
        }
        if !crate::vault::exists(app, &credential).await? {
            return Err(Error::field(
                "credential",
                "validation_unknown_secret",
                format!("No vault secret {credential:?}."),
            ));
        }
    }
    let host_key = s("hostKey");
    if !host_key.is_empty() && !host_key.starts_with("SHA256:") {
        return Err(Error::field(
            "hostKey",
            "validation_invalid_value",
            "hostKey is OpenSSH's fingerprint form, SHA256:… (ssh-keygen -lf).",
        ));
    }
    let tags = match merged.get("tags") {
        None | Some(Value::Null) => json!([]),
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => Value::Array(a.clone()),
        _ => {
            return Err(Error::field(
                "tags",
                "validation_invalid_value",
                "tags is a list of strings.",
            ))
        }
    };
    if let Some(w) = merged.get("winrm").filter(|w| !w.is_null()) {
        let Some(w) = w.as_object() else {
            return Err(Error::field("winrm", "validation_invalid_value", "winrm is an object."));
        };
        for (k, v) in w {
            let fine = match k.as_str() {
                "https" | "allowUnencrypted" | "acceptInvalidCerts" => v.is_boolean(),
                "auth" => matches!(v.as_str(), Some("ntlm" | "basic")),
                "shell" => matches!(v.as_str(), Some("powershell" | "cmd")),
                _ => false,
            };
            if !fine {
                return Err(Error::field(
                    format!("winrm.{k}"),
                    "validation_invalid_value",
                    "winrm takes https, allowUnencrypted, acceptInvalidCerts (booleans), auth (ntlm | basic) and shell (powershell | cmd).",
                ));
            }
        }
    }
    Ok(json!({
        "name": name,
        "address": s("address"),
        "port": port,
        "transport": transport,
        "credential": credential,
        "hostKey": host_key,
        "trustOnFirstUse": merged.get("trustOnFirstUse").and_then(Value::as_bool).unwrap_or(false),
        "tags": tags,
        "os": s("os"),
        "winrm": merged.get("winrm").cloned().filter(|w| !w.is_null()).unwrap_or(json!({})),
        "description": s("description"),
    })
    .as_object()
    .cloned()
    .unwrap_or_default())
}

/// Every target, by name.
pub async fn list(app: &App, caller: &Caller) -> Result<Value> {
    may(caller, Permission::OpsRead)?;
    let mut rows = find(app, OPS_TARGETS, "").await?;
    rows.sort_by(|a, b| str_of(&a.data, "name").cmp(str_of(&b.data, "name")));
    let items: Vec<Value> = rows.iter().map(view_json).collect();
    Ok(json!({"items": items, "totalItems": items.len()}))
}

pub async fn view(app: &App, caller: &Caller, id_or_name: &str) -> Result<Value> {
    may(caller, Permission::OpsRead)?;
    Ok(view_json(&load(app, id_or_name).await?))
}

pub async fn create(app: &App, caller: &Caller, origin: &Origin, input: Value) -> Result<Value> {
    may(caller, Permission::OpsManage)?;
    let data = validate(app, &input, None).await?;
    let row = insert(app, OPS_TARGETS, Value::Object(data)).await?;
    app.identity
        .audit(audit::entry(caller, origin, "ops.target.create").detail("target", row.id().to_string()))
        .await;
    Ok(view_json(&row))
}

pub async fn update(app: &App, caller: &Caller, origin: &Origin, id_or_name: &str, input: Value) -> Result<Value> {
    may(caller, Permission::OpsManage)?;
    let current = load(app, id_or_name).await?;
    let data = validate(app, &input, Some(&current)).await?;
    let row = patch(app, OPS_TARGETS, current.id(), Value::Object(data)).await?;
    app.identity
        .audit(audit::entry(caller, origin, "ops.target.update").detail("target", row.id().to_string()))
        .await;
    Ok(view_json(&row))
}

pub async fn delete(app: &App, caller: &Caller, origin: &Origin, id_or_name: &str) -> Result<()> {
    may(caller, Permission::OpsManage)?;
    let current = load(app, id_or_name).await?;
    remove(app, OPS_TARGETS, current.id()).await?;
    app.identity
        .audit(audit::entry(caller, origin, "ops.target.delete").detail("target", current.id().to_string()))
        .await;
    Ok(())
}

fn credentials(target: &Record, secret: Option<&SecretData>) -> Credentials {
    let Some(secret) = secret else {
        return Credentials::password("", "");
    };
    let user = secret.get("username").unwrap_or_default().to_string();
    match secret.get("privateKey") {
        Some(pem) => Credentials::key(user, pem, secret.get("passphrase").map(str::to_string)),
        None => {
            let _ = target;
            Credentials::password(user, secret.get("password").unwrap_or_default())
        }
    }
}

/// Connects to `target` with `secret` (its credential, read by the caller), storing the SSH
/// host key on first use when the target trusts on first use.
pub(crate) async fn connect(
    app: &App,
    target: &Record,
    secret: Option<&SecretData>,
) -> std::result::Result<Arc<dyn Transport>, String> {
    let d = &target.data;
    let port = d
        .get("port")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or(0);
    let creds = credentials(target, secret);
    match str_of(d, "transport") {
        "local" => Ok(Arc::new(LocalTransport::new())),
        "ssh" => {
            let mut cfg = SshConfig::new(str_of(d, "address"), creds);
            cfg.port = if port == 0 { 22 } else { port };
            let pinned = str_of(d, "hostKey");
            let tofu = d.get("trustOnFirstUse").and_then(Value::as_bool).unwrap_or(false);
            cfg.host_key = if !pinned.is_empty() {
                HostKeyPolicy::Pinned(pinned.to_string())
            } else if tofu {
                HostKeyPolicy::TrustOnFirstUse
            } else {
                HostKeyPolicy::RequirePinned
            };
            let t = SshTransport::connect(&cfg).await.map_err(|e| e.to_string())?;
            if pinned.is_empty() && tofu {
                let seen = t.host_key().to_string();
                if let Err(e) = patch(app, OPS_TARGETS, target.id(), json!({"hostKey": seen})).await {
                    tracing::warn!(target = target.id(), error = %e, "cannot store a target's host key");
                }
            }
            Ok(Arc::new(t))
        }
        "winrm" => {
            let w = d.get("winrm").cloned().unwrap_or(json!({}));
            let flag = |k: &str| w.get(k).and_then(Value::as_bool);
            let mut cfg = WinrmConfig::new(str_of(d, "address"), creds);
            cfg.https = flag("https").unwrap_or(true);
            cfg.port = if port == 0 {
                if cfg.https {
                    5986
                } else {
                    5985
                }
            } else {
                port
            };
            cfg.auth = if w.get("auth").and_then(Value::as_str) == Some("basic") {
                WinrmAuth::Basic
            } else {
                WinrmAuth::Ntlm
            };
            cfg.domain = secret
                .and_then(|s| s.get("domain"))
                .filter(|d| !d.is_empty())
                .map(str::to_string);
            cfg.allow_unencrypted = flag("allowUnencrypted").unwrap_or(false);
            cfg.accept_invalid_certs = flag("acceptInvalidCerts").unwrap_or(false);
            cfg.shell = if w.get("shell").and_then(Value::as_str) == Some("cmd") {
                WinrmShell::Cmd
            } else {
                WinrmShell::PowerShell
            };
            Ok(Arc::new(
                WinrmTransport::connect(&cfg).await.map_err(|e| e.to_string())?,
            ))
        }
        other => Err(format!("unknown transport {other:?}")),
    }
}

/// Connects for real, signs in, runs a trivial command: the outcome, the remote's identity
/// and the latency.
pub async fn test(app: &App, caller: &Caller, id_or_name: &str) -> Result<Value> {
    may(caller, Permission::OpsManage)?;
    let target = load(app, id_or_name).await?;
    let started = Instant::now();
    let credential = str_of(&target.data, "credential").to_string();
    let secret = if credential.is_empty() {
        None
    } else {
        Some(crate::vault::resolve(app, &credential, &format!("test:{}", target.id())).await?)
    };
    let outcome = match connect(app, &target, secret.as_ref()).await {
        Ok(t) => {
            let id = t.identity().await.map_err(|e| e.to_string());
            t.close().await;
            id
        }
        Err(e) => Err(e),
    };
    let latency = started.elapsed().as_millis() as u64;
    let refreshed = load(app, target.id()).await.unwrap_or(target);
    Ok(match outcome {
        Ok(identity) => json!({
            "ok": true, "latencyMs": latency, "hostname": identity.hostname, "os": identity.os,
            "osRelease": identity.os_release, "kernel": identity.kernel,
            "hostKey": str_of(&refreshed.data, "hostKey"),
        }),
        Err(e) => json!({"ok": false, "latencyMs": latency, "error": e}),
    })
}
