//! The audit trail's hash chain. `_audit` is append-only: the record writes (`Write`)
//! refuse it, so the records API, batch and the CLI cannot create, change or delete an
//! entry, and only [`append`] adds one. Each entry carries `seq` (1, 2, 3, … with no gaps),
//! `prevHash` (the previous entry's `hash`) and `hash` = SHA-256 of `prevHash`, a newline and
//! the canonical JSON of the entry's content ([`HASHED_FIELDS`]).
//!
//! An append reads the chain's head (`_params.auditHead`: the newest `seq` and `hash`),
//! inserts the entry and moves the head, all in one write transaction: SQLite has one
//! writer (`BEGIN IMMEDIATE`, across processes too), so the chain is linear. Keeping the
//! head outside the table means deleting the newest entries is detected too: the head then
//! names entries that no longer exist, and the next append continues from the head.
//!
//! Retention (`[auth] audit_days`) deletes a prefix of the chain and records its last entry
//! as the anchor (`_params.auditAnchor`) in the same transaction; [`verify`] starts there.
//! Entries written before the migration `0005_audit_chain` were chained by it, in insertion
//! order.
//!
//! What the chain proves: an entry changed, removed or moved in the database after it was
//! written breaks it. Someone able to rewrite the database could recompute every hash, so
//! `keel audit verify` prints the head's hash: kept elsewhere, it pins the whole trail.

use std::sync::Arc;

use keel_core::{Error, Result};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::migrate::set_param_in as set_param;
use super::records::Write;
use super::rows::{row_to_data, row_to_record, select_cols};
use super::{Record, Store};
use crate::request::{Access, RequestInfo};
use crate::schema::{Collection, RecordData};
use crate::system::AUDIT;
use keel_sql::{Dialect, Tx};

/// The `_params` key of the chain's head: `{"seq", "hash"}` of the newest entry.
pub(crate) const HEAD: &str = "auditHead";
/// The `_params` key of the chain's anchor: `{"seq", "hash"}` of the newest entry removed by
/// retention (absent until the first purge).
pub(crate) const ANCHOR: &str = "auditAnchor";

/// The fields an entry's hash covers. Never change this list: old entries would no longer
/// verify (a new field is added to the hash only with a new, versioned scheme).
pub const HASHED_FIELDS: &[&str] = &[
    "id",
    "seq",
    "created",
    "event",
    "success",
    "actor",
    "collectionRef",
    "recordRef",
    "identity",
    "ip",
    "userAgent",
    "details",
];

/// A position in the chain: an entry's `seq` and `hash` (seq 0 and "" before the first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Link {
    pub seq: i64,
    pub hash: String,
}

impl Link {
    fn from_value(v: Option<Value>) -> Option<Link> {
        let v = v?;
        Some(Link {
            seq: v.get("seq").and_then(as_int)?,
            hash: v.get("hash").and_then(Value::as_str)?.to_string(),
        })
    }

    fn to_value(&self) -> Value {
        json!({ "seq": self.seq, "hash": self.hash })
    }
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditVerification {
    /// Every entry is in place: how many there are and the newest entry's hash.
    Intact { count: u64, head: String },
    /// The first place the chain breaks: the entry (`id`, `seq`) where it was found and what
    /// is wrong. `id` is the last intact entry's when entries are missing at the end.
    Broken { id: String, seq: i64, problem: String },
}

/// An integer from a JSON number (integral floats too) or numeric text.
fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// `v` with object keys sorted and integral numbers written as integers, so the same
/// content hashes the same whichever driver decoded it.
fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = Map::with_capacity(m.len());
            for k in keys {
                out.insert(k.clone(), canonical(&m[k]));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        Value::Number(_) => match as_int(v) {
            Some(i) => Value::from(i),
            None => v.clone(),
        },
        other => other.clone(),
    }
}

/// The hash of an entry: SHA-256 (lower-case hex) of `prev_hash`, `\n` and the canonical
/// JSON array of the entry's [`HASHED_FIELDS`] values (absent ones are `null`).
pub fn entry_hash(prev_hash: &str, entry: &RecordData) -> String {
    let content: Vec<Value> = HASHED_FIELDS
        .iter()
        .map(|f| canonical(entry.get(*f).unwrap_or(&Value::Null)))
        .collect();
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(Value::Array(content).to_string().as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A `_params` value inside `tx`.
async fn param(tx: &mut dyn Tx, d: &dyn Dialect, key: &str) -> Result<Option<Value>> {
    let sql = format!("SELECT value FROM _params WHERE \"key\" = {}", d.placeholder(1));
    let rows = tx.fetch_all(&sql, &[Value::from(key)]).await?;
    Ok(rows.into_iter().next().and_then(|r| match r.get("value") {
        Some(Value::String(s)) => serde_json::from_str(s).ok(),
        Some(Value::Null) | None => None,
        Some(v) => Some(v.clone()),
    }))
}

/// `_audit` from the schema cache.
fn audit_collection(store: &Store) -> Result<Arc<Collection>> {
    store
        .collection(AUDIT)
        .map_err(|_| Error::internal("the _audit collection is missing"))
}

/// Appends one entry (`event`, `success`, `actor`, … ; `seq`, `prevHash` and `hash` are set
/// here, whatever `data` holds) and returns it as stored.
pub(crate) async fn append(store: &Store, mut data: RecordData) -> Result<Record> {
    let c = audit_collection(store)?;
    let d = store.engine.dialect();
    let mut w = Write::begin(store).await?;
    let head = Link::from_value(param(&mut *w.tx, d, HEAD).await?).unwrap_or_default();
    for key in ["id", "created", "updated"] {
        data.remove(key);
    }
    data.insert("seq".into(), Value::from(head.seq + 1));
    data.insert("prevHash".into(), Value::from(head.hash.clone()));
    data.insert("hash".into(), Value::from(""));
    let inserted = w.insert(&c, data, &RequestInfo::default(), Access::Superuser).await?;
    // Hash the entry as it was stored (and as `verify` will read it back).
    let mut stored = w
        .fetch(&c, inserted.id(), &RequestInfo::default(), Access::Superuser, "")
        .await?
        .ok_or_else(|| Error::internal("the appended audit entry is missing"))?;
    let hash = entry_hash(&head.hash, &stored.data);
    let sql = format!(
        "UPDATE {} SET \"hash\" = {} WHERE \"id\" = {}",
        d.quote_ident(AUDIT),
        d.placeholder(1),
        d.placeholder(2)
    );
    w.tx.execute(&sql, &[Value::from(hash.clone()), Value::from(stored.id())])
        .await?;
    let link = Link {
        seq: head.seq + 1,
        hash: hash.clone(),
    };
    set_param(&mut *w.tx, d, HEAD, &link.to_value()).await?;
    stored.data.insert("hash".into(), Value::from(hash));
    if let Some(e) = w.events.last_mut() {
        e.record = stored.data.clone();
    }
    w.commit().await?;
    Ok(stored)
}

/// Deletes the entries created before `cutoff` (the oldest part of the chain, up to the
/// newest such entry) and records the last one deleted as the anchor, in one transaction.
/// Returns how many were deleted.
pub(crate) async fn purge(store: &Store, cutoff: &str) -> Result<u64> {
    let d = store.engine.dialect();
    let table = d.quote_ident(AUDIT);
    let mut w = Write::begin(store).await?;
    let sql = format!(
        "SELECT \"seq\", \"hash\" FROM {table} WHERE \"created\" < {} ORDER BY \"seq\" DESC LIMIT 1",
        d.placeholder(1)
    );
    let last = w.tx.fetch_all(&sql, &[Value::from(cutoff)]).await?;
    let Some(last) = last.into_iter().next() else {
        return Ok(0);
    };
    let link = Link {
        seq: last.get("seq").and_then(as_int).unwrap_or(0),
        hash: last.get("hash").and_then(Value::as_str).unwrap_or("").to_string(),
    };
    let sql = format!("DELETE FROM {table} WHERE \"seq\" <= {}", d.placeholder(1));
    let n = w.tx.execute(&sql, &[Value::from(link.seq)]).await?;
    set_param(&mut *w.tx, d, ANCHOR, &link.to_value()).await?;
    w.commit().await?;
    Ok(n)
}

/// Chains the entries written before the chain existed, in insertion order (migration
/// `0005_audit_chain`, inside its transaction), and sets the head.
pub(crate) async fn backfill(tx: &mut dyn Tx, d: &dyn Dialect, c: &Arc<Collection>) -> Result<()> {
    let sql = format!(
        "SELECT {} FROM {} t ORDER BY {}",
        select_cols(c, "t", d),
        d.quote_ident(&c.name),
        d.insertion_order(Some("t"))
    );
    let rows = tx.fetch_all(&sql, &[]).await?;
    let update = format!(
        "UPDATE {} SET \"seq\" = {}, \"prevHash\" = {}, \"hash\" = {} WHERE \"id\" = {}",
        d.quote_ident(&c.name),
        d.placeholder(1),
        d.placeholder(2),
        d.placeholder(3),
        d.placeholder(4)
    );
    let mut head = Link::default();
    for row in rows {
        let mut data = row_to_data(c, row);
        let seq = head.seq + 1;
        data.insert("seq".into(), Value::from(seq));
        let hash = entry_hash(&head.hash, &data);
        let id = data.get("id").and_then(Value::as_str).unwrap_or("").to_string();
        tx.execute(
            &update,
            &[
                Value::from(seq),
                Value::from(head.hash.clone()),
                Value::from(hash.clone()),
                Value::from(id),
            ],
        )
        .await?;
        head = Link { seq, hash };
    }
    set_param(tx, d, HEAD, &head.to_value()).await
}

/// Walks the chain from the anchor to the head, 500 entries at a time, and reports the
/// first break.
pub(crate) async fn verify(store: &Store) -> Result<AuditVerification> {
    let c = audit_collection(store)?;
    let d = store.engine.dialect();
    let mut tx = store.engine.begin().await?;
    let head = param(&mut *tx, d, HEAD).await?;
    let anchor = Link::from_value(param(&mut *tx, d, ANCHOR).await?).unwrap_or_default();
    let sql = format!(
        "SELECT {} FROM {} t WHERE t.\"seq\" > {} ORDER BY t.\"seq\", {} LIMIT 500",
        select_cols(&c, "t", d),
        d.quote_ident(AUDIT),
        d.placeholder(1),
        d.insertion_order(Some("t"))
    );
    let mut prev = anchor.clone();
    let mut prev_id = String::new();
    let mut count = 0u64;
    let mut after = anchor.seq;
    loop {
        let rows = tx.fetch_all(&sql, &[Value::from(after)]).await?;
        if rows.is_empty() {
            break;
        }
        let n = rows.len();
        for row in rows {
            let r = row_to_record(store, &c, row)?;
            let seq = r.data.get("seq").and_then(as_int).unwrap_or(0);
            let text = |k: &str| r.data.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let broken = |problem: String| AuditVerification::Broken {
                id: r.id().to_string(),
                seq,
                problem,
            };
            let stored_prev = text("prevHash");
            if entry_hash(&stored_prev, &r.data) != text("hash") {
                tx.commit().await?;
                return Ok(broken(
                    "its content or its position (seq) was changed after it was written (its hash does not match)"
                        .into(),
                ));
            }
            if seq < prev.seq + 1 {
                tx.commit().await?;
                return Ok(broken(format!(
                    "it repeats seq {seq} (entries were copied or reordered)"
                )));
            }
            if seq > prev.seq + 1 {
                tx.commit().await?;
                let missing = if seq == prev.seq + 2 {
                    format!("seq {}", prev.seq + 1)
                } else {
                    format!("seq {} to {}", prev.seq + 1, seq - 1)
                };
                return Ok(broken(format!(
                    "the entries before it ({missing}) were deleted (gap in the chain)"
                )));
            }
            if stored_prev != prev.hash {
                tx.commit().await?;
                return Ok(broken(
                    "its prevHash is not the hash of the entry before it (entries were reordered or replaced)".into(),
                ));
            }
            prev = Link {
                seq,
                hash: text("hash"),
            };
            prev_id = r.id().to_string();
            count += 1;
        }
        after = prev.seq;
        if n < 500 {
            break;
        }
    }
    tx.commit().await?;
    let Some(head) = Link::from_value(head) else {
        if count == 0 {
            return Ok(AuditVerification::Intact {
                count,
                head: String::new(),
            });
        }
        return Ok(AuditVerification::Broken {
            id: prev_id,
            seq: prev.seq,
            problem: "the chain's head (_params auditHead) is missing".into(),
        });
    };
    if head != prev {
        let problem = if head.seq > prev.seq {
            format!(
                "the newest entries after it (seq {} to {}) were deleted",
                prev.seq + 1,
                head.seq
            )
        } else {
            "it does not match the chain's head (_params auditHead)".into()
        };
        return Ok(AuditVerification::Broken {
            id: prev_id,
            seq: prev.seq,
            problem,
        });
    }
    Ok(AuditVerification::Intact { count, head: head.hash })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_depends_on_content_and_prev_but_not_on_key_order_or_number_form() {
        let a: RecordData = serde_json::from_value(json!({
            "id": "x", "seq": 1, "event": "e", "details": {"a": 1, "b": [2.0, "c"]}
        }))
        .unwrap();
        let b: RecordData = serde_json::from_value(json!({
            "details": {"b": [2, "c"], "a": 1.0}, "event": "e", "seq": 1.0, "id": "x", "hash": "ignored"
        }))
        .unwrap();
        assert_eq!(entry_hash("p", &a), entry_hash("p", &b));
        assert_ne!(entry_hash("p", &a), entry_hash("q", &a));
        let mut c = a.clone();
        c.insert("event".into(), Value::from("f"));
        assert_ne!(entry_hash("p", &a), entry_hash("p", &c));
        assert_eq!(entry_hash("p", &a).len(), 64);
    }
}
