//! Who is asking and with what: the `@request.*` side of rules and filters.

use std::sync::{Arc, LazyLock, OnceLock};

use serde_json::{Map, Value};

use crate::schema::{Collection, RecordData, SUPERUSERS_ID};

/// An authenticated auth record. Cheap to clone: every rule a request checks gets its
/// `@request.auth`, and copying the record's fields for each was ~2,900 instructions a
/// signed-in request (callgrind).
#[derive(Debug, Clone)]
pub struct AuthRecord {
    pub collection: Arc<Collection>,
    pub record: Arc<RecordData>,
}

impl AuthRecord {
    /// The auth record `record` of `collection`.
    pub fn new(collection: Arc<Collection>, record: RecordData) -> Self {
        AuthRecord {
            collection,
            record: Arc::new(record),
        }
    }

    pub fn id(&self) -> &str {
        self.record.get("id").and_then(Value::as_str).unwrap_or("")
    }
}

/// The request a rule or filter is evaluated for (`@request.*`).
#[derive(Debug, Clone, Default)]
pub struct RequestInfo {
    /// `@request.auth.*`; `None` for a guest.
    pub auth: Option<AuthRecord>,
    /// `@request.method` (upper case).
    pub method: String,
    /// `@request.query.*`: query parameters.
    pub query: RequestMap,
    /// `@request.headers.*`: header names lower-cased with `-` turned into `_`.
    pub headers: RequestMap,
    /// `@request.body.*`: the submitted fields (JSON or multipart; file fields hold file names).
    pub body: Map<String, Value>,
    /// `@request.context`: `default`, `realtime`, `protectedFile`, `oauth2`, `batch`.
    pub context: String,
    /// The caller holds the `records:manage` permission (an API key or a role granting it):
    /// rules are skipped and hidden fields are readable as for a superuser, on every
    /// collection but the system ones (`_superusers`, `_roles`, `_apiKeys`, … : every name
    /// starting with `_`), which keep their rules.
    pub manages_records: bool,
}

/// `@request.query.*` or `@request.headers.*`, made into JSON the first time a rule, a filter
/// or an auth flow reads it. Most requests are checked by rules that read neither, and a
/// browser's dozen headers made into a map of owned names and values cost more than the rest
/// of a record view (callgrind). Clones share one map.
#[derive(Clone, Default)]
pub struct RequestMap(Option<Arc<MapInner>>);

struct MapInner {
    built: OnceLock<Map<String, Value>>,
    /// Makes the map; `None` when it was given made.
    source: Option<Box<dyn Fn() -> Map<String, Value> + Send + Sync>>,
}

/// What an empty [`RequestMap`] reads (an empty one allocates nothing).
static EMPTY: LazyLock<Map<String, Value>> = LazyLock::new(Map::new);

impl RequestMap {
    /// A map that `build` makes when it is first read (at most once).
    pub fn lazy(build: impl Fn() -> Map<String, Value> + Send + Sync + 'static) -> RequestMap {
        RequestMap(Some(Arc::new(MapInner {
            built: OnceLock::new(),
            source: Some(Box::new(build)),
        })))
    }

    /// The values by name.
    pub fn map(&self) -> &Map<String, Value> {
        let Some(inner) = &self.0 else {
            return &EMPTY;
        };
        inner
            .built
            .get_or_init(|| inner.source.as_ref().map(|build| build()).unwrap_or_default())
    }

    /// The value named `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.map().get(name)
    }
}

impl From<Map<String, Value>> for RequestMap {
    fn from(map: Map<String, Value>) -> RequestMap {
        RequestMap(Some(Arc::new(MapInner {
            built: OnceLock::from(map),
            source: None,
        })))
    }
}

impl std::fmt::Debug for RequestMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.map().fmt(f)
    }
}

impl RequestInfo {
    pub fn is_superuser(&self) -> bool {
        self.auth.as_ref().is_some_and(|a| a.collection.id == SUPERUSERS_ID)
    }

    /// Whether the rules (and the hiding of hidden fields) of `collection` are skipped for
    /// this request: for superusers everywhere; for holders of `records:manage` on the app's
    /// own collections, never on a system collection (a name starting with `_`, reserved for
    /// them), so the permission cannot be turned into roles, keys or superusers.
    pub fn skips_rules(&self, collection: &Collection) -> bool {
        self.is_superuser() || (self.manages_records && !collection.name.starts_with('_'))
    }
}

/// How an operation is checked. The server turns a `null` rule into a 403 for
/// non-superusers before calling the store, so the store only sees these two.
#[derive(Debug, Clone, Copy)]
pub enum Access<'a> {
    /// No check (superusers, internal callers).
    Superuser,
    /// The collection's rule for the operation; `""` lets anyone through.
    Rule(&'a str),
}

impl<'a> Access<'a> {
    /// The access for `rule` (one of `collection`'s rules) given the request: superusers
    /// skip every rule, holders of `records:manage` those of every collection but the
    /// system ones ([`RequestInfo::skips_rules`]); `None` means the caller must get a 403
    /// (the rule is superusers-only).
    pub fn for_rule(collection: &Collection, rule: &'a Option<String>, req: &RequestInfo) -> Option<Access<'a>> {
        if req.skips_rules(collection) {
            return Some(Access::Superuser);
        }
        rule.as_deref().map(Access::Rule)
    }
}

/// Who changes the schema (create, change, delete or truncate a collection). System
/// collections (names starting with `_`: `_superusers`, `_roles`, `_roleAssignments`,
/// `_apiKeys`, `_audit`, …) belong to superusers: their rules, options and fields decide who
/// may become what, so a [`SchemaActor::Manager`] may not touch them, nor create a
/// collection with such a name, nor set an auth collection's token secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaActor {
    /// A superuser, or Keel itself (migrations, the CLI).
    Superuser,
    /// A holder of `collections:manage` who is not a superuser.
    Manager,
}

/// Whether `name` is a system collection's (reserved for Keel: it starts with `_`).
pub fn is_system_name(name: &str) -> bool {
    name.starts_with('_')
}
