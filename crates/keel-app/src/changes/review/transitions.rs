//! The review transitions that apply nothing: submit (the author), approve and reject
//! (`changes:approve`, never the author for an approval; one approval per person).

use keel_core::Error;
use keel_data::RecordData;
use serde_json::{json, Map, Value};

use super::{announce, expect_state, load, quorum, review_of, state_of, text, APPROVED, DRAFT, IN_REVIEW, REJECTED};
use crate::audit::Origin;
use crate::authz::{authorize, Permission};
use crate::caller::Caller;
use crate::App;

/// draft → in_review, by the change's author.
pub async fn submit(app: &App, caller: &Caller, origin: &Origin, id: &str) -> Result<RecordData, Error> {
    let row = load(app, caller, id).await?;
    if text(&row, "author") != caller.actor() {
        return Err(Error::Forbidden(
            "Only the change's author submits it for review.".into(),
        ));
    }
    expect_state(&row, "submitted", &[DRAFT])?;
    let mut review = review_of(&row);
    review.insert("submitted".into(), Value::from(keel_core::time::now()));
    let stored = save(app, &row, DRAFT, IN_REVIEW, review).await?;
    announce(app, caller, origin, &stored, "submitted").await;
    Ok(stored)
}

/// Approves an in-review change (`changes:approve`, not its author). A second approval by
/// the same person is counted once. When the approvals reach the quorum (`breakingQuorum`
/// for a major change) the change is `approved`.
pub async fn approve(app: &App, caller: &Caller, origin: &Origin, id: &str) -> Result<RecordData, Error> {
    authorize(caller, Permission::ChangesApprove)?;
    let row = load(app, caller, id).await?;
    let me = caller.actor();
    if text(&row, "author") == me {
        return Err(Error::Forbidden(
            "The author of a change cannot approve it: another holder of changes:approve must.".into(),
        ));
    }
    let mut review = review_of(&row);
    let mut approvals = match review.get("approvals") {
        Some(Value::Array(a)) => a.clone(),
        _ => Vec::new(),
    };
    let already = approvals
        .iter()
        .any(|a| a.get("by").and_then(Value::as_str) == Some(me.as_str()));
    if already && matches!(state_of(&row), IN_REVIEW | APPROVED) {
        // Counted once: the change is returned as it is.
        return Ok(row);
    }
    expect_state(&row, "approved", &[IN_REVIEW])?;
    approvals.push(json!({"by": me, "at": keel_core::time::now()}));
    let needed = quorum(app, &row);
    let count = approvals.len();
    review.insert("approvals".into(), Value::Array(approvals));
    review.insert("quorum".into(), Value::from(needed));
    let next = if count >= needed as usize { APPROVED } else { IN_REVIEW };
    let stored = save(app, &row, IN_REVIEW, next, review).await?;
    announce(app, caller, origin, &stored, "approved").await;
    Ok(stored)
}

/// Rejects a change not yet applied (`changes:approve`), with a reason.
pub async fn reject(
    app: &App,
    caller: &Caller,
    origin: &Origin,
    id: &str,
    input: &Map<String, Value>,
) -> Result<RecordData, Error> {
    authorize(caller, Permission::ChangesApprove)?;
    let reason = input
        .get("reason")
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or_default();
    if reason.is_empty() {
        return Err(Error::field(
            "reason",
            "validation_required",
            "Say why the change is rejected (reason), so its author knows what to change.",
        ));
    }
    if reason.chars().count() > 2000 {
        return Err(Error::field(
            "reason",
            "validation_max_text_constraint",
            "Keep the reason under 2000 characters.",
        ));
    }
    let row = load(app, caller, id).await?;
    let from = state_of(&row).to_string();
    expect_state(&row, "rejected", &[DRAFT, IN_REVIEW, APPROVED])?;
    let mut review = review_of(&row);
    review.insert(
        "rejected".into(),
        json!({"by": caller.actor(), "at": keel_core::time::now(), "reason": reason}),
    );
    let stored = save(app, &row, &from, REJECTED, review).await?;
    announce(app, caller, origin, &stored, "rejected").await;
    Ok(stored)
}

/// Writes `state` and `review` on `row` while it is still in `from` (409 otherwise).
pub(super) async fn save(
    app: &App,
    row: &RecordData,
    from: &str,
    state: &str,
    review: Map<String, Value>,
) -> Result<RecordData, Error> {
    let mut set = RecordData::new();
    set.insert("state".into(), Value::from(state));
    set.insert("review".into(), Value::Object(review));
    app.store.update_change(text(row, "id"), from, set).await
}
