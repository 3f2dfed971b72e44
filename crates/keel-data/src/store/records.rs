//! Record writes inside one transaction: create, update, delete with cascades. `Write` is
//! shared by the single-record calls and by `batch`.

use std::sync::Arc;

use futures::future::BoxFuture;
use keel_core::events::{RecordAction, RecordEvent};
use keel_core::{Error, FieldError, FieldErrors, Result};
use serde_json::Value;

use super::cache::Schema;
use super::rows::{data_params, row_to_record, select_cols};
use super::rules::RuleCtx;
use super::validate::{prepare, to_list};
use super::{ddl, Record, Store};
use crate::request::{Access, RequestInfo};
use crate::schema::{Collection, FieldKind, RecordData, SUPERUSERS_ID};
use keel_sql::{SqlBuf, Tx};

/// An open write transaction and the events it will send once committed.
pub(crate) struct Write<'s> {
    pub(super) store: &'s Store,
    pub(super) tx: Box<dyn Tx>,
    schema: Arc<Schema>,
    pub(super) events: Vec<RecordEvent>,
    /// Whether this write added outbox rows (the relay is woken after the commit).
    pub(super) outbox_written: bool,
}

impl<'s> Write<'s> {
    pub async fn begin(store: &'s Store) -> Result<Write<'s>> {
        let tx = store.engine.begin().await?;
        Ok(Write {
            store,
            tx,
            schema: store.schema(),
            events: Vec::new(),
            outbox_written: false,
        })
    }

    /// Commits, then sends the events (waiting until they were handed to the bus) and wakes
    /// the outbox relay if the write added rows.
    pub async fn commit(mut self) -> Result<()> {
        self.write_durable_events().await?;
        self.run_commit_hook().await?;
        self.tx.commit().await?;
        self.store.emit(self.events).await;
        if self.outbox_written {
            self.store.outbox_wake.notify_one();
        }
        Ok(())
    }

    /// Runs a statement without parameters in the transaction (savepoints).
    pub async fn execute_raw(&mut self, sql: &str) -> Result<()> {
        self.tx.execute(sql, &[]).await.map(|_| ())
    }

    fn event(&mut self, action: RecordAction, c: &Collection, data: &RecordData) {
        self.events.push(RecordEvent {
            action,
            collection_id: c.id.clone(),
            collection_name: c.name.clone(),
            record: data.clone(),
        });
    }

    /// One record by id, if it passes `access` (`field` names the rule in errors).
    pub(super) async fn fetch(
        &mut self,
        c: &Arc<Collection>,
        id: &str,
        req: &RequestInfo,
        access: Access<'_>,
        field: &str,
    ) -> Result<Option<Record>> {
        let mut buf = SqlBuf::new(self.store.engine.dialect());
        buf.push("SELECT ")
            .push(&select_cols(c, "t", self.store.engine.dialect()));
        buf.push(" FROM ")
            .ident(&c.name)
            .push(" t WHERE t.\"id\" = ")
            .param(Value::from(id));
        if let Access::Rule(rule) = access {
            let ctx = RuleCtx {
                exprs: &self.store.exprs,
                schema: &*self.schema,
                collection: c,
                alias: "t",
                req,
            };
            if let Some(cond) = ctx.condition(rule, field, &mut buf)? {
                buf.push(" AND (").push(&cond).push(")");
            }
        }
        buf.push(" LIMIT 1");
        let rows = self.tx.fetch_all(&buf.text, &buf.params).await?;
        rows.into_iter()
            .next()
            .map(|r| row_to_record(self.store, c, r))
            .transpose()
    }

    /// Checks relation ids and (auth) email uniqueness; adds problems to `errors`.
    async fn check_refs(
        &mut self,
        c: &Collection,
        data: &RecordData,
        rels: &[(String, String, Vec<String>)],
        errors: &mut FieldErrors,
    ) -> Result<()> {
        let d = self.store.engine.dialect();
        for (field, target, ids) in rels {
            if errors.contains_key(field) {
                continue;
            }
            let Some(t) = self.schema.get(target) else {
                errors.insert(
                    field.clone(),
                    FieldError::new(
                        "validation_missing_rel_records",
                        "The related collection doesn't exist.",
                    ),
                );
                continue;
            };
            let mut buf = SqlBuf::new(d);
            buf.push("SELECT COUNT(*) AS n FROM ")
                .ident(&t.name)
                .push(" WHERE \"id\" IN (");
            for (i, id) in ids.iter().enumerate() {
                if i > 0 {
                    buf.push(", ");
                }
                buf.param(Value::from(id.as_str()));
            }
            buf.push(")");
            let n = self.count(&buf).await?;
            if n as usize != ids.len() {
                errors.insert(
                    field.clone(),
                    FieldError::new(
                        "validation_missing_rel_records",
                        "Failed to find all relation records with the provided ids.",
                    ),
                );
            }
        }
        if c.is_auth() && !errors.contains_key("email") {
            let email = data.get("email").and_then(Value::as_str).unwrap_or("");
            if !email.is_empty() {
                let mut buf = SqlBuf::new(d);
                let ph = buf.bind(Value::from(email));
                let cond = d.ci_eq("\"email\"", &ph);
                buf.push("SELECT 1 AS x FROM ")
                    .ident(&c.name)
                    .push(" WHERE ")
                    .push(&cond);
                buf.push(" AND \"id\" != ");
                buf.param(data.get("id").cloned().unwrap_or(Value::Null))
                    .push(" LIMIT 1");
                if !self.tx.fetch_all(&buf.text, &buf.params).await?.is_empty() {
                    errors.insert(
                        "email".into(),
                        FieldError::new("validation_not_unique", "Value must be unique."),
                    );
                }
            }
        }
        Ok(())
    }

    /// Creates a record; refused for `_audit`, which only [`Store::append_audit`] writes.
    pub async fn create(
        &mut self,
        c: &Arc<Collection>,
        data: RecordData,
        req: &RequestInfo,
        access: Access<'_>,
    ) -> Result<Record> {
        refuse_append_only(c)?;
        self.insert(c, data, req, access).await
    }

    /// Inserts a record with no append-only check (the audit chain's own append).
    pub(super) async fn insert(
        &mut self,
        c: &Arc<Collection>,
        data: RecordData,
        req: &RequestInfo,
        access: Access<'_>,
    ) -> Result<Record> {
        let now = keel_core::time::now();
        let p = prepare(c, None, &data, &now);
        let mut errors = p.errors;
        self.check_refs(c, &p.data, &p.relations, &mut errors).await?;
        if !errors.is_empty() {
            return Err(Error::fields(errors));
        }
        let d = self.store.engine.dialect();
        let cols: Vec<String> = c.fields.iter().map(|f| d.quote_ident(&f.name)).collect();
        let phs: Vec<String> = (1..=cols.len()).map(|n| d.placeholder(n)).collect();
        let sql = format!(
            "INSERT INTO {} ({}) VALUES ({})",
            d.quote_ident(&c.name),
            cols.join(", "),
            phs.join(", ")
        );
        let mut params = data_params(c, &p.data);
        self.store.seal_params(c, &p.data, &mut params)?;
        self.tx.execute(&sql, &params).await.map_err(|e| remap_unique(c, e))?;
        let id = p.data.get("id").and_then(Value::as_str).unwrap_or("").to_string();
        if let Access::Rule(rule) = access {
            if !rule.trim().is_empty() && self.fetch(c, &id, req, access, "createRule").await?.is_none() {
                return Err(Error::bad_request("Failed to create record."));
            }
        }
        self.event(RecordAction::Create, c, &p.data);
        Ok(Record {
            collection: c.clone(),
            data: p.data,
            expand: Default::default(),
            expand_shown: false,
        })
    }

    pub async fn update(
        &mut self,
        c: &Arc<Collection>,
        id: &str,
        data: RecordData,
        req: &RequestInfo,
        access: Access<'_>,
    ) -> Result<(Record, Record)> {
        refuse_append_only(c)?;
        let before = self
            .fetch(c, id, req, access, "updateRule")
            .await?
            .ok_or_else(Error::not_found)?;
        let now = keel_core::time::now();
        let p = prepare(c, Some(&before.data), &data, &now);
        let mut errors = p.errors;
        self.check_refs(c, &p.data, &p.relations, &mut errors).await?;
        if !errors.is_empty() {
            return Err(Error::fields(errors));
        }
        self.write_row(c, id, &p.data).await?;
        self.event(RecordAction::Update, c, &p.data);
        let after = Record {
            collection: c.clone(),
            data: p.data,
            expand: Default::default(),
            expand_shown: false,
        };
        Ok((before, after))
    }

    /// Rewrites every column but `id` of one row.
    async fn write_row(&mut self, c: &Collection, id: &str, data: &RecordData) -> Result<()> {
        let d = self.store.engine.dialect();
        let mut params = data_params(c, data);
        self.store.seal_params(c, data, &mut params)?;
        let mut sets = Vec::with_capacity(c.fields.len());
        let mut kept = Vec::with_capacity(params.len());
        for (f, v) in c.fields.iter().zip(params.drain(..)) {
            if f.name != "id" {
                kept.push(v);
                sets.push(format!("{} = {}", d.quote_ident(&f.name), d.placeholder(kept.len())));
            }
        }
        kept.push(Value::from(id));
        let sql = format!(
            "UPDATE {} SET {} WHERE \"id\" = {}",
            d.quote_ident(&c.name),
            sets.join(", "),
            d.placeholder(kept.len())
        );
        self.tx.execute(&sql, &kept).await.map_err(|e| remap_unique(c, e))?;
        Ok(())
    }

    pub async fn delete(
        &mut self,
        c: &Arc<Collection>,
        id: &str,
        req: &RequestInfo,
        access: Access<'_>,
    ) -> Result<Vec<Record>> {
        refuse_append_only(c)?;
        let rec = self
            .fetch(c, id, req, access, "deleteRule")
            .await?
            .ok_or_else(Error::not_found)?;
        if c.id == SUPERUSERS_ID {
            self.refuse_only_superuser(c).await?;
        }
        let mut out = Vec::new();
        self.delete_cascade(c.clone(), rec, &mut out, 0).await?;
        Ok(out)
    }

    /// The `n` of a `SELECT COUNT(*) AS n …` run in the transaction.
    async fn count(&mut self, buf: &SqlBuf) -> Result<u64> {
        let rows = self.tx.fetch_all(&buf.text, &buf.params).await?;
        Ok(rows
            .first()
            .and_then(|r| r.get("n"))
            .and_then(Value::as_u64)
            .unwrap_or(0))
    }

    /// PocketBase's rule: the only existing superuser cannot be deleted (400). Counted inside
    /// the write's transaction, so a batch deleting every superuser fails on the last one.
    async fn refuse_only_superuser(&mut self, c: &Collection) -> Result<()> {
        let mut buf = SqlBuf::new(self.store.engine.dialect());
        buf.push("SELECT COUNT(*) AS n FROM ").ident(&c.name);
        if self.count(&buf).await? <= 1 {
            return Err(Error::bad_request("You can't delete the only existing superuser"));
        }
        Ok(())
    }

    fn delete_cascade<'a>(
        &'a mut self,
        c: Arc<Collection>,
        rec: Record,
        out: &'a mut Vec<Record>,
        depth: usize,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            if depth > 32 {
                return Err(Error::bad_request("The delete cascades too deep."));
            }
            let id = rec.id().to_string();
            out.push(rec);
            let d = self.store.engine.dialect();
            let schema = self.schema.clone();
            // Views hold no records of their own: nothing to cascade to.
            for o in schema.list.iter().filter(|o| !o.is_view()) {
                for f in &o.fields {
                    let FieldKind::Relation(opts) = &f.kind else { continue };
                    if opts.collection_id != c.id {
                        continue;
                    }
                    let mut buf = SqlBuf::new(d);
                    buf.push("SELECT ")
                        .push(&select_cols(o, "t", d))
                        .push(" FROM ")
                        .ident(&o.name)
                        .push(" t WHERE ");
                    let col = format!("t.{}", d.quote_ident(&f.name));
                    if f.is_multiple() {
                        let p = buf.bind(Value::from(id.as_str()));
                        buf.push(&format!(
                            "EXISTS (SELECT 1 FROM {} j WHERE j.value = {p})",
                            d.json_each(&col)
                        ));
                    } else {
                        buf.push(&col).push(" = ").param(Value::from(id.as_str()));
                    }
                    let rows = self.tx.fetch_all(&buf.text, &buf.params).await?;
                    for row in rows {
                        let r = row_to_record(self.store, o, row)?;
                        if out.iter().any(|x| x.collection.id == o.id && x.id() == r.id()) {
                            continue;
                        }
                        if opts.cascade_delete {
                            self.delete_cascade(o.clone(), r, out, depth + 1).await?;
                            continue;
                        }
                        let mut data = r.data.clone();
                        let remaining: Vec<Value> = to_list(data.get(&f.name).unwrap_or(&Value::Null))
                            .into_iter()
                            .filter(|x| *x != id)
                            .map(Value::String)
                            .collect();
                        if f.required && remaining.is_empty() {
                            return Err(Error::bad_request(format!(
                                "The record is referenced by the required relation field {}.{} of record {}.",
                                o.name,
                                f.name,
                                r.id()
                            )));
                        }
                        let v = if f.is_multiple() {
                            Value::Array(remaining)
                        } else {
                            Value::from("")
                        };
                        data.insert(f.name.clone(), v);
                        self.write_row(o, r.id(), &data).await?;
                        self.event(RecordAction::Update, o, &data);
                    }
                }
            }
            let sql = format!(
                "DELETE FROM {} WHERE \"id\" = {}",
                d.quote_ident(&c.name),
                d.placeholder(1)
            );
            self.tx.execute(&sql, &[Value::from(id.as_str())]).await?;
            if c.is_auth() {
                self.delete_owned(&c.id, Some(&id)).await?;
            }
            if let Some(rec) = out.iter().rev().find(|x| x.collection.id == c.id && x.id() == id) {
                let data = rec.data.clone();
                self.event(RecordAction::Delete, &c, &data);
            }
            Ok(())
        })
    }
}

impl Write<'_> {
    /// Deletes the identity rows (`system::OWNED_BY_RECORD`) of the auth record `id` of
    /// `collection_id`, or of every record of it when `id` is `None`.
    pub(crate) async fn delete_owned(&mut self, collection_id: &str, id: Option<&str>) -> Result<()> {
        delete_owned_rows(
            &mut *self.tx,
            self.store.engine.dialect(),
            &self.schema,
            collection_id,
            id,
        )
        .await
    }
}

/// See [`Write::delete_owned`]; also used when a whole auth collection is dropped.
pub(crate) async fn delete_owned_rows(
    tx: &mut dyn Tx,
    d: &dyn keel_sql::Dialect,
    schema: &Schema,
    collection_id: &str,
    id: Option<&str>,
) -> Result<()> {
    for name in crate::system::OWNED_BY_RECORD {
        if schema.get(name).is_none() {
            continue;
        }
        let mut sql = format!(
            "DELETE FROM {} WHERE \"collectionRef\" = {}",
            d.quote_ident(name),
            d.placeholder(1)
        );
        let mut params = vec![Value::from(collection_id)];
        if let Some(id) = id {
            sql.push_str(&format!(" AND \"recordRef\" = {}", d.placeholder(2)));
            params.push(Value::from(id));
        }
        tx.execute(&sql, &params).await?;
    }
    Ok(())
}

/// 403 for a record write to `_audit` through the records API, batch, the CLI or any other
/// caller of `Write`: the audit trail is append-only and only Keel itself appends to it
/// ([`Store::append_audit`]).
fn refuse_append_only(c: &Collection) -> Result<()> {
    if c.is_view() {
        return Err(unsupported_view());
    }
    if c.name == crate::system::AUDIT {
        return Err(Error::Forbidden(
            "The audit trail (_audit) is append-only: its entries are written by Keel and cannot be created, changed or deleted."
                .into(),
        ));
    }
    if c.name == crate::system::CHANGES {
        return Err(Error::Forbidden(
            "The change history (_changes) is append-only: Keel records every collection change itself; \
             its entries cannot be created, changed or deleted."
                .into(),
        ));
    }
    Ok(())
}

/// PocketBase's answer to a record write to a view collection (its rows come from a query).
pub(crate) fn unsupported_view() -> Error {
    Error::bad_request("Unsupported collection type.")
}

/// A unique violation on an index of `c` named by its columns (`index X` → X's columns).
fn remap_unique(c: &Collection, e: Error) -> Error {
    let Error::BadRequest { message, fields } = e else {
        return e;
    };
    let mut out = FieldErrors::new();
    for (k, v) in fields {
        match k.strip_prefix("index ") {
            Some(name) => {
                let cols = c
                    .indexes
                    .iter()
                    .filter_map(|i| ddl::parse_index(i))
                    .find(|def| def.name == name)
                    .map(|def| ddl::index_columns(&def))
                    .unwrap_or_default();
                let cols = if name.starts_with("idx_email_") {
                    vec!["email".to_string()]
                } else {
                    cols
                };
                for col in cols.into_iter().filter(|col| c.field(col).is_some()) {
                    out.insert(col, v.clone());
                }
            }
            None => {
                out.insert(k, v);
            }
        }
    }
    if out.is_empty() {
        return Error::BadRequest { message, fields: out };
    }
    Error::fields(out)
}

/// Deletes every record of a collection (cascading), in one transaction.
pub(crate) async fn truncate(store: &Store, name_or_id: &str) -> Result<()> {
    let c = store.collection(name_or_id)?;
    if c.is_view() {
        return Err(Error::bad_request(
            "View collections cannot be truncated since they don't store their own records.",
        ));
    }
    if c.system || crate::request::is_system_name(&c.name) {
        return Err(Error::bad_request(format!(
            "System collections cannot be truncated ({} keeps Keel's own data).",
            c.name
        )));
    }
    let d = store.engine.dialect();
    let mut w = Write::begin(store).await?;
    let rows =
        w.tx.fetch_all(&format!("SELECT t.\"id\" FROM {} t", d.quote_ident(&c.name)), &[])
            .await?;
    let req = RequestInfo::default();
    for row in rows {
        let id = row.get("id").and_then(Value::as_str).unwrap_or("").to_string();
        // Already removed by an earlier cascade (self-relations): skip.
        match w.delete(&c, &id, &req, Access::Superuser).await {
            Ok(_) | Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    w.commit().await
}
