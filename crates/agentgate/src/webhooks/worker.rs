//! The delivery worker: claims due webhook deliveries, sends them concurrently, records every attempt. The loop
//! (wake-ups, leases, batching, shutdown) is [`crate::outbox`]'s; this is what a webhook attempt is.

use super::Deliverer;
use crate::app::{SharedState, now};
use crate::outbox::{Claimed, Queue, WorkerStore};
use crate::store::StoreResult;
use crate::store::webhooks::{AttemptResult, ClaimedDelivery};
use agentgate_core::Timestamp;
use agentgate_core::webhook::DeliveryStatus;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Starts the webhook worker on its own thread (see [`crate::outbox::spawn`]). The handle completes when the
/// worker has stopped.
pub fn spawn(state: SharedState, stopped: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    crate::outbox::spawn(
        "webhook-worker",
        state.store.clone(),
        move |store| {
            // Its own connection pool, living on the worker's runtime.
            let deliverer = state.deliverer.with_new_client()?;
            Ok(WebhookQueue { store, deliverer, state })
        },
        stopped,
    )
}

struct WebhookQueue {
    store: WorkerStore,
    deliverer: Deliverer,
    /// For the delivery metrics.
    state: SharedState,
}

impl Claimed for ClaimedDelivery {
    fn seq(&self) -> i64 {
        self.seq
    }
    fn lease_until(&self) -> Timestamp {
        self.lease_until
    }
}

#[async_trait]
impl Queue for WebhookQueue {
    type Item = ClaimedDelivery;
    type Outcome = AttemptResult;

    /// With no enabled webhook, commits queue no deliveries: the worker then only polls (retries left from
    /// before, webhooks created on another replica), instead of a database read after every commit.
    async fn accepting(&self) -> bool {
        self.store.run(|store| async move { store.any_enabled_webhook().await }).await.unwrap_or(true)
    }
    fn concurrency(&self) -> usize {
        self.deliverer.concurrency
    }
    fn attempt_timeout(&self) -> Duration {
        self.deliverer.timeout
    }
    async fn next_due(&self) -> StoreResult<Option<Timestamp>> {
        self.store.run(|store| async move { store.next_delivery_due().await }).await
    }
    async fn claim(&self, now: Timestamp, lease_until: Timestamp, limit: u32) -> StoreResult<Vec<ClaimedDelivery>> {
        self.store.run(move |store| async move { store.claim_deliveries(now, lease_until, limit).await }).await
    }
    async fn attempt(self: Arc<Self>, delivery: ClaimedDelivery) -> AttemptResult {
        attempt(&self.deliverer, delivery).await
    }
    async fn record(&self, results: Vec<AttemptResult>) -> StoreResult<()> {
        for result in &results {
            self.state.metrics.delivery_attempted(crate::metrics::WEBHOOK, result.status);
        }
        self.store.run(|store| async move { store.record_attempts(results).await }).await
    }
    async fn release(&self, claims: Vec<(i64, Timestamp)>, now: Timestamp) -> StoreResult<()> {
        self.store.run(move |store| async move { store.release_deliveries(claims, now).await }).await
    }
}

/// Makes one attempt.
async fn attempt(deliverer: &Deliverer, delivery: ClaimedDelivery) -> AttemptResult {
    let number = delivery.attempts + 1;
    if !delivery.webhook_enabled {
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
    }
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
