//! The outbox worker loop, shared by every durable queue the gateway drains (webhook deliveries, channel
//! notifications): claim due items, attempt them concurrently, record the results, hand back what shutdown
//! interrupted.
//!
//! It wakes on every commit (a new event may have queued items), when the earliest retry comes due, and at
//! least every [`POLL_INTERVAL`] (items queued by another replica). A claim is a lease: the item's
//! `next_attempt_at` moves to the end of it, so no other worker (here or on another replica) takes it, and if
//! this process dies the item simply comes due again. Results are written in batches, each only if its lease
//! still holds. Attempts never run on an API request's path.

use crate::store::{Store, StoreError, StoreResult};
use agentgate_core::Timestamp;
use async_trait::async_trait;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

/// The longest the worker sleeps without looking for due items.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Most items claimed at once.
const CLAIM_BATCH: usize = 64;
/// With attempts in flight, a claim waits until this many slots are free (a quarter of the concurrency, at most
/// a batch) or [`CLAIM_LINGER`] has passed: a steady stream of finishing attempts then costs one claim per batch
/// rather than one claim (and its database round trips) per item.
fn claim_threshold(concurrency: usize) -> usize {
    (concurrency / 4).clamp(1, CLAIM_BATCH)
}
const CLAIM_LINGER: Duration = Duration::from_millis(2);
/// Most results written in one transaction.
const RECORD_BATCH: usize = 256;
/// A lease outlives the attempt's timeout by this much, so a slow but live attempt is never taken over.
const LEASE_MARGIN: Duration = Duration::from_secs(30);
/// The longest a graceful shutdown waits for attempts in flight (less when the attempt timeout is shorter).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How much lower than the API's threads a worker thread runs (a nice value, the lowest priority): when both
/// want the CPU, requests get nearly all of it (the scheduler weighs nice 19 at 15 against 1024), so a saturated
/// gateway serves agents first and the backlog drains as soon as there is room; when the API is idle, the worker
/// gets all of it. At nice 10 the worker's share, and the database work its deliveries cause on the API's
/// threads, cost a saturated gateway about 10 % of its creates with three webhooks (BENCHMARKS.md, "Webhooks").
#[cfg(target_os = "linux")]
const WORKER_NICENESS: i32 = 19;

/// An item claimed from a queue: its sequence number identifies it to `release`.
pub trait Claimed: Send + 'static {
    fn seq(&self) -> i64;
    fn lease_until(&self) -> Timestamp;
}

/// A durable queue and how to attempt its items.
#[async_trait]
pub trait Queue: Send + Sync + 'static {
    type Item: Claimed;
    type Outcome: Send + 'static;

    /// Whether commits can queue items right now; when not, the worker only polls.
    async fn accepting(&self) -> bool {
        true
    }
    /// Most attempts in flight at once.
    fn concurrency(&self) -> usize;
    /// The longest one attempt may take.
    fn attempt_timeout(&self) -> Duration;
    async fn next_due(&self) -> StoreResult<Option<Timestamp>>;
    async fn claim(&self, now: Timestamp, lease_until: Timestamp, limit: u32) -> StoreResult<Vec<Self::Item>>;
    /// Makes one attempt; never fails (a failure is an outcome to record).
    async fn attempt(self: Arc<Self>, item: Self::Item) -> Self::Outcome;
    async fn record(&self, outcomes: Vec<Self::Outcome>) -> StoreResult<()>;
    async fn release(&self, claims: Vec<(i64, Timestamp)>, now: Timestamp) -> StoreResult<()>;
}

/// The database as a worker reaches it: every call runs on the API's runtime, never on the worker's thread.
///
/// The worker's thread has the lowest priority, and database work done on it would hold up the API whenever the
/// machine is busy: a pooled connection goes back to its pool from the thread that let it go (after a ping), so
/// it stays out of the pool until that thread gets the CPU; and a connection the pool opens for that thread
/// starts SQLite's thread for it there, which inherits the nice value and then serves API reads at it.
#[derive(Clone)]
pub struct WorkerStore {
    store: Arc<dyn Store>,
    api: tokio::runtime::Handle,
}

impl WorkerStore {
    /// Runs `call` on the store, on the API's runtime.
    pub async fn run<T, F>(&self, call: impl FnOnce(Arc<dyn Store>) -> F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: Future<Output = StoreResult<T>> + Send + 'static,
    {
        self.api
            .spawn(call(self.store.clone()))
            .await
            .map_err(|e| StoreError::Unavailable(format!("the gateway's runtime is stopping: {e}")))?
    }
}

/// Starts a worker on a thread of its own (named `name`), at a lower scheduling priority than the API, with its
/// own runtime: attempts never take CPU time from requests that want it, and a backlog built under load drains
/// as soon as the load drops. `make` builds the queue on that runtime (HTTP connection pools belong to the
/// runtime that opened them), given the store as the worker is to use it. Must be called on the API's runtime.
/// The handle completes when the worker has stopped.
pub fn spawn<Q: Queue>(
    name: &'static str,
    store: Arc<dyn Store>,
    make: impl FnOnce(WorkerStore) -> anyhow::Result<Q> + Send + 'static,
    stopped: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let worker_store = WorkerStore { store: store.clone(), api: tokio::runtime::Handle::current() };
    let (done, finished) = tokio::sync::oneshot::channel::<()>();
    let started = std::thread::Builder::new().name(name.into()).spawn(move || {
        lower_priority();
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().on_thread_start(lower_priority).build();
        match runtime {
            Ok(runtime) => runtime.block_on(async move {
                match make(worker_store) {
                    Ok(queue) => run(name, Arc::new(queue), store, stopped).await,
                    Err(e) => tracing::error!(worker = name, error = %e, "cannot start the worker"),
                }
            }),
            Err(e) => tracing::error!(worker = name, error = %e, "cannot start the worker's runtime"),
        }
        let _ = done.send(());
    });
    if let Err(e) = started {
        tracing::error!(worker = name, error = %e, "cannot start the worker thread");
    }
    tokio::spawn(async move {
        let _ = finished.await;
    })
}

fn lower_priority() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), WORKER_NICENESS) {
        tracing::debug!(error = %e, "could not lower a worker's priority");
    }
}

/// Claims still held by attempts in flight, so shutdown can hand back the ones it interrupts.
type Held = Arc<Mutex<HashMap<i64, Timestamp>>>;

async fn run<Q: Queue>(name: &'static str, queue: Arc<Q>, store: Arc<dyn Store>, mut stopped: watch::Receiver<bool>) {
    let signal = store.commit_signal();
    let (outcomes, outcomes_rx) = mpsc::unbounded_channel::<Q::Outcome>();
    let recorder = tokio::spawn(record_outcomes(name, queue.clone(), outcomes_rx));
    let held: Held = Arc::default();
    let mut in_flight = JoinSet::new();
    let lease = queue.attempt_timeout() + LEASE_MARGIN;
    let mut accepting = true;
    let mut accepting_checked: Option<tokio::time::Instant> = None;
    // Since when a few slots have been free without a claim (see `claim_threshold`).
    let mut lingering: Option<tokio::time::Instant> = None;
    while !*stopped.borrow() {
        let notified = signal.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if accepting_checked.is_none_or(|at| at.elapsed() >= POLL_INTERVAL) {
            accepting = queue.accepting().await;
            accepting_checked = Some(tokio::time::Instant::now());
        }
        while in_flight.try_join_next().is_some() {}
        let free = queue.concurrency().saturating_sub(in_flight.len());
        let mut wait = POLL_INTERVAL;
        let ready = free >= claim_threshold(queue.concurrency())
            || in_flight.is_empty()
            || lingering.is_some_and(|since: tokio::time::Instant| since.elapsed() >= CLAIM_LINGER);
        if free > 0 && !ready {
            let since = *lingering.get_or_insert_with(tokio::time::Instant::now);
            wait = CLAIM_LINGER.saturating_sub(since.elapsed());
        }
        if free > 0 && ready {
            lingering = None;
            let current = crate::app::now();
            match queue.next_due().await {
                Ok(Some(due)) if due <= current => {
                    let limit = free.min(CLAIM_BATCH);
                    let lease_until = Timestamp(current.0 + lease.as_millis() as i64);
                    match queue.claim(current, lease_until, limit as u32).await {
                        Ok(claimed) => {
                            let full = claimed.len() == limit;
                            for item in claimed {
                                held.lock().unwrap_or_else(|p| p.into_inner()).insert(item.seq(), item.lease_until());
                                in_flight.spawn(attempt(queue.clone(), item, outcomes.clone(), held.clone()));
                            }
                            if full {
                                continue; // more may be due right now
                            }
                        }
                        Err(e) => tracing::warn!(worker = name, error = %e, "could not claim due items"),
                    }
                }
                Ok(Some(due)) => {
                    wait = wait.min(Duration::from_millis(u64::try_from(due.0 - current.0).unwrap_or(0)));
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(worker = name, error = %e, "could not look for due items"),
            }
        }
        tokio::select! {
            () = &mut notified, if accepting => {}
            () = tokio::time::sleep(wait) => {}
            Some(_) = in_flight.join_next(), if free == 0 => {}
            // An error means the sender is gone (the server stopped without saying so): stop too, never spin.
            changed = stopped.changed() => if changed.is_err() { break }
        }
    }
    // Shutdown: take nothing new; let attempts in flight finish within a bound, then hand back the rest.
    // An attempt in flight ends by its own timeout; the margin lets that happen (and be recorded as a failure to
    // retry) rather than racing it.
    let grace = (queue.attempt_timeout() + Duration::from_secs(1)).min(SHUTDOWN_GRACE);
    let finished = tokio::time::timeout(grace, async { while in_flight.join_next().await.is_some() {} }).await;
    if finished.is_err() {
        in_flight.shutdown().await;
    }
    drop(outcomes);
    let _ = recorder.await;
    let unfinished: Vec<(i64, Timestamp)> = held.lock().unwrap_or_else(|p| p.into_inner()).drain().collect();
    if !unfinished.is_empty() {
        tracing::info!(worker = name, items = unfinished.len(), "handing back items interrupted by shutdown");
        if let Err(e) = queue.release(unfinished, crate::app::now()).await {
            tracing::warn!(worker = name, error = %e, "could not hand back interrupted items; they come due when their lease ends");
        }
    }
}

async fn attempt<Q: Queue>(queue: Arc<Q>, item: Q::Item, outcomes: mpsc::UnboundedSender<Q::Outcome>, held: Held) {
    let seq = item.seq();
    let outcome = queue.attempt(item).await;
    held.lock().unwrap_or_else(|p| p.into_inner()).remove(&seq);
    let _ = outcomes.send(outcome);
}

/// Writes outcomes as they come, as many per transaction as are waiting.
async fn record_outcomes<Q: Queue>(
    name: &'static str,
    queue: Arc<Q>,
    mut outcomes: mpsc::UnboundedReceiver<Q::Outcome>,
) {
    let mut batch = Vec::with_capacity(RECORD_BATCH);
    while outcomes.recv_many(&mut batch, RECORD_BATCH).await > 0 {
        let written = std::mem::replace(&mut batch, Vec::with_capacity(RECORD_BATCH));
        let count = written.len();
        if let Err(e) = queue.record(written).await {
            // The items stay claimed until their lease ends, then are attempted again: nothing is lost.
            tracing::warn!(worker = name, error = %e, results = count, "could not record attempts");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    /// A worker's store calls run on the API's runtime: here the test's own thread, while the worker's thread runs
    /// at the lowest priority with a runtime of its own.
    #[tokio::test]
    async fn a_worker_reaches_the_store_from_the_api_runtime() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("outbox.db");
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path.to_string_lossy()).await.expect("store opens"));
        let worker_store = WorkerStore { store, api: tokio::runtime::Handle::current() };
        let api_thread = std::thread::current().id();
        let (reply, answer) = tokio::sync::oneshot::channel();
        let worker = std::thread::spawn(move || {
            lower_priority();
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
            let worker_thread = std::thread::current().id();
            let ran_on = runtime.block_on(worker_store.run(|store| async move {
                // A real read, so the pool's connection is taken and given back on this thread.
                store.next_delivery_due().await?;
                Ok(std::thread::current().id())
            }));
            let _ = reply.send((worker_thread, ran_on));
        });
        let (worker_thread, ran_on) = answer.await.expect("the worker answers");
        worker.join().expect("the worker thread ends");
        assert_ne!(worker_thread, api_thread);
        assert_eq!(ran_on.expect("the read succeeds"), api_thread);
    }
}
