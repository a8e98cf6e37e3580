//! The batch writer: agent streams hand their batches (and local collection its samples) to
//! one bounded queue, and a single task commits many of them per transaction. A stream gets its answer (and acknowledges to the
//! agent) only after the commit. When the queue is full a stream waits (holding one batch and
//! reading nothing more, so HTTP/2 flow control slows its agent); past a short wait it is told
//! to back off with `retry_after_ms`. Nothing is buffered without limit.
//!
//! Isolation: a transaction that fails is retried one batch at a time, so one agent's bad
//! batch fails alone. The task is supervised: a panic fails only the batches in hand, is
//! counted and reported on `/healthz` until the restarted writer commits again.
pub mod validate;

use std::sync::Arc;

use futures::FutureExt;
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::health::{Health, panic_message};
use crate::store::{AgentBatch, IngestError, SampleRow, Store};

/// How long a stream waits for room in the queue before it is told to back off.
pub const QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
/// How long the writer gathers live batches before it commits them together. Every commit
/// rewrites the pages it touches (the chunk table's end, each index's path, each agent's
/// row), so one commit of many hosts' samples writes far fewer bytes than one commit each;
/// what is live goes to the dashboard before the commit, so nobody waits for this but the
/// agents' acknowledgements.
pub const GATHER: std::time::Duration = std::time::Duration::from_millis(250);
/// A batch of this many events or more comes from a spool being caught up: not held back.
const BACKLOG_EVENTS: usize = 8;
/// The health part and task name of the writer.
pub const WRITER: &str = "batch_writer";

/// What one job writes.
enum Write {
    /// An agent's batch: answered with its new position.
    Agent(AgentBatch),
    /// A sample of this machine (no sequence): answered with 0.
    Local(SampleRow),
}

struct Job {
    write: Write,
    reply: oneshot::Sender<Result<u64, IngestError>>,
}

impl Job {
    /// A batch from an agent catching up on its spool is committed without gathering more:
    /// its agent waits for each answer before it sends the next batch.
    fn urgent(&self) -> bool {
        matches!(&self.write, Write::Agent(b) if b.items.len() >= BACKLOG_EVENTS)
    }
}

/// The handle streams submit batches through.
#[derive(Clone)]
pub struct BatchWriter {
    jobs: mpsc::Sender<Job>,
}

impl BatchWriter {
    /// Starts the writer task with room for `capacity` waiting batches, committing at most
    /// `max_per_commit` batches per transaction. It stops when every handle is dropped.
    pub fn start(
        store: Store,
        health: Arc<Health>,
        capacity: usize,
        max_per_commit: usize,
    ) -> BatchWriter {
        let (jobs, queue) = mpsc::channel(capacity.max(1));
        let queue = Arc::new(Mutex::new(queue));
        tokio::spawn(supervise(store, health, queue, max_per_commit.max(1)));
        BatchWriter { jobs }
    }

    /// Commits a batch: its new position, or why not. A full queue is waited on for up to
    /// [`QUEUE_WAIT`] (the stream simply reads nothing more meanwhile); `Overloaded` after that.
    pub async fn commit(&self, batch: AgentBatch) -> Result<u64, IngestError> {
        self.submit(Write::Agent(batch)).await
    }

    /// Commits a sample of this machine, in the same queue and transactions as the agents'.
    pub async fn commit_local(&self, sample: SampleRow) -> Result<(), IngestError> {
        self.submit(Write::Local(sample)).await.map(|_| ())
    }

    async fn submit(&self, write: Write) -> Result<u64, IngestError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send_timeout(Job { write, reply }, QUEUE_WAIT)
            .await
            .map_err(|_| IngestError::Overloaded)?;
        answer.await.unwrap_or(Err(IngestError::Unavailable))
    }
}

/// Runs the writer and starts it again after a panic (a second later, so a panic on every
/// commit cannot spin a core). The queue outlives each run.
async fn supervise(
    store: Store,
    health: Arc<Health>,
    queue: Arc<Mutex<mpsc::Receiver<Job>>>,
    max_per_commit: usize,
) {
    loop {
        let run = tokio::spawn(run(
            store.clone(),
            health.clone(),
            queue.clone(),
            max_per_commit,
        ));
        match run.await {
            Ok(()) => return,
            Err(e) if e.is_panic() => {
                let message = panic_message(&*e.into_panic());
                tracing::error!(task = WRITER, panic = %message, "the batch writer panicked; restarting it");
                health.count_panic(WRITER);
                health.set(
                    WRITER,
                    format!(
                        "ingest stalled: the batch writer panicked ({message}) and is restarting"
                    ),
                );
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            Err(_) => return,
        }
    }
}

async fn run(
    store: Store,
    health: Arc<Health>,
    queue: Arc<Mutex<mpsc::Receiver<Job>>>,
    max_per_commit: usize,
) {
    let mut queue = queue.lock().await;
    let mut jobs = Vec::with_capacity(max_per_commit);
    while let Some(first) = queue.recv().await {
        let gather_until = tokio::time::Instant::now() + GATHER;
        let mut urgent = first.urgent();
        jobs.push(first);
        while jobs.len() < max_per_commit {
            let job = match queue.try_recv() {
                Ok(job) => job,
                Err(_) if urgent => break,
                Err(_) => match tokio::time::timeout_at(gather_until, queue.recv()).await {
                    Ok(Some(job)) => job,
                    // The gathering time is over, or every handle is gone: commit what is in hand.
                    Ok(None) | Err(_) => break,
                },
            };
            urgent |= job.urgent();
            jobs.push(job);
        }
        let (writes, replies): (Vec<Write>, Vec<_>) =
            jobs.drain(..).map(|j| (j.write, j.reply)).unzip();
        let results = commit_isolated(&store, &writes).await;
        if results
            .iter()
            .any(|r| matches!(r, Err(IngestError::Unavailable)))
        {
            health.set(WRITER, "ingest stalled: the store refuses agent batches");
        } else {
            health.clear(WRITER);
        }
        for (reply, result) in replies.into_iter().zip(results) {
            let _ = reply.send(result);
        }
    }
}

/// Commits the batches together; if that transaction fails (or panics), each one alone, so
/// only the batches that fail by themselves are refused.
async fn commit_isolated(store: &Store, writes: &[Write]) -> Vec<Result<u64, IngestError>> {
    let whose = |w: &Write| match w {
        Write::Agent(b) => b.agent_id.clone(),
        Write::Local(_) => app::LOCAL_AGENT_ID.to_owned(),
    };
    match attempt(store, writes).await {
        Ok(results) => return results,
        Err(e) if writes.len() == 1 => {
            tracing::error!(agent_id = %whose(&writes[0]), error = %e, "cannot commit a batch");
            return vec![Err(IngestError::Unavailable)];
        }
        Err(e) => {
            tracing::warn!(error = %e, batches = writes.len(), "a shared commit failed; committing each batch alone");
        }
    }
    let mut results = Vec::with_capacity(writes.len());
    for write in writes {
        results.push(match attempt(store, std::slice::from_ref(write)).await {
            Ok(mut r) => r.remove(0),
            Err(e) => {
                tracing::error!(agent_id = %whose(write), error = %e, "cannot commit a batch");
                Err(IngestError::Unavailable)
            }
        });
    }
    results
}

/// One commit attempt, with a panic turned into an error: one answer per write, in order.
async fn attempt(
    store: &Store,
    writes: &[Write],
) -> Result<Vec<Result<u64, IngestError>>, StoreFailure> {
    let mut batches = Vec::new();
    let mut local = Vec::new();
    for write in writes {
        match write {
            Write::Agent(b) => batches.push(b),
            Write::Local(s) => local.push(s),
        }
    }
    let started = std::time::Instant::now();
    let committed = std::panic::AssertUnwindSafe(store.commit_writes(&batches, &local))
        .catch_unwind()
        .await
        .map_err(|panic| StoreFailure::Panic(panic_message(&*panic)))?
        .map_err(StoreFailure::Store)?;
    let took = started.elapsed();
    if took >= std::time::Duration::from_millis(100) {
        tracing::debug!(
            writes = writes.len(),
            took_ms = took.as_millis() as u64,
            "slow commit"
        );
    }
    let mut agents = committed.into_iter();
    Ok(writes
        .iter()
        .map(|w| match w {
            Write::Agent(_) => agents.next().unwrap_or(Err(IngestError::Unavailable)),
            Write::Local(_) => Ok(0),
        })
        .collect())
}

/// Why a commit attempt failed as a whole.
#[derive(Debug, thiserror::Error)]
enum StoreFailure {
    #[error(transparent)]
    Store(crate::store::StoreError),
    #[error("the commit panicked: {0}")]
    Panic(String),
}
