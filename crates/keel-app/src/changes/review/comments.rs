//! Comments on a change, in threads (`replyTo` names the comment answered), kept in the
//! change's `review.comments`; `@mentions` and the watchers' notifications.
//!
//! - Who: anyone who may read the change (`changes:read`) comments and reads comments.
//! - `@mentions`: `@` then a `users` record's email (`@ana@example.com`) or, when the
//!   `users` collection has a `username` field, its username (`@ana`); each mentioned user
//!   gets an in-app notification (and an email when an email channel is configured). A
//!   mention that matches nobody is kept as text.
//! - Watchers: the change's author, its approvers and its commenters; each state change of
//!   the change (and each comment) notifies them, except the person who made it. Only
//!   watchers that are records of an auth collection (not API keys) are notified.
//!
//! Notifications go through the notifications service after the comment or transition is
//! stored (best effort: a failure is logged, the comment or transition stays).

use keel_core::notify::Channel;
use keel_core::Error;
use keel_data::RecordData;
use serde_json::{json, Map, Value};

use super::{load, review_of, state_of, text};
use crate::audit::Origin;
use crate::caller::Caller;
use crate::changes::history;
use crate::notifications::send::{dispatch, SendRequest, To};
use crate::App;

/// Longest comment, in characters.
const MAX_TEXT: usize = 5000;
/// Most comments one change keeps.
const MAX_COMMENTS: usize = 500;

/// Adds a comment (`{"text": "…", "replyTo": "<comment id>"?}`) to the change `id`.
/// Returns the comment.
pub async fn add(
    app: &App,
    caller: &Caller,
    origin: &Origin,
    id: &str,
    input: &Map<String, Value>,
) -> Result<Value, Error> {
    history::may_read(caller)?;
    let body = input
        .get("text")
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or_default();
    if body.is_empty() {
        return Err(Error::field(
            "text",
            "validation_required",
            "Write the comment in text.",
        ));
    }
    if body.chars().count() > MAX_TEXT {
        return Err(Error::field(
            "text",
            "validation_max_text_constraint",
            format!("Keep a comment under {MAX_TEXT} characters."),
        ));
    }
    let reply_to = match input.get("replyTo") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            return Err(Error::field(
                "replyTo",
                "validation_invalid_value",
                "Give the id of the comment this one answers.",
            ))
        }
    };
    let row = load(app, caller, id).await?;
    let mut review = review_of(&row);
    let mut comments = match review.get("comments") {
        Some(Value::Array(a)) => a.clone(),
        _ => Vec::new(),
    };
    if comments.len() >= MAX_COMMENTS {
        return Err(Error::field(
            "text",
            "validation_too_many",
            format!("A change keeps at most {MAX_COMMENTS} comments."),
        ));
    }
    if let Some(r) = &reply_to {
        if !comments
            .iter()
            .any(|c| c.get("id").and_then(Value::as_str) == Some(r.as_str()))
        {
            return Err(Error::field(
                "replyTo",
                "validation_invalid_value",
                "No comment of this change has this id.",
            ));
        }
    }
    let mentioned = mentions(app, body).await;
    let comment = json!({
        "id": keel_core::id::new_id(),
        "author": caller.actor(),
        "text": body,
        "replyTo": reply_to,
        "mentions": mentioned.iter().map(|(actor, _)| actor.clone()).collect::<Vec<_>>(),
        "created": keel_core::time::now(),
    });
    comments.push(comment.clone());
    review.insert("comments".into(), Value::Array(comments));
    let mut set = RecordData::new();
    set.insert("review".into(), Value::Object(review));
    let stored = app.store.update_change(text(&row, "id"), state_of(&row), set).await?;
    let entry = crate::audit::entry(caller, origin, "change.comment")
        .detail("changeId", Value::from(id))
        .detail("commentId", comment["id"].clone());
    app.identity.audit(entry).await;
    history::announce_as(app, &stored, "commented").await;
    let title = format!(
        "{} mentioned you on a change of {}",
        caller.actor(),
        text(&row, "collection")
    );
    let users: Vec<String> = mentioned
        .into_iter()
        .filter(|(actor, _)| *actor != caller.actor())
        .map(|(actor, _)| actor)
        .collect();
    send(app, &stored, &users, &title, body, "mention").await;
    notify_watchers(app, caller, &stored, "commented").await;
    Ok(comment)
}

/// The comments of the change `id`, oldest first (`changes:read`).
pub async fn list(app: &App, caller: &Caller, id: &str) -> Result<Vec<Value>, Error> {
    history::may_read(caller)?;
    let row = load(app, caller, id).await?;
    Ok(match review_of(&row).get("comments") {
        Some(Value::Array(a)) => a.clone(),
        _ => Vec::new(),
    })
}

/// The `users` records mentioned in `body`, as `(users/ID, email)`.
async fn mentions(app: &App, body: &str) -> Vec<(String, String)> {
    let Ok(users) = app.store.collection("users") else {
        return Vec::new();
    };
    let has_username = users.fields.iter().any(|f| f.name == "username");
    let mut out: Vec<(String, String)> = Vec::new();
    for word in body.split_whitespace() {
        let Some(handle) = word.strip_prefix('@') else { continue };
        let handle = handle.trim_end_matches(|c: char| ",;:!?)".contains(c));
        let handle = handle.strip_suffix('.').unwrap_or(handle);
        if handle.is_empty() || handle.len() > 255 {
            continue;
        }
        let field = if handle.contains('@') {
            "email"
        } else if has_username {
            "username"
        } else {
            continue;
        };
        let found = app
            .store
            .find_by_field(&users, field, &Value::String(handle.to_string()))
            .await;
        match found {
            Ok(Some(r)) => {
                let actor = format!("{}/{}", users.name, r.id());
                if !out.iter().any(|(a, _)| *a == actor) {
                    out.push((actor, handle.to_string()));
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "could not look up a mentioned user"),
        }
    }
    out
}

/// Tells the watchers of `row` (author, approvers, commenters; not `caller`) that `action`
/// happened to it.
pub(super) async fn notify_watchers(app: &App, caller: &Caller, row: &RecordData, action: &str) {
    let me = caller.actor();
    let mut watchers = vec![text(row, "author").to_string()];
    let review = review_of(row);
    for key in ["approvals", "comments"] {
        if let Some(Value::Array(items)) = review.get(key) {
            for item in items {
                let who = item
                    .get("by")
                    .or_else(|| item.get("author"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                watchers.push(who.to_string());
            }
        }
    }
    watchers.retain(|w| !w.is_empty() && *w != me);
    watchers.sort();
    watchers.dedup();
    let title = format!(
        "Change of {} ({}): {}",
        text(row, "collection"),
        text(row, "verdict"),
        action.replace('_', " ")
    );
    let body = format!(
        "{me} {} change {} of collection {}; it is now {}.",
        action.replace('_', " "),
        text(row, "id"),
        text(row, "collection"),
        state_of(row).replace('_', " ")
    );
    send(app, row, &watchers, &title, &body, action).await;
}

/// Sends one notification to the auth records among `actors` (`collection/id`), in-app and
/// by email when an email channel exists.
async fn send(app: &App, row: &RecordData, actors: &[String], title: &str, body: &str, what: &str) {
    let mut by_collection: Vec<(String, Vec<String>)> = Vec::new();
    for actor in actors {
        let Some((collection, id)) = actor.split_once('/') else {
            continue;
        };
        let is_auth = app.store.collection(collection).is_ok_and(|c| c.is_auth());
        if !is_auth || collection == "apikey" {
            continue;
        }
        match by_collection.iter_mut().find(|(c, _)| c == collection) {
            Some((_, ids)) => ids.push(id.to_string()),
            None => by_collection.push((collection.to_string(), vec![id.to_string()])),
        }
    }
    let mut channels = vec![Channel::InApp];
    if crate::notifications::email_channel(app).is_some() {
        channels.push(Channel::Email);
    }
    for (collection, users) in by_collection {
        let req = SendRequest {
            to: To {
                users,
                collection: Some(collection),
                ..To::default()
            },
            subject: Some(title.to_string()),
            body: Some(body.to_string()),
            data: json!({"changeId": text(row, "id"), "collection": text(row, "collection"), "event": what}),
            channels: Some(channels.clone()),
            ..SendRequest::default()
        };
        let source = format!("change:{}:{what}:{}", text(row, "id"), keel_core::id::new_id());
        if let Err(e) = dispatch(app, req, &source).await {
            tracing::warn!(error = %e, change = text(row, "id"), "could not notify about a change");
        }
    }
}
