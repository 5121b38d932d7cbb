//! The group-commit writer both stores write through.
//!
//! Every write is a job sent to one writer task, which takes everything queued, runs it in one transaction and
//! commits once; each caller is answered after that commit, so an acknowledged write is durable. If a job fails,
//! the batch is rolled back and its jobs are re-run one transaction each, so one bad job never fails the others and
//! no failed job leaves a partial write. Consecutive request creations in a batch are inserted together.
//!
//! Why one writer: SQLite allows one writer at a time anyway, and on PostgreSQL the outbox needs its sequence
//! numbers in commit order (streams resume from them), which the PostgreSQL store gets by serialising event
//! writes; one transaction per batch makes that cheap. See `../shared/reference/ceilings.md`.

use super::{NewRequest, StoreError, StoreResult};
use async_trait::async_trait;
use futures::future::BoxFuture;
use std::sync::Arc;
use tokio::sync::{Notify, mpsc, oneshot};

/// Most jobs committed in one transaction; bounds the latency one commit adds to the jobs queued behind it.
const MAX_BATCH: usize = 256;
const QUEUE_DEPTH: usize = 8192;

/// What the writer needs of a database: transactions on one connection, and the grouped insert of creations.
#[async_trait]
pub(super) trait Session: Send + 'static {
    type Conn: Send;
    /// Begins a transaction, (re)connecting first when needed.
    async fn begin(&mut self) -> StoreResult<()>;
    async fn commit(&mut self) -> StoreResult<()>;
    /// Called once a commit has succeeded, before anyone is told of it.
    fn committed(&mut self) {}
    async fn rollback(&mut self);
    /// Runs one job inside the open transaction.
    async fn run(&mut self, job: &mut (dyn Job<Self::Conn> + '_)) -> StoreResult<()>;
    /// Inserts new requests (with their audit rows and events) inside the open transaction.
    async fn insert_requests(&mut self, news: &[&NewRequest]) -> StoreResult<()>;
    async fn close(self);
}

/// A write queued for the writer.
pub(super) trait Job<C>: Send {
    fn run<'c>(&'c mut self, conn: &'c mut C) -> BoxFuture<'c, StoreResult<()>>;
    fn finish(self: Box<Self>, committed: StoreResult<()>);
}

struct Closure<T, F> {
    run: F,
    output: Option<StoreResult<T>>,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<C, T, F> Job<C> for Closure<T, F>
where
    C: Send,
    T: Send + 'static,
    F: for<'c> FnMut(&'c mut C) -> BoxFuture<'c, StoreResult<T>> + Send + 'static,
{
    fn run<'c>(&'c mut self, conn: &'c mut C) -> BoxFuture<'c, StoreResult<()>> {
        Box::pin(async move {
            let result = (self.run)(conn).await;
            let ok = result.as_ref().map(|_| ()).map_err(|e| StoreError::Database(e.to_string()));
            self.output = Some(result);
            ok
        })
    }

    fn finish(self: Box<Self>, committed: StoreResult<()>) {
        let result = match (committed, self.output) {
            (Ok(()), Some(output)) => output,
            // The job's own error says more than the transaction's.
            (Err(_), Some(Err(own))) => Err(own),
            (Err(e), _) => Err(e),
            (Ok(()), None) => Err(StoreError::Database("write job finished without running".into())),
        };
        let _ = self.reply.send(result);
    }
}

enum Work<C> {
    /// The hot path: creating a request. Consecutive creations in a batch are inserted with multi-row statements.
    Create(Box<NewRequest>, oneshot::Sender<StoreResult<()>>),
    Job(Box<dyn Job<C>>),
    /// Housekeeping that writes nothing anyone waits for: its commit alone does not signal `committed`.
    Quiet(Box<dyn Job<C>>),
}

impl<C> Work<C> {
    fn finish(self, committed: StoreResult<()>) {
        match self {
            Self::Create(_, reply) => {
                let _ = reply.send(committed);
            }
            Self::Job(job) | Self::Quiet(job) => job.finish(committed),
        }
    }
}

enum Msg<C> {
    Work(Work<C>),
    Close(oneshot::Sender<()>),
}

/// The handle stores write through.
pub(super) struct Writer<C> {
    inbox: mpsc::Sender<Msg<C>>,
}

// Not derived: that would require `C: Clone`, and a connection is not.
impl<C> Clone for Writer<C> {
    fn clone(&self) -> Self {
        Self { inbox: self.inbox.clone() }
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the database writer has stopped".into())
}

impl<C: Send + 'static> Writer<C> {
    /// Starts the writer task; `committed` is notified after every commit.
    pub(super) fn start<S: Session<Conn = C>>(session: S, committed: Arc<Notify>) -> Self {
        let (inbox, rx) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(run(session, rx, committed));
        Self { inbox }
    }

    /// Queues `job` and waits for its commit. `job` may run more than once (see the module docs), each time in a
    /// fresh transaction, so it must take its inputs by clone.
    pub(super) async fn write<T, F>(&self, job: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnMut(&'c mut C) -> BoxFuture<'c, StoreResult<T>> + Send + 'static,
    {
        self.submit(job, Work::Job).await
    }

    /// [`Writer::write`] for housekeeping (SQLite's WAL restart): its commit does not signal `committed`, so it
    /// neither wakes the event tailer nor counts as new data to checkpoint.
    pub(super) async fn write_quietly<T, F>(&self, job: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnMut(&'c mut C) -> BoxFuture<'c, StoreResult<T>> + Send + 'static,
    {
        self.submit(job, Work::Quiet).await
    }

    async fn submit<T, F>(&self, job: F, kind: fn(Box<dyn Job<C>>) -> Work<C>) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnMut(&'c mut C) -> BoxFuture<'c, StoreResult<T>> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Closure { run: job, output: None, reply });
        self.inbox.send(Msg::Work(kind(job))).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    pub(super) async fn create(&self, new: NewRequest) -> StoreResult<()> {
        let (reply, answer) = oneshot::channel();
        self.inbox.send(Msg::Work(Work::Create(Box::new(new), reply))).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Lets queued writes commit, then closes the connection.
    pub(super) async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.inbox.send(Msg::Close(done)).await.is_ok() {
            let _ = closed.await;
        }
    }
}

async fn run<S: Session>(mut session: S, mut inbox: mpsc::Receiver<Msg<S::Conn>>, committed: Arc<Notify>) {
    let mut batch: Vec<Work<S::Conn>> = Vec::with_capacity(MAX_BATCH);
    let mut closing = None;
    let (mut batches, mut jobs) = (0u64, 0u64);
    while closing.is_none() {
        match inbox.recv().await {
            Some(Msg::Work(work)) => batch.push(work),
            Some(Msg::Close(done)) => closing = Some(done),
            None => break,
        }
        // Take everything queued; then let the other ready tasks run once (handlers about to queue a write)
        // and take what they queued too. With nothing else ready the yield returns at once, so this adds no
        // latency when idle and makes groups (and so commits) larger under load.
        for round in 0..2 {
            while batch.len() < MAX_BATCH && closing.is_none() {
                match inbox.try_recv() {
                    Ok(Msg::Work(work)) => batch.push(work),
                    Ok(Msg::Close(done)) => closing = Some(done),
                    Err(_) => break,
                }
            }
            if round == 0 && batch.len() < MAX_BATCH && closing.is_none() {
                tokio::task::yield_now().await;
            }
        }
        if !batch.is_empty() {
            batches += 1;
            jobs += batch.len() as u64;
            let signal = batch.iter().any(|work| !matches!(work, Work::Quiet(_)));
            commit_batch(&mut session, &mut batch).await;
            if signal {
                committed.notify_waiters();
            }
        }
    }
    tracing::info!(batches, jobs, "database writer stopped");
    session.close().await;
    if let Some(done) = closing {
        let _ = done.send(());
    }
}

/// Runs `work` in the open transaction: a run of consecutive creations at once, or one job.
async fn run_work<S: Session>(session: &mut S, work: &mut [Work<S::Conn>]) -> (usize, StoreResult<()>) {
    let creates: Vec<&NewRequest> = work
        .iter()
        .map_while(|w| match w {
            Work::Create(new, _) => Some(new.as_ref()),
            Work::Job(_) | Work::Quiet(_) => None,
        })
        .collect();
    if !creates.is_empty() {
        return (creates.len(), session.insert_requests(&creates).await);
    }
    match work.first_mut() {
        Some(Work::Job(job) | Work::Quiet(job)) => (1, session.run(job.as_mut()).await),
        _ => (1, Ok(())),
    }
}

async fn commit_batch<S: Session>(session: &mut S, batch: &mut Vec<Work<S::Conn>>) {
    if let Err(e) = session.begin().await {
        let message = e.to_string();
        for work in batch.drain(..) {
            work.finish(Err(StoreError::Unavailable(message.clone())));
        }
        return;
    }
    let mut all_ran = true;
    let mut next = 0;
    while next < batch.len() {
        let (ran, result) = run_work(session, &mut batch[next..]).await;
        next += ran;
        if let Err(e) = result {
            tracing::debug!(error = %e, "a write failed; retrying its batch one job at a time");
            all_ran = false;
            break;
        }
    }
    if all_ran {
        match session.commit().await {
            Ok(()) => {
                session.committed();
                for work in batch.drain(..) {
                    work.finish(Ok(()));
                }
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, jobs = batch.len(), "group commit failed; retrying jobs one by one")
            }
        }
    }
    session.rollback().await;
    // One transaction per job, so a failing job affects nobody else. If the database is gone, the rest fail at
    // once instead of each waiting for a connection in turn.
    let mut unavailable: Option<StoreError> = None;
    for mut work in batch.drain(..) {
        if let Some(StoreError::Unavailable(message)) = &unavailable {
            work.finish(Err(StoreError::Unavailable(message.clone())));
            continue;
        }
        let outcome = async {
            session.begin().await?;
            if let Err(e) = run_work(session, std::slice::from_mut(&mut work)).await.1 {
                session.rollback().await;
                return Err(e);
            }
            if let Err(e) = session.commit().await {
                session.rollback().await;
                return Err(e);
            }
            session.committed();
            Ok(())
        }
        .await;
        if let Err(StoreError::Unavailable(message)) = &outcome {
            unavailable = Some(StoreError::Unavailable(message.clone()));
        }
        work.finish(outcome);
    }
}
