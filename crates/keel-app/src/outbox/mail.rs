//! The `_keel-mail` worker: sends the auth emails the flows queued (`auth::mail::queue`).
//! The token or code an email carries is made here, at send time, from the record as it is
//! now; a record, collection or OTP deleted meanwhile completes the job without an email
//! (its result says why). A failure fails the attempt, which the jobs service retries with
//! backoff (or after the service's `Retry-After`) until the job is dead (a permanent refusal,
//! SMTP 5xx, is dead at once); the error names the server and the failing step, never a
//! credential or the message body.

use async_trait::async_trait;
use keel_auth::token::TokenKind;
use keel_core::notify::NotifyError;
use keel_data::{Access, RequestInfo};
use keel_jobs::{Job, JobContext, JobFailure, JobHandler};
use serde_json::{json, Value};

use crate::auth::flow;
use crate::auth::mail::{self, MailJob, Template};
use crate::App;

/// Sends one queued auth email per job.
pub struct MailWorker {
    app: App,
}

impl MailWorker {
    pub fn new(app: App) -> MailWorker {
        MailWorker { app }
    }
}

/// A job completed without an email, and why.
fn skipped(reason: &str) -> Option<Value> {
    Some(json!({"sent": false, "reason": reason}))
}

#[async_trait]
impl JobHandler for MailWorker {
    async fn run(&self, job: &Job, _ctx: &JobContext) -> Result<Option<Value>, JobFailure> {
        let app = &self.app;
        let m: MailJob =
            serde_json::from_value(job.payload.clone()).map_err(|e| format!("not an auth email job: {e}"))?;
        let Ok(collection) = app.store.collection(&m.collection) else {
            return Ok(skipped("the collection was deleted"));
        };
        let record = match app
            .store
            .get_record(&collection, &m.record, &RequestInfo::default(), Access::Superuser)
            .await
        {
            Ok(r) => r,
            Err(keel_core::Error::NotFound(_)) => return Ok(skipped("the record was deleted")),
            Err(e) => return Err(format!("cannot read the record: {e}").into()),
        };
        let mut vars = mail::vars(app, &record);
        let sign =
            |kind| flow::sign(&collection, &record, kind, None).map_err(|e| format!("cannot sign the token: {e}"));
        match m.template {
            Template::Verification => vars.token = sign(TokenKind::Verification)?,
            Template::ResetPassword => vars.token = sign(TokenKind::PasswordReset)?,
            Template::Otp => {
                let otp_id = m.otp_id.clone().unwrap_or_default();
                let length = collection
                    .auth
                    .as_ref()
                    .and_then(|a| a.otp.get("length").and_then(Value::as_u64))
                    .unwrap_or(8) as usize;
                match app.identity.reissue_otp(&otp_id, length).await {
                    Ok(Some(code)) => {
                        vars.otp = code;
                        vars.otp_id = otp_id;
                    }
                    Ok(None) => return Ok(skipped("the OTP was used or has expired")),
                    Err(e) => return Err(format!("cannot issue the OTP: {e}").into()),
                }
            }
            Template::AuthAlert => vars.alert_info = m.alert_info.clone().unwrap_or_default(),
            Template::ConfirmEmailChange => return Ok(skipped("email change emails are sent while the request waits")),
        }
        match mail::send(app, &collection, m.template, &m.to, &vars).await {
            Ok(true) => Ok(Some(json!({"sent": true}))),
            Ok(false) => Ok(skipped(
                "no email provider is configured and SMTP is disabled in the settings",
            )),
            Err(e) => {
                tracing::warn!(collection = %collection.name, job = %job.id, attempt = job.attempts, error = %e,
                    "sending the {} email failed", m.template.name());
                let message = format!("sending the {} email failed: {e}", m.template.name());
                Err(match e {
                    // A permanent refusal (SMTP 5xx, a bad address): no retry would change it.
                    NotifyError::Rejected(_) | NotifyError::Gone(_) => JobFailure::permanent(message),
                    NotifyError::Retry { after: Some(after), .. } => JobFailure::retry_after(message, after),
                    NotifyError::Retry { after: None, .. } => message.into(),
                })
            }
        }
    }
}
