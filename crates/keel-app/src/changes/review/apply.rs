//! Apply and rollback: a reviewed change goes through the same recorded store path as a
//! direct one (`collections::*_recorded`), its proposal row rewritten as the history entry in
//! the change's own transaction. Inside that transaction the recorder compares the version the
//! collection has with the one the proposal was based on: when it moved on, the whole change
//! is refused with a 409 ("rebase needed: propose again"), nothing applied.

use keel_core::Error;
use keel_data::{ChangeRecorder, CollectionChange, RecordData, RowMark};
use serde_json::{json, Value};

use super::{announce, applicable, expect_state, load, review_of, text, APPLIED, APPROVED, ROLLED_BACK};
use crate::audit::Origin;
use crate::authz::{authorize, Permission};
use crate::caller::Caller;
use crate::changes::history::{Recorder, Source};
use crate::App;

/// The recorder of an applied proposal or of a rollback.
struct Reviewed {
    base: Recorder,
    /// The version the collection must still have (`None`: a create, checked before).
    based_on: Option<String>,
    /// The proposal row this change completes (apply), or `None` (rollback: a new row).
    completes: Option<String>,
    /// Fields set on the entry over the recorder's (`review`).
    keep: RecordData,
    marks: Vec<RowMark>,
}

impl ChangeRecorder for Reviewed {
    fn entry(&self, change: &CollectionChange<'_>) -> keel_core::Result<Option<RecordData>> {
        if let (Some(based), Some(before)) = (&self.based_on, change.before) {
            let now = change.previous_version.unwrap_or("1.0.0");
            if now != based {
                return Err(Error::Conflict(format!(
                    "Rebase needed: collection {} is at version {now}, this change was made against {based}. \
                     Propose it again against the current collection.",
                    before.name
                )));
            }
        }
        let Some(mut entry) = ChangeRecorder::entry(&self.base, change)? else {
            return Ok(None);
        };
        for (k, v) in &self.keep {
            entry.insert(k.clone(), v.clone());
        }
        Ok(Some(entry))
    }

    fn completes(&self) -> Option<(&str, &str)> {
        self.completes.as_deref().map(|id| (id, APPROVED))
    }

    fn marks(&self) -> Vec<RowMark> {
        self.marks.clone()
    }
}

/// 409 unless the collection `id` still has `version` (checked again inside the change's
/// transaction; checking first also keeps a stale change from running any DDL).
async fn still_at(app: &App, id: &str, name: &str, version: &str) -> Result<(), Error> {
    let now = crate::changes::history::current_version(&app.store, id)
        .await?
        .unwrap_or_else(|| "1.0.0".into());
    if now != version {
        return Err(Error::Conflict(format!(
            "Rebase needed: collection {name} is at version {now}, this change was made against {version}. \
             Propose it again against the current collection."
        )));
    }
    Ok(())
}

fn stale(name: &str, why: &str) -> Error {
    Error::Conflict(format!(
        "Rebase needed: collection {name} {why} since this change was proposed. Propose it again against the current collection."
    ))
}

/// approved → applied (`collections:manage`): the change is made atomically, its proposal
/// row becoming its history entry; 409 when the collection moved on since the proposal.
pub async fn apply(app: &App, caller: &Caller, origin: &Origin, id: &str) -> Result<RecordData, Error> {
    authorize(caller, Permission::CollectionsManage)?;
    let row = load(app, caller, id).await?;
    expect_state(&row, "applied", &[APPROVED])?;
    let mut review = review_of(&row);
    review.insert(
        "applied".into(),
        json!({"by": caller.actor(), "at": keel_core::time::now()}),
    );
    let mut keep = RecordData::new();
    keep.insert("review".into(), Value::Object(review));
    let collection_ref = text(&row, "collectionRef").to_string();
    let name = text(&row, "collection").to_string();
    let mut recorder = Reviewed {
        base: Recorder::new(text(&row, "author"), Source::Review),
        based_on: Some(text(&row, "previousVersion").to_string()),
        completes: Some(id.to_string()),
        keep,
        marks: Vec::new(),
    };
    match text(&row, "kind") {
        "create" => {
            recorder.based_on = None;
            if app.store.collection(&collection_ref).is_ok() || app.store.collection(&name).is_ok() {
                return Err(stale(&name, "was created"));
            }
            let target = match row.get("after") {
                Some(Value::Object(m)) => m.clone(),
                _ => return Err(Error::internal("a create proposal without its collection")),
            };
            crate::collections::create_recorded(app, caller, origin, target, &recorder).await?;
        }
        "delete" => {
            if app.store.collection(&collection_ref).is_err() {
                return Err(stale(&name, "was deleted"));
            }
            still_at(app, &collection_ref, &name, text(&row, "previousVersion")).await?;
            crate::collections::delete_recorded(app, caller, origin, &collection_ref, &recorder).await?;
        }
        _ => {
            if app.store.collection(&collection_ref).is_err() {
                return Err(stale(&name, "was deleted"));
            }
            still_at(app, &collection_ref, &name, text(&row, "previousVersion")).await?;
            let patch = applicable(row.get("after").unwrap_or(&Value::Null));
            crate::collections::update_recorded(app, caller, origin, &collection_ref, patch, &recorder).await?;
        }
    }
    // The audit entry and the `applied` event came with the collection change.
    let stored = load(app, caller, id).await?;
    super::comments::notify_watchers(app, caller, &stored, "applied").await;
    Ok(stored)
}

/// applied → rolled_back (`collections:manage`): the reverse change is applied and recorded
/// as a change of its own (`source: rollback`, `review.rollbackOf`). Refused (409) when the
/// collection moved on since, and for a deletion (its records went with it); the reverse of a
/// create deletes the collection, so it is refused while the collection holds records.
pub async fn rollback(app: &App, caller: &Caller, origin: &Origin, id: &str) -> Result<RecordData, Error> {
    authorize(caller, Permission::CollectionsManage)?;
    let row = load(app, caller, id).await?;
    expect_state(&row, "rolled back", &[APPLIED])?;
    let collection_ref = text(&row, "collectionRef").to_string();
    let name = text(&row, "collection").to_string();
    let kind = text(&row, "kind").to_string();
    if kind == "delete" {
        return Err(Error::Conflict(format!(
            "Change {id} deleted collection {name} with its records: it cannot be rolled back. \
             Re-create the collection from its previous version (GET /api/collections/{name}/versions) and restore the records from a backup."
        )));
    }
    if app.store.collection(&collection_ref).is_err() {
        return Err(Error::Conflict(format!(
            "Collection {name} was deleted since change {id}: there is nothing to roll back."
        )));
    }
    still_at(app, &collection_ref, &name, text(&row, "version")).await?;
    let mut review = review_of(&row);
    review.insert(
        "rolledBack".into(),
        json!({"by": caller.actor(), "at": keel_core::time::now()}),
    );
    let mut mark = RecordData::new();
    mark.insert("state".into(), Value::from(ROLLED_BACK));
    mark.insert("review".into(), Value::Object(review));
    let mut keep = RecordData::new();
    keep.insert("review".into(), json!({"rollbackOf": id}));
    let recorder = Reviewed {
        base: Recorder::new(caller.actor(), Source::Rollback),
        based_on: Some(text(&row, "version").to_string()),
        completes: None,
        keep,
        marks: vec![RowMark {
            id: id.to_string(),
            expect: APPLIED.to_string(),
            set: mark,
        }],
    };
    if kind == "create" {
        let c = app.store.collection(&collection_ref)?;
        if has_records(app, &c).await? {
            return Err(Error::Conflict(format!(
                "Collection {name} holds records: rolling back its creation would delete them. Delete them first, or delete the collection directly."
            )));
        }
        crate::collections::delete_recorded(app, caller, origin, &collection_ref, &recorder).await?;
    } else {
        let patch = applicable(row.get("before").unwrap_or(&Value::Null));
        crate::collections::update_recorded(app, caller, origin, &collection_ref, patch, &recorder).await?;
    }
    let stored = load(app, caller, id).await?;
    announce(app, caller, origin, &stored, "rolled_back").await;
    Ok(stored)
}

async fn has_records(app: &App, c: &std::sync::Arc<keel_data::Collection>) -> Result<bool, Error> {
    if c.is_view() {
        return Ok(false);
    }
    let params = keel_data::ListParams {
        page: 1,
        per_page: 1,
        sort: None,
        filter: None,
        skip_total: true,
    };
    let page = app
        .store
        .list_records(
            c,
            &params,
            &keel_data::RequestInfo::default(),
            keel_data::Access::Superuser,
        )
        .await?;
    Ok(!page.items.is_empty())
}
