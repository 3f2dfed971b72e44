//! One connected realtime client: its message queue, its subscriptions and the auth record
//! bound to it by its subscription requests.

use std::sync::{Arc, Mutex};

use super::Message;
use keel_data::AuthRecord;

use crate::Caller;
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// A connected SSE client.
pub struct Client {
    id: String,
    tx: mpsc::Sender<Message>,
    closed: CancellationToken,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    subscriptions: Arc<[Subscription]>,
    auth: Option<AuthRecord>,
    /// The caller of the last subscription request (roles and permissions for job topics).
    caller: Caller,
    /// Who owns the client: the actor (`Caller::actor`) and API key hash of the first
    /// credential that set its subscriptions.
    owner: Option<(String, Option<Arc<str>>)>,
}

/// The auth of a subscription request does not match the auth already bound to the client.
#[derive(Debug)]
pub struct AuthMismatch;

impl Client {
    pub fn new(id: String, tx: mpsc::Sender<Message>, closed: CancellationToken) -> Self {
        Client {
            id,
            tx,
            closed,
            state: Mutex::default(),
        }
    }

    /// The id sent in `PB_CONNECT`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Replaces the client's subscriptions.
    pub fn set_subscriptions(&self, subscriptions: Vec<Subscription>) {
        self.lock().subscriptions = subscriptions.into();
    }

    /// Binds the auth of a subscription request. The first credential that sets the client's
    /// subscriptions (an auth record, or an API key with its secret) owns the client for
    /// good: a guest, another record or another key (or the same key with another secret) is
    /// refused, also once that credential was revoked or rotated and the client demoted to a
    /// guest (PocketBase's rule, extended to keys), so only whoever opened the subscriptions
    /// can change them.
    pub fn bind_auth(&self, caller: &Caller) -> Result<(), AuthMismatch> {
        let mut st = self.lock();
        if let Some((actor, key_hash)) = &st.owner {
            if caller.actor() != *actor || caller.api_key_hash != *key_hash {
                return Err(AuthMismatch);
            }
        } else if !caller.is_guest() {
            st.owner = Some((caller.actor(), caller.api_key_hash.clone()));
        }
        st.auth = caller.auth.clone();
        st.caller = caller.clone();
        Ok(())
    }

    /// The bound auth record, if any.
    pub fn auth(&self) -> Option<AuthRecord> {
        self.lock().auth.clone()
    }

    /// Replaces (`Some`) or drops (`None`) the bound auth when its record `id` of
    /// `collection_id` changed or was deleted.
    pub fn refresh_auth(&self, collection_id: &str, id: &str, update: Option<&Map<String, Value>>) {
        let mut st = self.lock();
        let Some(current) = &st.auth else { return };
        if current.collection.id != collection_id || current.id() != id {
            return;
        }
        match update {
            Some(record) if record.get("tokenKey") == current.record.get("tokenKey") => {
                let collection = current.collection.clone();
                let mut record = record.clone();
                // Roles are not a column: keep the ones resolved when the client subscribed.
                if let (None, Some(roles)) = (collection.field("roles"), current.record.get("roles")) {
                    record.insert("roles".into(), roles.clone());
                }
                st.auth = Some(AuthRecord::new(collection, record));
                st.caller.auth = st.auth.clone();
            }
            _ => {
                st.auth = None;
                st.caller = Caller::guest();
            }
        }
    }

    /// Makes the client a guest when its caller is the API key `key_id` and that key is no
    /// longer live with the secret the client used: `live_hash` is the key's stored hash
    /// after a change, `None` when it was revoked or deleted.
    pub fn drop_api_key(&self, key_id: &str, live_hash: Option<&str>) {
        let mut st = self.lock();
        let bound = st.caller.api_key.as_ref().is_some_and(|k| k.id == key_id);
        let same_secret = live_hash.is_some_and(|h| st.caller.api_key_hash.as_deref() == Some(h));
        if bound && !same_secret {
            st.caller = Caller::guest();
        }
    }

    /// Gives the bound caller new `roles` and the `permissions` they grant, if it is still
    /// `actor` (see `Caller::actor`): role assignments and role definitions change while a
    /// client stays connected. Rules see the roles too (`@request.auth.roles`).
    pub fn set_roles(&self, actor: &str, roles: Vec<String>, permissions: Vec<String>) {
        let mut st = self.lock();
        if st.caller.is_guest() || st.caller.actor() != actor {
            return;
        }
        let listed = Value::from(roles.clone());
        let set_on = |a: &mut AuthRecord| {
            if a.collection.field("roles").is_none() || a.collection.name == keel_data::system::API_KEYS {
                Arc::make_mut(&mut a.record).insert("roles".into(), listed.clone());
            }
        };
        if let Some(a) = st.caller.auth.as_mut() {
            set_on(a);
        }
        if let Some(a) = st.caller.key_principal.as_mut() {
            set_on(a);
        }
        st.auth = st.caller.auth.clone();
        st.caller.roles = roles.into();
        st.caller.permissions = permissions.into();
    }

    /// The bound caller at this moment.
    pub fn caller(&self) -> Caller {
        self.lock().caller.clone()
    }

    /// The subscriptions and auth at this moment.
    pub fn snapshot(&self) -> (Arc<[Subscription]>, Option<AuthRecord>) {
        let st = self.lock();
        (st.subscriptions.clone(), st.auth.clone())
    }

    /// The subscriptions and the caller (with its permissions) at this moment.
    pub fn snapshot_caller(&self) -> (Arc<[Subscription]>, Caller) {
        let st = self.lock();
        (st.subscriptions.clone(), st.caller.clone())
    }

    /// Queues `event`. A full queue means the client cannot keep up: it is closed and
    /// `false` returned, so the broker never waits on one client.
    pub fn send(&self, event: Message) -> bool {
        match self.tx.try_send(event) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                tracing::warn!(client = %self.id, "realtime client too slow; disconnecting");
                self.close();
                false
            }
            Err(TrySendError::Closed(_)) => {
                self.close();
                false
            }
        }
    }

    /// Ends the client's stream.
    pub fn close(&self) {
        self.closed.cancel();
    }

    /// Whether the client's stream was ended.
    pub fn is_closed(&self) -> bool {
        self.closed.is_cancelled()
    }

    /// Resolves when the client's stream must end.
    pub fn closed(&self) -> WaitForCancellationFutureOwned {
        self.closed.clone().cancelled_owned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What a subscription listens to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `COLLECTION/*`: every record the list rule lets the client see.
    All { collection: String },
    /// `COLLECTION/ID`: one record, under the view rule.
    Record { collection: String, id: String },
    /// Any other topic (`@oauth2`, custom ones): accepted, never fed by record events.
    Other,
}

/// One subscription as the client sent it, with its options parsed.
#[derive(Debug, Clone)]
pub struct Subscription {
    /// The exact string the client sent: the SSE event name of its messages.
    pub raw: String,
    pub target: Target,
    /// `options.query` (`expand`, `fields`, `filter`, and `@request.query.*` for rules).
    pub query: Map<String, Value>,
    /// `options.headers` (`@request.headers.*`), names normalized like request headers.
    pub headers: Map<String, Value>,
}

impl Subscription {
    /// Parses `TOPIC[?options=<urlencoded JSON {"query":{..},"headers":{..}}>]`. Unreadable
    /// options are ignored, like PocketBase. `None` when `raw` holds a line break or NUL
    /// (it could not be an SSE event name).
    pub fn parse(raw: &str) -> Option<Subscription> {
        if raw.is_empty() || raw.contains(['\r', '\n', '\0']) {
            return None;
        }
        let (topic, qs) = raw.split_once('?').unwrap_or((raw, ""));
        let target = match topic.split_once('/') {
            Some((c, "*")) if !c.is_empty() => Target::All {
                collection: c.to_string(),
            },
            Some((c, id)) if !c.is_empty() && !id.is_empty() && !id.contains('/') => Target::Record {
                collection: c.to_string(),
                id: id.to_string(),
            },
            _ => Target::Other,
        };
        let mut query = Map::new();
        let mut headers = Map::new();
        for (k, v) in form_urlencoded::parse(qs.as_bytes()) {
            if k != "options" {
                continue;
            }
            let Ok(Value::Object(opts)) = serde_json::from_str::<Value>(&v) else {
                continue;
            };
            if let Some(Value::Object(q)) = opts.get("query") {
                query.extend(q.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            if let Some(Value::Object(h)) = opts.get("headers") {
                headers.extend(
                    h.iter()
                        .map(|(k, v)| (k.to_ascii_lowercase().replace('-', "_"), v.clone())),
                );
            }
        }
        Some(Subscription {
            raw: raw.to_string(),
            target,
            query,
            headers,
        })
    }

    /// The job queues a `jobs/{queue}` or `jobs/*` topic listens to (`None` for any other
    /// topic). Such a topic still parses as a record target of a collection named `jobs`, so
    /// record subscriptions behave exactly as before; job events are matched on top.
    pub fn jobs_topic(&self) -> Option<JobsTopic<'_>> {
        let topic = self.raw.split_once('?').map_or(self.raw.as_str(), |(t, _)| t);
        match topic.strip_prefix("jobs/")? {
            "*" => Some(JobsTopic::All),
            q if !q.is_empty() && !q.contains('/') => Some(JobsTopic::Queue(q)),
            _ => None,
        }
    }

    /// The run of an `ops/runs/{id}` subscription (a run's live log and state).
    pub fn ops_run(&self) -> Option<&str> {
        let topic = self.raw.split_once('?').map_or(self.raw.as_str(), |(t, _)| t);
        topic
            .strip_prefix("ops/runs/")
            .filter(|id| !id.is_empty() && !id.contains('/'))
    }

    /// A non-empty string option of `query` (`expand`, `fields`, `filter`).
    pub fn query_str(&self, key: &str) -> Option<&str> {
        self.query
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }
}

/// The queues a jobs subscription listens to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobsTopic<'a> {
    /// `jobs/*`: every queue.
    All,
    /// `jobs/{queue}`: one queue.
    Queue(&'a str),
}

impl JobsTopic<'_> {
    /// Whether an event of a job in `queue` belongs to this topic.
    pub fn matches(&self, queue: &str) -> bool {
        match self {
            JobsTopic::All => true,
            JobsTopic::Queue(q) => *q == queue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_topics_and_options() {
        let s = Subscription::parse("posts/*").unwrap();
        assert_eq!(
            s.target,
            Target::All {
                collection: "posts".into()
            }
        );
        let raw = "posts/abc?options=%7B%22query%22%3A%7B%22expand%22%3A%22author%22%7D%2C%22headers%22%3A%7B%22X-Token%22%3A%22t%22%7D%7D";
        let s = Subscription::parse(raw).unwrap();
        assert_eq!(s.raw, raw);
        assert_eq!(
            s.target,
            Target::Record {
                collection: "posts".into(),
                id: "abc".into()
            }
        );
        assert_eq!(s.query_str("expand"), Some("author"));
        assert_eq!(s.headers.get("x_token"), Some(&Value::String("t".into())));
        assert_eq!(Subscription::parse("@oauth2").unwrap().target, Target::Other);
        assert_eq!(Subscription::parse("posts/").unwrap().target, Target::Other);
        assert!(Subscription::parse("posts/*?options=notjson").unwrap().query.is_empty());
        assert!(Subscription::parse("posts/*\nevent: x").is_none());
    }

    #[test]
    fn jobs_topics() {
        let topic = |raw: &str| {
            Subscription::parse(raw).unwrap().jobs_topic().map(|t| match t {
                JobsTopic::All => "*".to_string(),
                JobsTopic::Queue(q) => format!("queue {q}"),
            })
        };
        assert_eq!(topic("jobs/*").as_deref(), Some("*"));
        assert_eq!(topic("jobs/emails").as_deref(), Some("queue emails"));
        assert_eq!(topic("jobs/emails?options=%7B%7D").as_deref(), Some("queue emails"));
        for none in ["jobs", "jobs/", "jobs/a/b", "posts/*", "jobsx/a", "@oauth2"] {
            assert_eq!(topic(none), None, "{none}");
        }
        assert!(JobsTopic::All.matches("any"));
        assert!(JobsTopic::Queue("a").matches("a") && !JobsTopic::Queue("a").matches("b"));
        // still a record target, as before
        assert_eq!(
            Subscription::parse("jobs/*").unwrap().target,
            Target::All {
                collection: "jobs".into()
            }
        );
    }
}
