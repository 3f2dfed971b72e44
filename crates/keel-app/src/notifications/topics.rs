//! Topics (`_notificationTopics`): named streams users subscribe to (`_notificationSubscriptions`),
//! each with an optional digest window (`digestSecs`). Creating and deleting topics takes
//! `notifications:manage`; any signed-in user lists them and subscribes or unsubscribes
//! themself; subscribing someone else takes `notifications:manage`.

use keel_core::{Error, Result};
use keel_data::system::{NOTIFICATION_SUBSCRIPTIONS as SUBSCRIPTIONS, NOTIFICATION_TOPICS as TOPICS};
use keel_data::Record;
use serde::Deserialize;
use serde_json::json;

use super::{find, insert, lit, may_act_for, remove, user_owner, Owner};
use crate::authz::{authorize, Permission};
use crate::caller::{Caller, INVALID_TOKEN};
use crate::App;

/// A topic as created.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TopicInput {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Collect this topic's messages per window of this many seconds and send one (0: off).
    #[serde(default)]
    pub digest_secs: u64,
}

/// Who subscribes: the caller unless `user` (and `collection`, default `users`) is given.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubscriberInput {
    pub user: Option<String>,
    pub collection: Option<String>,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
}

/// The topic `name`, if it exists.
pub async fn topic(app: &App, name: &str) -> Result<Option<Record>> {
    if !valid_name(name) {
        return Ok(None);
    }
    Ok(find(app, TOPICS, &format!("name = {}", lit(name)))
        .await?
        .into_iter()
        .next())
}

async fn topic_or_404(app: &App, name: &str) -> Result<Record> {
    topic(app, name)
        .await?
        .ok_or_else(|| Error::NotFound(format!("No topic named {name:?}.")))
}

/// Every topic (any signed-in caller).
pub async fn list(app: &App, caller: &Caller) -> Result<Vec<Record>> {
    if caller.is_guest() {
        return Err(Error::Unauthorized(INVALID_TOKEN.into()));
    }
    find(app, TOPICS, "").await
}

/// Creates a topic (`notifications:manage`).
pub async fn create(app: &App, caller: &Caller, input: TopicInput) -> Result<Record> {
    authorize(caller, Permission::NotificationsManage)?;
    if !valid_name(&input.name) {
        return Err(Error::field(
            "name",
            "validation_invalid_name",
            "A topic name is 1–100 letters, digits, `_`, `-`, `.` or `:`.",
        ));
    }
    if topic(app, &input.name).await?.is_some() {
        return Err(Error::field(
            "name",
            "validation_not_unique",
            "A topic with this name exists.",
        ));
    }
    insert(
        app,
        TOPICS,
        json!({"name": input.name, "description": input.description, "digestSecs": input.digest_secs}),
    )
    .await
}

/// Deletes a topic and its subscriptions (`notifications:manage`).
pub async fn delete(app: &App, caller: &Caller, name: &str) -> Result<()> {
    authorize(caller, Permission::NotificationsManage)?;
    let t = topic_or_404(app, name).await?;
    for s in find(app, SUBSCRIPTIONS, &format!("topic = {}", lit(name))).await? {
        remove(app, SUBSCRIPTIONS, s.id()).await?;
    }
    remove(app, TOPICS, t.id()).await
}

async fn subscriber(app: &App, caller: &Caller, input: &SubscriberInput) -> Result<Owner> {
    let owner = match &input.user {
        Some(user) => {
            let (c, r) = user_owner(app, input.collection.as_deref(), user, "user").await?;
            Owner {
                collection: c.id.clone(),
                record: r.id().to_string(),
            }
        }
        None => Owner::of(caller)?,
    };
    may_act_for(caller, &owner)?;
    Ok(owner)
}

/// Subscribes the caller (or, with `notifications:manage`, `input.user`) to `name`.
pub async fn subscribe(app: &App, caller: &Caller, name: &str, input: SubscriberInput) -> Result<Owner> {
    let owner = subscriber(app, caller, &input).await?;
    topic_or_404(app, name).await?;
    let filter = format!("topic = {} && {}", lit(name), owner.filter());
    if find(app, SUBSCRIPTIONS, &filter).await?.is_empty() {
        insert(
            app,
            SUBSCRIPTIONS,
            json!({"topic": name, "collectionRef": owner.collection, "recordRef": owner.record}),
        )
        .await?;
    }
    Ok(owner)
}

/// Unsubscribes the caller (or `input.user`) from `name`.
pub async fn unsubscribe(app: &App, caller: &Caller, name: &str, input: SubscriberInput) -> Result<Owner> {
    let owner = subscriber(app, caller, &input).await?;
    topic_or_404(app, name).await?;
    let filter = format!("topic = {} && {}", lit(name), owner.filter());
    for s in find(app, SUBSCRIPTIONS, &filter).await? {
        remove(app, SUBSCRIPTIONS, s.id()).await?;
    }
    Ok(owner)
}

/// The subscribers of `name`.
pub async fn subscribers(app: &App, name: &str) -> Result<Vec<Owner>> {
    Ok(find(app, SUBSCRIPTIONS, &format!("topic = {}", lit(name)))
        .await?
        .iter()
        .map(Owner::of_row)
        .collect())
}
