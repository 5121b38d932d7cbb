//! The delivery worker: claims due deliveries, sends them concurrently, records every attempt.
//!
//! It wakes on every commit (a new event may have queued deliveries), when the earliest retry comes due, and at
//! least every [`POLL_INTERVAL`] (deliveries queued by another replica). A claim is a lease: the delivery's
//! `next_attempt_at` moves to the end of it, so no other worker (here or on another replica) takes it, and if
//! this process dies the delivery simply comes due again. Results are written in batches, each only if its lease
//! still holds. Attempts never run on an API request's path.

use super::Deliverer;
use crate::app::{SharedState, now};
use crate::metrics;
use crate::store::Store;
use crate::store::webhooks::{AttemptResult, ClaimedDelivery};
use agentgate_core::Timestamp;
use agentgate_core::webhook::DeliveryStatus;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

/// The longest the worker sleeps without looking for due deliveries.
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Most deliveries claimed at once.
const CLAIM_BATCH: usize = 64;
/// Most results written in one transaction.
const RECORD_BATCH: usize = 256;
/// A lease outlives the attempt's timeout by this much, so a slow but live attempt is never taken over.
const LEASE_MARGIN: Duration = Duration::from_secs(30);

/// The longest a graceful shutdown waits for attempts in flight (less when `WEBHOOK_TIMEOUT_MS` is shorter).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How much lower than the API's threads the worker thread runs (a nice value): when both want the CPU, requests
/// get about nine tenths of it; when the API is idle, deliveries get all of it.
#[cfg(target_os = "linux")]
const WORKER_NICENESS: i32 = 10;

/// Starts the worker on a thread of its own, at a lower scheduling priority than the API, with its own runtime
/// and HTTP client: deliveries never take CPU time from requests that want it, and a backlog built under load
/// drains as soon as the load drops. The handle completes when the worker has stopped.
pub fn spawn(state: SharedState, stopped: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    let (done, finished) = tokio::sync::oneshot::channel::<()>();
    let started = std::thread::Builder::new().name("webhook-worker".into()).spawn(move || {
        lower_priority();
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().on_thread_start(lower_priority).build();
        match runtime {
            Ok(runtime) => runtime.block_on(run(state, stopped)),
            Err(e) => tracing::error!(error = %e, "cannot start the webhook worker's runtime"),
        }
        let _ = done.send(());
    });
    if let Err(e) = started {
        tracing::error!(error = %e, "cannot start the webhook worker thread");
    }
    tokio::spawn(async move {
        let _ = finished.await;
    })
}

fn lower_priority() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), WORKER_NICENESS) {
        tracing::debug!(error = %e, "could not lower the webhook worker's priority");
    }
}

/// Claims still held by attempts in flight, so shutdown can hand back the ones it interrupts.
type Held = Arc<Mutex<HashMap<i64, Timestamp>>>;

async fn run(state: SharedState, mut stopped: watch::Receiver<bool>) {
    let store = state.store.clone();
    // Its own connection pool, living on this runtime (a pooled connection belongs to the runtime that opened it).
    let deliverer = match state.deliverer.with_new_client() {
        Ok(deliverer) => Arc::new(deliverer),
        Err(e) => {
            tracing::error!(error = %e, "cannot build the webhook worker's HTTP client");
            return;
        }
    };
    let signal = store.commit_signal();
    let (results, results_rx) = mpsc::unbounded_channel::<AttemptResult>();
    let recorder = tokio::spawn(record_results(state.clone(), results_rx));
    let held: Held = Arc::default();
    let mut in_flight = JoinSet::new();
    let lease = deliverer.timeout + LEASE_MARGIN;
    // With no enabled webhook, commits queue no deliveries: the worker then only polls (retries left from
    // before, webhooks created on another replica), instead of a database read after every commit.
    let mut subscribed = true;
    let mut subscriptions_checked: Option<tokio::time::Instant> = None;
    while !*stopped.borrow() {
        let notified = signal.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if subscriptions_checked.is_none_or(|at| at.elapsed() >= POLL_INTERVAL) {
            subscribed = store.any_enabled_webhook().await.unwrap_or(true);
            subscriptions_checked = Some(tokio::time::Instant::now());
        }
        while in_flight.try_join_next().is_some() {}
        let free = deliverer.concurrency.saturating_sub(in_flight.len());
        let mut wait = POLL_INTERVAL;
        if free > 0 {
            let current = now();
            match store.next_delivery_due().await {
                Ok(Some(due)) if due <= current => {
                    let limit = free.min(CLAIM_BATCH);
                    let lease_until = Timestamp(current.0 + lease.as_millis() as i64);
                    match store.claim_deliveries(current, lease_until, limit as u32).await {
                        Ok(claimed) => {
                            let full = claimed.len() == limit;
                            for delivery in claimed {
                                held.lock().unwrap_or_else(|p| p.into_inner()).insert(delivery.seq, lease_until);
                                in_flight.spawn(attempt(deliverer.clone(), delivery, results.clone(), held.clone()));
                            }
                            if full {
                                continue; // more may be due right now
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "could not claim webhook deliveries"),
                    }
                }
                Ok(Some(due)) => {
                    wait = wait.min(Duration::from_millis(u64::try_from(due.0 - current.0).unwrap_or(0)));
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "could not look for due webhook deliveries"),
            }
        }
        tokio::select! {
            () = &mut notified, if subscribed => {}
            () = tokio::time::sleep(wait) => {}
            Some(_) = in_flight.join_next(), if free == 0 => {}
            _ = stopped.changed() => {}
        }
    }
    // Shutdown: take nothing new; let attempts in flight finish within a bound, then hand back the rest.
    let grace = deliverer.timeout.min(SHUTDOWN_GRACE);
    let finished = tokio::time::timeout(grace, async { while in_flight.join_next().await.is_some() {} }).await;
    if finished.is_err() {
        in_flight.shutdown().await;
    }
    drop(results);
    let _ = recorder.await;
    let unfinished: Vec<(i64, Timestamp)> = held.lock().unwrap_or_else(|p| p.into_inner()).drain().collect();
    if !unfinished.is_empty() {
        tracing::info!(deliveries = unfinished.len(), "handing back webhook deliveries interrupted by shutdown");
        if let Err(e) = store.release_deliveries(unfinished, now()).await {
            tracing::warn!(error = %e, "could not hand back interrupted deliveries; they come due when their lease ends");
        }
    }
}

/// Makes one attempt and queues its result for recording.
async fn attempt(
    deliverer: Arc<Deliverer>,
    delivery: ClaimedDelivery,
    results: mpsc::UnboundedSender<AttemptResult>,
    held: Held,
) {
    let number = delivery.attempts + 1;
    let result = if !delivery.webhook_enabled {
        give_up(&delivery, number, "Webhook disabled")
    } else {
        match deliverer.secrets.open(&delivery.secret) {
            Err(e) => {
                tracing::error!(delivery = %delivery.id, error = %e, "cannot sign a webhook delivery");
                give_up(&delivery, number, &e.to_string())
            }
            Ok(secret) => {
                let sent = deliverer.send(&delivery.url, &secret, &delivery.id, &delivery.event, &delivery.body).await;
                let (status, next_attempt_at) = sent.next(&deliverer.retry, number);
                if status != DeliveryStatus::Success {
                    tracing::info!(
                        delivery = %delivery.id,
                        attempt = number,
                        status = status.as_str(),
                        code = sent.response_code(),
                        error = sent.error(),
                        "webhook delivery attempt failed"
                    );
                }
                sent.into_result(delivery.seq, delivery.lease_until, number, (status, next_attempt_at))
            }
        }
    };
    held.lock().unwrap_or_else(|p| p.into_inner()).remove(&delivery.seq);
    let _ = results.send(result);
}

/// A final failure without sending: the webhook is disabled, or its secret cannot be read.
fn give_up(delivery: &ClaimedDelivery, number: u32, reason: &str) -> AttemptResult {
    let at = now();
    AttemptResult {
        seq: delivery.seq,
        lease_until: delivery.lease_until,
        attempt: number,
        attempted_at: at,
        duration_ms: 0,
        response_code: None,
        response_body: None,
        error: Some(reason.to_owned()),
        status: DeliveryStatus::Failed,
        next_attempt_at: at,
    }
}

/// Writes results as they come, as many per transaction as are waiting, and counts their outcomes.
async fn record_results(state: SharedState, mut results: mpsc::UnboundedReceiver<AttemptResult>) {
    let store: &Arc<dyn Store> = &state.store;
    let mut batch = Vec::with_capacity(RECORD_BATCH);
    while results.recv_many(&mut batch, RECORD_BATCH).await > 0 {
        let written = std::mem::replace(&mut batch, Vec::with_capacity(RECORD_BATCH));
        for result in &written {
            let outcome = match result.status {
                DeliveryStatus::Success => metrics::outcome::DELIVERED,
                DeliveryStatus::Pending => metrics::outcome::RETRYING,
                DeliveryStatus::Failed => metrics::outcome::FAILED,
            };
            state.metrics.delivery_outcome(metrics::WEBHOOK, outcome);
        }
        let count = written.len();
        if let Err(e) = store.record_attempts(written).await {
            // The deliveries stay claimed until their lease ends, then are attempted again: nothing is lost.
            tracing::warn!(error = %e, results = count, "could not record webhook attempts");
        }
    }
}
