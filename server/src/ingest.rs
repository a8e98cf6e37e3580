//! The batch writer: agent streams hand their batches to one bounded queue, and a single task
//! commits many of them per transaction. A stream gets its answer (and acknowledges to the
//! agent) only after the commit. When the queue is full a stream waits (holding one batch and
//! reading nothing more, so HTTP/2 flow control slows its agent); past a short wait it is told
//! to back off with `retry_after_ms`. Nothing is buffered without limit.
use tokio::sync::{mpsc, oneshot};

use crate::store::{AgentBatch, IngestError, Store};

/// How long a stream waits for room in the queue before it is told to back off.
pub const QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

struct Job {
    batch: AgentBatch,
    reply: oneshot::Sender<Result<u64, IngestError>>,
}

/// The handle streams submit batches through.
#[derive(Clone)]
pub struct BatchWriter {
    jobs: mpsc::Sender<Job>,
}

impl BatchWriter {
    /// Starts the writer task with room for `capacity` waiting batches, committing at most
    /// `max_per_commit` batches per transaction. It stops when every handle is dropped.
    pub fn start(store: Store, capacity: usize, max_per_commit: usize) -> BatchWriter {
        let (jobs, queue) = mpsc::channel(capacity.max(1));
        tokio::spawn(run(store, queue, max_per_commit.max(1)));
        BatchWriter { jobs }
    }

    /// Commits a batch: its new position, or why not. A full queue is waited on for up to
    /// [`QUEUE_WAIT`] (the stream simply reads nothing more meanwhile); `Overloaded` after that.
    pub async fn commit(&self, batch: AgentBatch) -> Result<u64, IngestError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send_timeout(Job { batch, reply }, QUEUE_WAIT)
            .await
            .map_err(|_| IngestError::Overloaded)?;
        answer.await.unwrap_or(Err(IngestError::Unavailable))
    }
}

async fn run(store: Store, mut queue: mpsc::Receiver<Job>, max_per_commit: usize) {
    let mut jobs = Vec::with_capacity(max_per_commit);
    while let Some(first) = queue.recv().await {
        jobs.push(first);
        while jobs.len() < max_per_commit {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let (batches, replies): (Vec<AgentBatch>, Vec<_>) =
            jobs.drain(..).map(|j| (j.batch, j.reply)).unzip();
        match store.commit_batches(&batches).await {
            Ok(results) => {
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, batches = batches.len(), "cannot commit agent batches");
                for reply in replies {
                    let _ = reply.send(Err(IngestError::Unavailable));
                }
            }
        }
    }
}
