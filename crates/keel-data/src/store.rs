//! The store: collections (with their tables) and records, over an `Engine`.
//!
//! Invariants:
//! - the schema cache is the only copy of collections the rest of Keel reads; every
//!   collection change updates the database and the cache in one place (here);
//! - a write returns only after its transaction committed; record events are sent after commit;
//! - every SQL statement goes through `SqlBuf`/`Dialect`: values are always bound.
//!
//! OWNED BY THE STORE WORK. The public signatures below are the contract the server codes
//! against: keep them (add, don't change) unless the integrator agrees.

mod alter;
mod audit;
mod batch;
mod cache;
mod changelog;
mod cipher;
mod collection_check;
mod collections;
mod commit_hook;
mod ddl;
mod durable;
mod expand;
mod group;
mod journal;
mod migrate;
mod outbox;
pub mod probe;
mod records;
mod retention;
mod rows;
mod rules;
mod search_check;
mod select;
mod validate;
mod view;
mod view_query;

use std::collections::BTreeMap;
use std::sync::Arc;

use keel_core::events::RecordEvent;
use keel_core::{Error, Result};
use serde_json::{Map, Value};
use tokio::sync::{mpsc, watch};

pub use audit::{entry_hash, AuditVerification, HASHED_FIELDS};
pub use changelog::{ChangeRecorder, CollectionChange, RowMark, HISTORY_STATES};
pub use cipher::{field_aad, FieldCipher, FieldsRewrapped};
pub use collections::Recorded;
pub use commit_hook::CommitHook;
pub use durable::{event_payload, record_event_type, EventTap, EVENT_KIND};
#[doc(hidden)]
pub use journal::Failpoint;
pub use outbox::{OutboxEntry, MAX_PAYLOAD_BYTES as MAX_OUTBOX_PAYLOAD_BYTES};

use crate::request::{Access, RequestInfo, SchemaActor};
use crate::schema::{Collection, RecordData};
use keel_sql::Engine;

/// A record with the collection it belongs to and what was expanded into it.
#[derive(Debug, Clone)]
pub struct Record {
    pub collection: Arc<Collection>,
    /// Every stored column by field name (hidden ones too).
    pub data: RecordData,
    /// `expand` results by relation field name (or `xxx_via_field` for back-relations).
    pub expand: BTreeMap<String, Expanded>,
    /// Whether an `expand` path asked for this record could be followed (even to nothing):
    /// PocketBase then shows `"expand": {}` rather than leaving the key out.
    pub expand_shown: bool,
}

impl Record {
    pub fn id(&self) -> &str {
        self.data.get("id").and_then(Value::as_str).unwrap_or("")
    }
}

#[derive(Debug, Clone)]
pub enum Expanded {
    One(Box<Record>),
    Many(Vec<Record>),
}

/// Paging, sorting and filtering of a list (PocketBase's query parameters).
#[derive(Debug, Clone)]
pub struct ListParams {
    /// 1-based.
    pub page: u64,
    /// 1..=1000 (the server clamps and validates).
    pub per_page: u64,
    /// `-created,title`, `@random`, `@rowid`; `None` = insertion order.
    pub sort: Option<String>,
    pub filter: Option<String>,
    /// Skip counting: `total_items` and `total_pages` are then -1.
    pub skip_total: bool,
}

impl Default for ListParams {
    fn default() -> Self {
        ListParams {
            page: 1,
            per_page: 30,
            sort: None,
            filter: None,
            skip_total: false,
        }
    }
}

/// One page of a list, in PocketBase's shape (the server serializes it).
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub page: u64,
    pub per_page: u64,
    pub total_items: i64,
    pub total_pages: i64,
    pub items: Vec<T>,
}

/// One operation of `/api/batch`. Access is resolved by the caller per operation.
#[derive(Debug, Clone)]
pub enum BatchOp {
    Create {
        collection: Arc<Collection>,
        data: RecordData,
        rule: Option<String>,
    },
    Update {
        collection: Arc<Collection>,
        id: String,
        data: RecordData,
        rule: Option<String>,
    },
    Delete {
        collection: Arc<Collection>,
        id: String,
        rule: Option<String>,
    },
}

/// Collections and records over one engine.
pub struct Store {
    pub(crate) engine: Arc<dyn Engine>,
    /// Every receiver of committed record changes (`subscribe`); unbounded, so a slow
    /// receiver never loses one (the bus publisher is the one that matters).
    pub(crate) events: std::sync::Mutex<Vec<mpsc::UnboundedSender<RecordEvent>>>,
    /// Where committed changes go to be published to the other processes (`publish_committed`).
    pub(crate) publisher: std::sync::OnceLock<mpsc::UnboundedSender<Committed>>,
    /// Counts committed collection changes made through this store (`schema_changes`).
    pub(crate) schema_version: watch::Sender<u64>,
    /// The schema cache: replaced wholesale after every committed collection change.
    pub(crate) schema: std::sync::RwLock<Arc<cache::Schema>>,
    /// Serializes collection changes (validation reads the cache, then writes it).
    pub(crate) ddl: tokio::sync::Mutex<()>,
    /// Parsed rules and filters by source text.
    pub(crate) exprs: rules::ExprCache,
    /// The group-commit writer for creates, once enabled.
    pub(crate) group: std::sync::OnceLock<tokio::sync::mpsc::Sender<group::CreateJob>>,
    /// Woken after a commit that wrote outbox rows (`store/outbox.rs`).
    pub(crate) outbox_wake: tokio::sync::Notify,
    /// A test hook inside collection changes ([`Store::set_schema_failpoint`]).
    pub(crate) failpoint: std::sync::RwLock<Option<journal::Failpoint>>,
    /// Which record changes become durable events (`store/durable.rs`).
    pub(crate) tap: std::sync::RwLock<Option<Arc<dyn durable::EventTap>>>,
    /// Seals and opens encrypted fields (`store/cipher.rs`).
    pub(crate) cipher: std::sync::RwLock<Option<Arc<dyn cipher::FieldCipher>>>,
    /// Runs inside every record write's transaction (`store/commit_hook.rs`).
    pub(crate) commit_hook: std::sync::RwLock<Option<Arc<dyn commit_hook::CommitHook>>>,
}

// ---------------------------------------------------------------------------------------
// The contract. Bodies are filled in by the store work (they may move to submodules
// under `store/`; these signatures stay).
// ---------------------------------------------------------------------------------------
impl Store {
    /// Opens a store over `engine`: runs pending system migrations (system tables, the
    /// `_superusers` and `users` collections on a fresh database) and loads the schema cache.
    pub async fn open(engine: Arc<dyn Engine>) -> Result<Store> {
        let store = Store {
            engine,
            events: std::sync::Mutex::default(),
            publisher: std::sync::OnceLock::new(),
            schema_version: watch::Sender::new(0),
            schema: std::sync::RwLock::new(Arc::new(cache::Schema::default())),
            ddl: tokio::sync::Mutex::new(()),
            exprs: rules::ExprCache::default(),
            group: std::sync::OnceLock::new(),
            outbox_wake: tokio::sync::Notify::new(),
            tap: std::sync::RwLock::new(None),
            cipher: std::sync::RwLock::new(None),
            commit_hook: std::sync::RwLock::new(None),
            failpoint: std::sync::RwLock::new(None),
        };
        store.migrate().await?;
        // A collection change a killed process left half done (MySQL) is finished or undone.
        journal::recover(&store).await?;
        store.reload_schema().await?;
        Ok(store)
    }

    /// Test hook: `hook` runs after each step of a collection change's DDL (`("step", n)`)
    /// and once the change can only roll forward (`("forward", 0)`); a hook that never
    /// returns, with its task aborted, stands in for a process killed there.
    #[doc(hidden)]
    pub fn set_schema_failpoint(&self, hook: Option<journal::Failpoint>) {
        match self.failpoint.write() {
            Ok(mut g) => *g = hook,
            Err(p) => *p.into_inner() = hook,
        }
    }

    /// Applies pending system migrations; returns the names of those applied (empty when up to date).
    pub async fn migrate(&self) -> Result<Vec<String>> {
        migrate::run(self).await
    }

    /// Routes `create_record` through a writer task that commits concurrent creates together
    /// (see `store/group.rs`). Needs a Tokio runtime; calling it again does nothing.
    pub fn enable_group_commit(self: &Arc<Self>) {
        if self.group.get().is_none() {
            let _ = self.group.set(group::start(self));
        }
    }

    pub fn engine(&self) -> &Arc<dyn Engine> {
        &self.engine
    }

    /// Receives every committed record change made through this store, in commit order,
    /// from now on. Nothing is dropped: a receiver that stops reading must be dropped.
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<RecordEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.lock_events().push(tx);
        rx
    }

    /// The committed record changes of every write, for the one task that publishes them to
    /// the other processes: a write does not return before that task signals `done` (or
    /// drops it), so a change answered to its caller was handed to the bus first. `None` when
    /// called before (there is one publisher).
    pub fn publish_committed(&self) -> Option<mpsc::UnboundedReceiver<Committed>> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.publisher.set(tx).ok()?;
        Some(rx)
    }

    /// Changes whenever a collection change made through this store commits (the value
    /// counts them), so the process can tell the others to reload their schema.
    pub fn schema_changes(&self) -> watch::Receiver<u64> {
        self.schema_version.subscribe()
    }

    /// Re-reads every collection from the database, e.g. after another process changed
    /// one. Waits for a collection change of this process in progress.
    pub async fn refresh_schema(&self) -> Result<()> {
        let _ddl = self.ddl.lock().await;
        self.reload_schema().await
    }

    // ----- collections -----

    /// A collection by name or id, from the in-memory cache. `Error::NotFound` when absent.
    pub fn collection(&self, name_or_id: &str) -> Result<Arc<Collection>> {
        self.schema().get(name_or_id).ok_or_else(keel_core::Error::not_found)
    }

    /// All collections, system ones included, ordered by creation.
    pub fn collections(&self) -> Vec<Arc<Collection>> {
        self.schema().list.clone()
    }

    /// Creates a collection from PocketBase's JSON (`name`, `type`, `fields`, rules, `indexes`,
    /// auth options). Adds system fields (`id`; auth: `password`, `tokenKey`, `email`,
    /// `emailVisibility`, `verified`) and, unless given, `created`/`updated` autodates.
    /// Validates names, field options, relation targets and rules (rules are compiled once
    /// to catch errors: a bad rule is a 400 naming e.g. `listRule`). Creates the table.
    pub async fn create_collection(&self, input: Value) -> Result<Arc<Collection>> {
        Ok(collections::create(self, input, SchemaActor::Superuser, None).await?.0)
    }

    /// [`Store::create_collection`] for `actor`: a non-superuser may not set token secrets
    /// (403).
    pub async fn create_collection_by(&self, input: Value, actor: SchemaActor) -> Result<Arc<Collection>> {
        Ok(collections::create(self, input, actor, None).await?.0)
    }

    /// Inserts a `_changes` row that is not a committed collection change (a proposal),
    /// numbered after every other row. Only Keel's review workflow writes one.
    pub async fn insert_change(&self, data: RecordData) -> Result<RecordData> {
        changelog::insert(self, data).await
    }

    /// Sets fields of the `_changes` row `id` while its `state` is `expect`: 409 naming its
    /// state otherwise, 404 when there is no such row. Only Keel's review workflow calls it.
    pub async fn update_change(&self, id: &str, expect: &str, set: RecordData) -> Result<RecordData> {
        changelog::update(self, id, expect, set).await
    }

    /// [`Store::create_collection_by`], with the change recorded in `_changes` by `recorder`
    /// in the same transaction (see `store/changelog.rs`); returns the recorded row too.
    pub async fn create_collection_recorded(
        &self,
        input: Value,
        actor: SchemaActor,
        recorder: &dyn ChangeRecorder,
    ) -> Result<Recorded> {
        collections::create(self, input, actor, Some(recorder)).await
    }

    /// Applies a partial update (PocketBase JSON). Fields are matched by `id` (then by name):
    /// a new name renames the column keeping data; a field missing from `fields` is dropped
    /// with its column; new fields add columns. Renaming the collection renames the table.
    /// System fields cannot be removed or retyped.
    pub async fn update_collection(&self, name_or_id: &str, patch: Value) -> Result<Arc<Collection>> {
        Ok(
            collections::update(self, name_or_id, patch, SchemaActor::Superuser, None)
                .await?
                .0,
        )
    }

    /// The collection `input` would create, checked as a create checks it, without making it
    /// (a view's query is not run).
    pub fn preview_create(&self, input: Value, actor: SchemaActor) -> Result<Collection> {
        collections::preview_create(self, input, actor)
    }

    /// The collection `patch` would make of `name_or_id`, checked as
    /// [`Store::update_collection_by`] checks it, without applying it: the current collection
    /// and the target (a view keeps the fields it was sent; its query is not run).
    pub fn preview_update(
        &self,
        name_or_id: &str,
        patch: Value,
        actor: SchemaActor,
    ) -> Result<(Arc<Collection>, Collection)> {
        collections::preview_update(self, name_or_id, patch, actor)
    }

    /// [`Store::update_collection`] for `actor`: only superusers may change a system
    /// collection (names starting with `_`) or set token secrets (403 otherwise). `_audit`
    /// cannot be changed by anyone.
    pub async fn update_collection_by(
        &self,
        name_or_id: &str,
        patch: Value,
        actor: SchemaActor,
    ) -> Result<Arc<Collection>> {
        Ok(collections::update(self, name_or_id, patch, actor, None).await?.0)
    }

    /// [`Store::update_collection_by`], with the change recorded in `_changes` by `recorder`
    /// in the same transaction; returns the recorded row too (`None` for a no-op).
    pub async fn update_collection_recorded(
        &self,
        name_or_id: &str,
        patch: Value,
        actor: SchemaActor,
        recorder: &dyn ChangeRecorder,
    ) -> Result<Recorded> {
        collections::update(self, name_or_id, patch, actor, Some(recorder)).await
    }

    /// Deletes a collection and its table. System collections and collections referenced by
    /// another collection's relation field are refused with a 400.
    pub async fn delete_collection(&self, name_or_id: &str) -> Result<Arc<Collection>> {
        Ok(collections::delete(self, name_or_id, SchemaActor::Superuser, None)
            .await?
            .0)
    }

    /// [`Store::delete_collection`] for `actor` (a non-superuser gets a 403 for a system
    /// collection, a superuser the 400 above).
    pub async fn delete_collection_by(&self, name_or_id: &str, actor: SchemaActor) -> Result<Arc<Collection>> {
        Ok(collections::delete(self, name_or_id, actor, None).await?.0)
    }

    /// [`Store::delete_collection_by`], with the deletion recorded in `_changes` by
    /// `recorder` in the same transaction; returns the deleted collection and the row.
    pub async fn delete_collection_recorded(
        &self,
        name_or_id: &str,
        actor: SchemaActor,
        recorder: &dyn ChangeRecorder,
    ) -> Result<Recorded> {
        collections::delete(self, name_or_id, actor, Some(recorder)).await
    }

    /// Deletes every record of a collection (cascading like single deletes). System
    /// collections (names starting with `_`) are refused with a 400, whoever asks.
    pub async fn truncate_collection(&self, name_or_id: &str) -> Result<()> {
        records::truncate(self, name_or_id).await
    }

    // ----- records -----

    /// Lists records visible under `access` (a list rule filters silently), with `params.filter`
    /// applied on top. Bad filter or sort → 400 naming `filter`/`sort`.
    pub async fn list_records(
        &self,
        collection: &Arc<Collection>,
        params: &ListParams,
        req: &RequestInfo,
        access: Access<'_>,
    ) -> Result<Page<Record>> {
        select::list(self, collection, params, req, access, None).await
    }

    /// [`Store::list_records`] restricted to the records `ranked` (a search's matching ids,
    /// best first): the list rule and `params.filter` still apply, counts count only what
    /// they let through, and without `params.sort` the page comes in `ranked`'s order.
    pub async fn list_records_among(
        &self,
        collection: &Arc<Collection>,
        params: &ListParams,
        ranked: &[String],
        req: &RequestInfo,
        access: Access<'_>,
    ) -> Result<Page<Record>> {
        select::list(self, collection, params, req, access, Some(ranked)).await
    }

    /// One record; `Error::NotFound` when absent or hidden by the rule.
    pub async fn get_record(
        &self,
        collection: &Arc<Collection>,
        id: &str,
        req: &RequestInfo,
        access: Access<'_>,
    ) -> Result<Record> {
        select::get(self, collection, id, req, access).await
    }

    /// The first record whose `field` equals `value` (case-insensitive for `email`), no rule
    /// checked. For identity lookups (auth-with-password, superuser upsert).
    pub async fn find_by_field(
        &self,
        collection: &Arc<Collection>,
        field: &str,
        value: &Value,
    ) -> Result<Option<Record>> {
        select::find_by_field(self, collection, field, value).await
    }

    /// Creates a record from submitted data (already-hashed `password` for auth collections;
    /// file fields hold the stored file names). Validates every field (400 with per-field
    /// `{code,message}`; unknown fields are ignored like PocketBase), fills defaults, `id`,
    /// autodates and `tokenKey`, and checks the create rule against the new record inside the
    /// transaction (a failing rule → 400 "Failed to create record."). Emits a create event.
    pub async fn create_record(
        &self,
        collection: &Arc<Collection>,
        data: RecordData,
        req: &RequestInfo,
        access: Access<'_>,
    ) -> Result<Record> {
        if let Some(writer) = self.group.get() {
            let (reply, result) = tokio::sync::oneshot::channel();
            let job = group::CreateJob {
                collection: collection.clone(),
                data,
                req: req.clone(),
                rule: match access {
                    Access::Superuser => None,
                    Access::Rule(r) => Some(r.to_string()),
                },
                reply,
            };
            writer
                .send(job)
                .await
                .map_err(|_| Error::internal("the record writer has stopped"))?;
            return result
                .await
                .map_err(|_| Error::internal("the record writer dropped a create"))?;
        }
        let mut w = records::Write::begin(self).await?;
        let record = w.create(collection, data, req, access).await?;
        w.commit().await?;
        Ok(record)
    }

    /// Updates a record. `data` may use modifiers: `field+` appends (relations, files, multi
    /// select) or adds (numbers), `+field` prepends, `field-` removes / subtracts. The rule is
    /// checked against the current record (404 when it fails). Setting `password` rotates
    /// `tokenKey`. Returns `(before, after)`. Emits an update event.
    pub async fn update_record(
        &self,
        collection: &Arc<Collection>,
        id: &str,
        data: RecordData,
        req: &RequestInfo,
        access: Access<'_>,
    ) -> Result<(Record, Record)> {
        let mut w = records::Write::begin(self).await?;
        let pair = w.update(collection, id, data, req, access).await?;
        w.commit().await?;
        Ok(pair)
    }

    /// Deletes a record (404 when hidden by the rule), cascading to records whose relation has
    /// `cascadeDelete` (others have the id removed from their relation; a required single
    /// relation blocks the delete with a 400). Returns every deleted record (the first is the
    /// one asked for) so the caller can delete their files. Emits delete events.
    pub async fn delete_record(
        &self,
        collection: &Arc<Collection>,
        id: &str,
        req: &RequestInfo,
        access: Access<'_>,
    ) -> Result<Vec<Record>> {
        let mut w = records::Write::begin(self).await?;
        let deleted = w.delete(collection, id, req, access).await?;
        w.commit().await?;
        Ok(deleted)
    }

    /// Runs operations in one transaction: all commit or none. On failure returns the index
    /// of the failing operation and its error. Events are emitted after the commit.
    pub async fn batch(
        &self,
        ops: Vec<BatchOp>,
        req: &RequestInfo,
    ) -> std::result::Result<Vec<Vec<Record>>, (usize, keel_core::Error)> {
        batch::run(self, ops, req).await
    }

    /// Expands relations into `records` for PocketBase's `expand` parameter
    /// (`author,comments_via_post.user`, up to 6 levels). Related records the requester may
    /// not view (their collection's view rule) are left out silently.
    pub async fn expand(&self, records: &mut [Record], expand: &str, req: &RequestInfo) -> Result<()> {
        expand::expand(self, records, expand, req).await
    }

    /// Whether `record` (which may already be deleted) passes `rule` for `req`; used by
    /// realtime to decide who receives an event. Evaluates the rule against the record's
    /// data, not against the table, so it works for deletes too.
    pub async fn record_matches(
        &self,
        collection: &Arc<Collection>,
        record: &RecordData,
        rule: &str,
        req: &RequestInfo,
    ) -> Result<bool> {
        select::record_matches(self, collection, record, rule, req, crate::filter::Origin::Rule).await
    }

    /// Whether `record` (e.g. one a realtime event carries) passes a caller's `filter`,
    /// which reaches only what the caller could read directly (`filter::Origin::Filter`):
    /// `@collection` is refused (403) unless the caller skips the rules.
    pub async fn filter_matches(
        &self,
        collection: &Arc<Collection>,
        record: &RecordData,
        filter: &str,
        req: &RequestInfo,
    ) -> Result<bool> {
        select::record_matches(self, collection, record, filter, req, crate::filter::Origin::Filter).await
    }

    // ----- the audit trail (`_audit`, append-only and hash-chained; see store/audit.rs) -----

    /// Appends an entry to the audit trail (`event`, `success`, `actor`, `collectionRef`,
    /// `recordRef`, `identity`, `ip`, `userAgent`, `details`), chained to the previous one.
    /// The only way an entry is written: record writes to `_audit` are refused.
    pub async fn append_audit(&self, data: RecordData) -> Result<Record> {
        audit::append(self, data).await
    }

    /// Deletes the audit entries created before `cutoff` (PocketBase's time format), keeping
    /// the rest of the chain verifiable. Returns how many were deleted.
    pub async fn purge_audit(&self, cutoff: &str) -> Result<u64> {
        audit::purge(self, cutoff).await
    }

    /// Checks the audit trail's chain from its oldest kept entry to its head.
    pub async fn verify_audit(&self) -> Result<AuditVerification> {
        audit::verify(self).await
    }

    /// Deletes at most `limit` rows of the system collection `name` (Keel's own logs: webhook
    /// deliveries, notification history) created before `cutoff`, oldest first, without
    /// record events. Returns how many; a collection not starting with `_` is refused.
    pub async fn purge_created_before(&self, name: &str, cutoff: &str, limit: u32) -> Result<u64> {
        retention::purge_created_before(self, name, cutoff, limit).await
    }

    /// Deletes every row of Keel's own collection `name` whose `field` is one of `values`
    /// (at most 500); no record events, no rules. Answers how many rows.
    pub async fn purge_where_in(&self, name: &str, field: &str, values: &[Value]) -> Result<u64> {
        retention::purge_where_in(self, name, field, values).await
    }

    // ----- the change history (`_changes`, append-only; see store/changelog.rs) -----

    /// Every recorded collection change without its `before`, `after` and `diff`, oldest
    /// first (stats and the changelog); `include_system` false leaves out the changes of
    /// system collections.
    pub async fn change_summaries(&self, include_system: bool) -> Result<Vec<RecordData>> {
        changelog::summaries(self, include_system).await
    }

    // ----- params (settings and other small JSON values) -----

    pub async fn get_param(&self, key: &str) -> Result<Option<Value>> {
        migrate::get_param(self, key).await
    }

    pub async fn set_param(&self, key: &str, value: &Value) -> Result<()> {
        migrate::set_param(self, key, value).await
    }
}

/// Whether a view's `viewQuery` names `name` as a word outside string literals
/// (case-insensitively): a view whose query mentions a collection or a column may read it.
pub fn view_mentions(query: &str, name: &str) -> bool {
    view_query::mentions(query, name)
}

impl Store {
    /// The collection and file field that hold the files of the view `view`'s file field
    /// `field` (a view's file belongs to its source record); `None` when it has no such
    /// source.
    pub fn view_file_source(&self, view: &Collection, field: &str) -> Option<(Arc<Collection>, String)> {
        let schema = self.schema();
        view::file_source(&*schema, view, field)
    }
}

impl Store {
    /// The current schema snapshot (cheap: one `Arc` clone).
    pub(crate) fn schema(&self) -> Arc<cache::Schema> {
        match self.schema.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Reloads every collection from `_collections` into the cache.
    pub(crate) async fn reload_schema(&self) -> Result<()> {
        let sql = format!(
            "SELECT json FROM _collections ORDER BY created, {}",
            self.engine.dialect().insertion_order(None)
        );
        let rows = self.engine.fetch_all(&sql, &[]).await?;
        let mut list = Vec::with_capacity(rows.len());
        for row in rows {
            let json = row.get("json").and_then(Value::as_str).unwrap_or("{}");
            let c = Collection::from_stored_json(json).map_err(keel_core::Error::internal)?;
            list.push(Arc::new(c));
        }
        self.set_schema(list);
        Ok(())
    }

    /// Replaces the cache with `list`.
    pub(crate) fn set_schema(&self, list: Vec<Arc<Collection>>) {
        let s = Arc::new(cache::Schema::build(list, self.engine.dialect()));
        match self.schema.write() {
            Ok(mut g) => *g = s,
            Err(p) => *p.into_inner() = s,
        }
    }

    /// Sends committed events (nobody listening is fine), and waits until the publisher
    /// handed them to the bus.
    pub(crate) async fn emit(&self, events: Vec<RecordEvent>) {
        if events.is_empty() {
            return;
        }
        {
            let mut subs = self.lock_events();
            subs.retain(|tx| events.iter().all(|e| tx.send(e.clone()).is_ok()));
        }
        if let Some(publisher) = self.publisher.get() {
            let (done, published) = tokio::sync::oneshot::channel();
            if publisher.send(Committed { events, done }).is_ok() {
                let _ = published.await;
            }
        }
    }

    /// Tells `schema_changes` receivers that a collection change committed.
    pub(crate) fn schema_changed(&self) {
        self.schema_version.send_modify(|v| *v = v.wrapping_add(1));
    }

    fn lock_events(&self) -> std::sync::MutexGuard<'_, Vec<mpsc::UnboundedSender<RecordEvent>>> {
        self.events.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The record changes of one committed write, handed to the publisher (`publish_committed`).
pub struct Committed {
    pub events: Vec<RecordEvent>,
    /// Signalled (or dropped) once the events were handed to the bus.
    pub done: tokio::sync::oneshot::Sender<()>,
}

/// The field errors a create of `input` in `c` would get from the fields' own validators
/// (type, required, min/max, pattern, size, …), without the database: unique values and
/// related records are checked only by the write itself. The records API uses it to report
/// every bad field at once when its own checks (passwords) already refused the body.
pub fn field_errors(c: &Collection, input: &RecordData) -> keel_core::FieldErrors {
    validate::prepare(c, None, input, "").errors
}

/// Builds an object from pairs (handy in tests).
pub fn obj(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs.iter().map(|(k, v)| ((*k).to_string(), v.clone())).collect()
}
