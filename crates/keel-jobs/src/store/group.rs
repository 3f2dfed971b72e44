//! Group commit of enqueues: concurrent `JobStore::enqueue` calls share one transaction.
//!
//! One task takes every request waiting (up to `MAX_GROUP`), runs them in one transaction
//! and answers each after the commit. A request alone runs as before. If the shared
//! transaction fails, each request of the group runs again alone, so an error reaches only
//! the call that caused it and the others still land (each call stays all or none).

use keel_core::{Error, Result};
use tokio::sync::{mpsc, oneshot};

use super::enqueue::Enqueued;
use super::{db, now_ms, JobStore};
use crate::model::NewJob;

/// The most enqueue calls one transaction holds.
const MAX_GROUP: usize = 256;

struct Request {
    queue: String,
    jobs: Vec<NewJob>,
    reply: oneshot::Sender<Result<Vec<Enqueued>>>,
}

/// The sending side; the task ends when every copy of the store is dropped.
#[derive(Clone)]
pub(crate) struct Grouper(mpsc::UnboundedSender<Request>);

impl Grouper {
    /// Starts the group task on `bare`, a store without a grouper of its own.
    pub(crate) fn spawn(bare: JobStore) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<Request>();
        tokio::spawn(async move {
            let mut group = Vec::new();
            while rx.recv_many(&mut group, MAX_GROUP).await > 0 {
                bare.enqueue_group(std::mem::take(&mut group)).await;
            }
        });
        Self(tx)
    }

    /// Enqueues validated jobs through the group task.
    pub(crate) async fn enqueue(&self, queue: &str, jobs: Vec<NewJob>) -> Result<Vec<Enqueued>> {
        let (reply, answer) = oneshot::channel();
        let request = Request {
            queue: queue.to_string(),
            jobs,
            reply,
        };
        self.0
            .send(request)
            .map_err(|_| Error::internal("the jobs store is shutting down"))?;
        answer
            .await
            .map_err(|_| Error::internal("the jobs store stopped before answering an enqueue"))?
    }
}

impl JobStore {
    async fn enqueue_group(&self, group: Vec<Request>) {
        if group.len() > 1 {
            if let Ok(outs) = self.enqueue_together(&group).await {
                for (req, out) in group.into_iter().zip(outs) {
                    let _ = req.reply.send(Ok(out));
                }
                return;
            }
        }
        for req in group {
            let out = self.enqueue_alone(&req.queue, &req.jobs).await;
            let _ = req.reply.send(out);
        }
    }

    async fn enqueue_together(&self, group: &[Request]) -> Result<Vec<Vec<Enqueued>>> {
        let requests: Vec<(&str, &[NewJob])> = group.iter().map(|r| (r.queue.as_str(), r.jobs.as_slice())).collect();
        let mut tx = self.begin().await?;
        let outs = self.enqueue_on(tx.as_mut(), &requests, now_ms()).await?;
        tx.commit().await.map_err(db)?;
        Ok(outs)
    }
}
