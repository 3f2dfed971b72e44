//! The shapes the API answers with, for the OpenAPI document. Most handlers build their JSON
//! from `keel-*` types (or, for records, from each collection's own fields); these types
//! describe those shapes without adding a schema derive to the crates below.

use std::collections::HashMap;

use serde_json::Value;
use utoipa::ToSchema;

/// Every error, PocketBase's shape: `data` maps an offending field to its error.
#[derive(ToSchema)]
#[schema(example = json!({"status": 400, "message": "Failed to create record.", "data": {"title": {"code": "validation_required", "message": "Missing required value."}}}))]
pub struct ErrorBody {
    /// The HTTP status, repeated.
    pub status: u16,
    /// What was wrong and what to do.
    pub message: String,
    /// Per field: `{"code", "message"}`; empty when the error is not about a field.
    #[schema(value_type = Object)]
    pub data: Value,
}

/// A record: the system fields below plus the collection's own fields (free-form; their
/// names and types are the collection's schema, see `GET /api/collections/{collection}`).
/// Hidden fields never appear; an auth record's `email` only where `emailVisibility` allows.
/// `fields=` may leave out any member, the system fields included.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// 15 characters `[a-z0-9]` unless the collection's `id` field says otherwise.
    pub id: Option<String>,
    pub collection_id: Option<String>,
    pub collection_name: Option<String>,
    /// `expand=` relations, by field name.
    #[schema(value_type = Option<Object>)]
    pub expand: Option<Value>,
    /// The other fields.
    #[serde(flatten)]
    pub other: HashMap<String, Value>,
}

/// A record to create or update: the collection's fields (free-form). JSON, or
/// `multipart/form-data` where the collection has file fields (files as parts named for the
/// field; other fields as text parts, or one `@jsonPayload` part). Modifiers: `field+`
/// appends, `+field` prepends, `field-` removes (relations, selects, files, numbers).
#[derive(ToSchema)]
pub struct RecordInput {
    /// Optional on create (generated when absent).
    pub id: Option<String>,
    /// The other fields.
    #[serde(flatten)]
    pub other: HashMap<String, Value>,
}

/// A page of records (`fields=` may leave out any member).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordList {
    pub page: Option<u64>,
    pub per_page: Option<u64>,
    /// -1 with `skipTotal=1`.
    pub total_items: Option<i64>,
    /// -1 with `skipTotal=1`.
    pub total_pages: Option<i64>,
    pub items: Option<Vec<Record>>,
}

/// A signed-in identity: the auth token and its record (`fields=` may leave out any member).
#[derive(ToSchema)]
pub struct AuthResponse {
    /// Send as `Authorization: <token>` (or `Bearer <token>`).
    pub token: Option<String>,
    pub record: Option<Record>,
    /// OAuth2 / LDAP sign-ins: the provider's profile (`id`, `name`, `email`, `avatarURL`,
    /// `isNew`, `rawUser`, tokens).
    #[schema(value_type = Option<Object>)]
    pub meta: Option<Value>,
}

/// The first factor passed but a second is required (MFA): a 401 with this body; send
/// `mfaId` with the second factor's sign-in.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MfaRequired {
    pub status: u16,
    pub message: String,
    #[schema(value_type = Object)]
    pub data: Value,
    pub mfa_id: String,
}

/// A collection, PocketBase's shape (`fields`, rules, `indexes`, auth options). Secrets in
/// options (token secrets, OAuth2 client secrets, LDAP bind password) are never returned.
/// `fields=` may leave out any member.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Collection {
    pub id: Option<String>,
    pub name: Option<String>,
    /// `base` or `auth`.
    #[schema(rename = "type")]
    pub kind: Option<String>,
    pub system: Option<bool>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub fields: Option<Vec<Value>>,
    pub indexes: Option<Vec<String>>,
    pub list_rule: Option<String>,
    pub view_rule: Option<String>,
    pub create_rule: Option<String>,
    pub update_rule: Option<String>,
    pub delete_rule: Option<String>,
    /// The other fields.
    #[serde(flatten)]
    pub other: HashMap<String, Value>,
}

/// A collection to create or update (any subset of [`Collection`]'s keys on update).
#[derive(ToSchema)]
pub struct CollectionInput {
    pub name: Option<String>,
    /// `base` (default) or `auth`.
    #[schema(rename = "type")]
    pub kind: Option<String>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub fields: Option<Vec<Value>>,
    /// The other fields.
    #[serde(flatten)]
    pub other: HashMap<String, Value>,
}

/// A page of collections.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CollectionList {
    pub page: Option<u64>,
    pub per_page: Option<u64>,
    pub total_items: Option<i64>,
    pub total_pages: Option<i64>,
    pub items: Option<Vec<Collection>>,
}

/// A list that is not paged.
#[derive(ToSchema)]
pub struct Items {
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<Value>,
}

/// A free-form JSON object (the settings document, stats, options…).
#[derive(ToSchema)]
pub struct Object {
    /// Any members.
    #[serde(flatten)]
    pub other: HashMap<String, Value>,
}

/// A background job (`GET /api/jobs/{id}`), times in RFC 3339 UTC.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub id: String,
    pub queue: String,
    pub name: String,
    pub payload: Value,
    /// `waiting`, `delayed`, `active`, `completed`, `failed` (to be retried), `dead`,
    /// `cancelled`.
    pub state: String,
    pub priority: i32,
    pub run_at: String,
    pub attempts: u32,
    pub max_attempts: u32,
    #[schema(value_type = Object)]
    pub backoff: Value,
    pub timeout_ms: u64,
    pub unique_key: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub progress: Option<Value>,
    pub result: Option<Value>,
    #[schema(value_type = Vec<Object>)]
    pub errors: Vec<Value>,
    pub worker: Option<String>,
    pub lease_expires_at: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub updated_at: String,
    /// The other fields.
    #[serde(flatten)]
    pub other: HashMap<String, Value>,
}

/// A job to enqueue.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewJob {
    pub name: Option<String>,
    pub payload: Value,
    /// 0 to 9, higher runs first.
    #[schema(minimum = 0, maximum = 9)]
    pub priority: Option<i32>,
    /// At most 366 days.
    pub delay_ms: Option<i64>,
    /// RFC 3339.
    pub run_at: Option<String>,
    pub max_attempts: Option<u32>,
    /// `{"type": "fixed"|"exponential", "delayMs", "maxDelayMs", "jitter"}`.
    #[schema(value_type = Option<Object>)]
    pub backoff: Option<Value>,
    pub timeout_ms: Option<u64>,
    /// At most one waiting or active job per key; a duplicate answers the existing job.
    pub unique_key: Option<String>,
}

/// `POST /api/queues/{queue}/jobs`: one job, or an array of at most 1000 (all or none).
#[derive(ToSchema)]
#[serde(untagged)]
pub enum Enqueue {
    One(Box<NewJob>),
    Many(Vec<NewJob>),
}

/// The answer to an enqueue: the job with `created` (false when a pending job of the queue
/// already held the `uniqueKey`: that job is returned), or `{items}` for an array.
#[derive(ToSchema)]
#[serde(untagged)]
pub enum Enqueued {
    One(Box<Job>),
    Many(Items),
}

/// A queue's settings.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueSettings {
    pub paused: bool,
    /// At most this many jobs active at once (null: no limit).
    pub concurrency: Option<u32>,
    /// `{"max", "intervalMs"}`: at most `max` claims per interval.
    #[schema(value_type = Option<Object>)]
    pub rate_limit: Option<Value>,
    /// Jobs are POSTed to this URL instead of waiting for a worker's claim.
    pub push_url: Option<String>,
    /// `{"count", "ageSecs"}`.
    #[schema(value_type = Object)]
    pub keep_completed: Value,
    /// `{"count", "ageSecs"}`.
    #[schema(value_type = Object)]
    pub keep_dead: Value,
}

/// A queue: its settings and its jobs counted by state.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Queue {
    pub name: String,
    /// `{"paused", "concurrency", "rateLimit": {"max", "intervalMs"}, "pushUrl",
    /// "keepCompleted", "keepDead"}`.
    #[schema(value_type = Object)]
    pub settings: Value,
    /// Jobs by state.
    #[schema(value_type = Object)]
    pub counts: Value,
}

/// A schedule: when to enqueue which job on which queue. `schedule` is
/// `{"cron": "0 9 * * 1-5", "timezone": "Europe/Paris"}`, `{"every": "15m", "anchor": …}` or
/// `{"at": "2026-12-01T09:00:00Z"}`.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Schedule {
    pub id: String,
    pub name: String,
    #[schema(value_type = Object)]
    pub schedule: Value,
    pub queue: String,
    pub job: Value,
    /// `skip` (default) or `allow`: whether a tick may enqueue while the last one's job is
    /// pending.
    pub overlap: String,
    /// `skip` (default) or `runOnce`: what a missed tick does.
    pub catchup: String,
    pub paused: bool,
    pub last_tick: Option<String>,
    pub last_job_id: Option<String>,
    pub next_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// A schedule to create, or the keys to change.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleInput {
    pub name: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub schedule: Option<Value>,
    pub queue: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub job: Option<Value>,
    pub overlap: Option<String>,
    pub catchup: Option<String>,
    pub paused: Option<bool>,
}

/// A role: a name and the permissions it grants (`cache:read`, `jobs:*`, `*`, …).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Role {
    pub name: String,
    pub description: String,
    pub permissions: Vec<String>,
    /// Built-in roles (`admin`, `operator`, `viewer`) cannot be changed or deleted.
    pub builtin: bool,
}

/// An API key (never its secret, except once in the answer to create and rotate).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub roles: Vec<String>,
    /// Expiry, "" for never.
    pub expires: String,
    /// Last use ("" for never), updated at most once a minute.
    pub last_used: String,
    pub revoked: bool,
    /// Who created it (`collection/recordId`).
    pub created_by: String,
    pub created: String,
    /// Only in the answers to create and rotate: send as `Authorization: <key>`.
    pub key: Option<String>,
}

/// The answer to a file token request: a short-lived token for `?token=` on protected files.
#[derive(ToSchema)]
pub struct FileToken {
    pub token: String,
}

/// One request of a batch.
#[derive(ToSchema)]
pub struct BatchRequest {
    /// `POST`, `PUT` (upsert), `PATCH` or `DELETE`.
    pub method: String,
    /// A records URL, e.g. `/api/collections/posts/records` or `…/records/{id}`.
    pub url: String,
    #[schema(value_type = Option<Object>)]
    pub headers: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub body: Option<Value>,
}

/// `POST /api/batch`: record writes in one transaction (JSON, or multipart with a
/// `@jsonPayload` part and files named `requests.N.field`).
#[derive(ToSchema)]
pub struct BatchInput {
    pub requests: Vec<BatchRequest>,
}

/// One answer of a batch, in request order.
#[derive(ToSchema)]
pub struct BatchResult {
    pub status: u16,
    #[schema(value_type = Object)]
    pub body: Value,
}

/// `POST /api/realtime`: the client's new subscriptions (collection names, or
/// `collection/recordId`, each optionally with `?options={"query": …, "headers": …}`).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RealtimeSubscriptions {
    /// The `clientId` of `PB_CONNECT`.
    pub client_id: String,
    pub subscriptions: Vec<String>,
}

/// The body of a namespace-wide cache operation, by the operation named in the path.
#[derive(ToSchema)]
pub struct CacheAction {
    /// `invalidate`: the tags whose entries to remove.
    pub tags: Option<Vec<String>>,
    /// `get-many`: the keys to read.
    pub keys: Option<Vec<String>>,
    /// `set-many`: `[{key, value, ttl?, tags?}]`.
    #[schema(value_type = Option<Vec<Object>>)]
    pub entries: Option<Vec<Value>>,
}
