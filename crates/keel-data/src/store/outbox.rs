//! The outbox: work that must happen at least once because of a change (an auth email, and
//! later webhooks and notifications), stored in the records database in the same transaction
//! as the change that caused it, then handed to the jobs service by a relay (`keel-app`'s
//! `outbox` module).
//!
//! The contract:
//! - **Durable with its cause.** A row written by [`Write::outbox`] commits or rolls back with
//!   the record write it belongs to; [`Store::outbox_put`] (a cause that is the request
//!   itself, such as "request verification") returns only once the row is committed. A
//!   `kill -9` after that loses nothing.
//! - **At least once.** A row is claimed for a lease ([`Store::outbox_claim`]), handed on,
//!   then deleted ([`Store::outbox_done`]). A process that dies in between leaves the row to
//!   be claimed again once the lease ends, so a consumer may see an entry twice and must
//!   make that harmless (the relay uses the row's id as the job's unique key).
//! - **Order is not guaranteed** between rows, nor between processes.
//! - **Small payloads**: a `kind` of 1 to 64 characters of `[A-Za-z0-9_-]` (the relay turns
//!   it into the jobs queue `_keel-{kind}`) and a JSON payload of at most
//!   [`MAX_PAYLOAD_BYTES`]. Payloads must not carry secrets: they become job payloads, which
//!   the jobs API shows to holders of `jobs:read`.
//! - Several processes on one database claim disjoint rows (`FOR UPDATE SKIP LOCKED` where
//!   the engine has concurrent writers; one writer at a time on SQLite).

use std::time::Duration;

use keel_core::{Error, Result};
use serde_json::Value;

use super::records::Write;
use super::Store;
use keel_sql::{ColumnType, Tx};

/// The largest payload of an outbox row, as serialized JSON.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

/// The most rows one claim returns.
pub const MAX_CLAIM: usize = 500;

/// An outbox row, as claimed.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    /// A Keel id, unique across processes: the consumer's idempotency key.
    pub id: String,
    pub kind: String,
    pub payload: Value,
    /// When it was written, in milliseconds since the epoch.
    pub created_ms: i64,
    /// Whether an earlier claim's lease ended without the row being done: its holder may
    /// have handed it on before dying, so the consumer should check for that.
    pub reclaimed: bool,
}

/// Creates `_outbox` (system migration `0006_outbox`).
pub(crate) async fn migrate(store: &Store, tx: &mut dyn Tx) -> Result<()> {
    let d = store.engine.dialect();
    let (key, text) = (d.column_type(ColumnType::Key), d.column_type(ColumnType::Text));
    tx.execute(
        &format!(
            "CREATE TABLE IF NOT EXISTS _outbox (id {key} PRIMARY KEY NOT NULL, kind {key} NOT NULL, \
             payload {text} NOT NULL, created BIGINT NOT NULL, claimed_until BIGINT NOT NULL DEFAULT 0)"
        ),
        &[],
    )
    .await?;
    Ok(())
}

/// Checks a kind and serializes a payload, naming what is wrong.
fn checked(kind: &str, payload: &Value) -> Result<String> {
    let kind_ok = !kind.is_empty()
        && kind.len() <= 64
        && kind
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !kind_ok {
        return Err(Error::internal(format!(
            "outbox: the kind {kind:?} is not 1 to 64 characters of letters, digits, '_' and '-'"
        )));
    }
    let text = serde_json::to_string(payload).map_err(Error::internal)?;
    if text.len() > MAX_PAYLOAD_BYTES {
        return Err(Error::TooLarge(format!(
            "An outbox entry holds at most {MAX_PAYLOAD_BYTES} bytes; this one is {} bytes.",
            text.len()
        )));
    }
    Ok(text)
}

/// Inserts a row in `tx`; returns its id.
async fn insert(tx: &mut dyn Tx, store: &Store, kind: &str, payload: &Value) -> Result<String> {
    let id = keel_core::id::new_id();
    insert_with_id(tx, store, &id, kind, payload).await?;
    Ok(id)
}

/// Inserts the row `id` in `tx`.
async fn insert_with_id(tx: &mut dyn Tx, store: &Store, id: &str, kind: &str, payload: &Value) -> Result<()> {
    let text = checked(kind, payload)?;
    let d = store.engine.dialect();
    let p: Vec<String> = (1..=4).map(|n| d.placeholder(n)).collect();
    let sql = format!(
        "INSERT INTO _outbox (id, kind, payload, created) VALUES ({})",
        p.join(", ")
    );
    tx.execute(
        &sql,
        &[
            Value::from(id),
            Value::from(kind),
            Value::from(text),
            Value::from(now_ms()),
        ],
    )
    .await?;
    Ok(())
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Write<'_> {
    /// Adds the outbox row `id` to this write: committed with it, relayed after the commit.
    pub(crate) async fn outbox_with_id(&mut self, id: &str, kind: &str, payload: &Value) -> Result<()> {
        insert_with_id(self.tx.as_mut(), self.store, id, kind, payload).await?;
        self.outbox_written = true;
        Ok(())
    }
}

impl Store {
    /// Writes the outbox row `id` in a transaction of its own (durable when this returns) and
    /// wakes the relay: for a cause that has no record write of its own (a job's end) and
    /// must name the row's id in its payload.
    pub async fn outbox_put_with_id(&self, id: &str, kind: &str, payload: &Value) -> Result<()> {
        let mut tx = self.engine.begin().await?;
        insert_with_id(tx.as_mut(), self, id, kind, payload).await?;
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(())
    }
}

impl Store {
    /// Writes an outbox row in a transaction of its own; it is durable when this returns,
    /// and the relay is woken. Returns the row's id.
    pub async fn outbox_put(&self, kind: &str, payload: &Value) -> Result<String> {
        let mut tx = self.engine.begin().await?;
        let id = insert(tx.as_mut(), self, kind, payload).await?;
        tx.commit().await?;
        self.outbox_wake.notify_one();
        Ok(id)
    }

    /// Claims up to `max` rows that nobody holds, oldest first, for `lease`: no other claim
    /// returns them until the lease ends. Deleting them ([`Store::outbox_done`]) ends the work.
    pub async fn outbox_claim(&self, max: usize, lease: Duration) -> Result<Vec<OutboxEntry>> {
        let d = self.engine.dialect();
        let now = now_ms();
        let max = max.clamp(1, MAX_CLAIM);
        let mut tx = self.engine.begin().await?;
        let sql = format!(
            "SELECT id, kind, payload, created, claimed_until FROM _outbox WHERE claimed_until <= {} \
             ORDER BY created, id LIMIT {max}{}",
            d.placeholder(1),
            d.skip_locked()
        );
        let rows = tx.fetch_all(&sql, &[Value::from(now)]).await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let text = |k: &str| row.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
            let payload = serde_json::from_str(&text("payload")).unwrap_or(Value::Null);
            out.push(OutboxEntry {
                id: text("id"),
                kind: text("kind"),
                payload,
                created_ms: row.get("created").and_then(number).unwrap_or_default(),
                reclaimed: row.get("claimed_until").and_then(number).unwrap_or_default() > 0,
            });
        }
        let until = now.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
        let ids: Vec<String> = (0..out.len()).map(|i| d.placeholder(i + 2)).collect();
        let sql = format!(
            "UPDATE _outbox SET claimed_until = {} WHERE id IN ({})",
            d.placeholder(1),
            ids.join(", ")
        );
        let mut params = vec![Value::from(until)];
        params.extend(out.iter().map(|e| Value::from(e.id.clone())));
        tx.execute(&sql, &params).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Deletes handled rows (ids not present are ignored).
    pub async fn outbox_done(&self, ids: &[String]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let d = self.engine.dialect();
        let mut tx = self.engine.begin().await?;
        for chunk in ids.chunks(MAX_CLAIM) {
            let p: Vec<String> = (1..=chunk.len()).map(|n| d.placeholder(n)).collect();
            let sql = format!("DELETE FROM _outbox WHERE id IN ({})", p.join(", "));
            let params: Vec<Value> = chunk.iter().map(|id| Value::from(id.clone())).collect();
            tx.execute(&sql, &params).await?;
        }
        tx.commit().await
    }

    /// How many rows are waiting (claimed or not).
    pub async fn outbox_len(&self) -> Result<u64> {
        let rows = self.engine.fetch_all("SELECT COUNT(*) AS n FROM _outbox", &[]).await?;
        Ok(rows
            .first()
            .and_then(|r| r.get("n"))
            .and_then(number)
            .unwrap_or_default()
            .max(0) as u64)
    }

    /// Resolves once a row was committed by this process since the last wake-up (or at once
    /// if one was meanwhile): the relay waits on it beside its slow sweep.
    pub async fn outbox_written(&self) {
        self.outbox_wake.notified().await;
    }
}

/// An integer column as the engines return it (a number, or text on some drivers).
fn number(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_payloads_are_checked() {
        assert!(checked("mail", &serde_json::json!({"a": 1})).is_ok());
        assert!(checked("", &Value::Null).is_err());
        assert!(checked("a.b", &Value::Null).is_err());
        let big = Value::from("x".repeat(MAX_PAYLOAD_BYTES));
        assert!(matches!(checked("mail", &big), Err(Error::TooLarge(_))));
    }
}
