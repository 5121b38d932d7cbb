//! Webhooks: signing, secrets at rest, and the worker that drains the delivery queue.
//!
//! The API (`http/webhooks.rs`) manages endpoints; the database queues a delivery for every subscribed webhook in
//! the transaction that writes an outbox event (`store/webhooks.rs`); [`worker::run`] claims due deliveries,
//! sends them through the SSRF-guarded [`crate::outbound::OutboundClient`] and records every attempt.

pub mod secrets;
pub mod signing;
pub mod worker;

use crate::outbound::{OutboundClient, OutboundError, OutboundResponse};
use crate::store::webhooks::AttemptResult;
use agentgate_core::Timestamp;
use agentgate_core::webhook::{AfterAttempt, DeliveryStatus, RetryPolicy};
use bytes::Bytes;
use reqwest::header::{HeaderName, HeaderValue};
use secrets::SecretBox;
use std::time::{Duration, Instant};

/// Sends signed deliveries; shared by the worker and `POST /api/webhooks/:id/test`.
pub struct Deliverer {
    pub client: OutboundClient,
    pub secrets: SecretBox,
    pub retry: RetryPolicy,
    /// Per-attempt timeout (`WEBHOOK_TIMEOUT_MS`).
    pub timeout: Duration,
    /// Most deliveries in flight at once.
    pub concurrency: usize,
}

/// What one attempt produced.
#[derive(Debug)]
pub struct Sent {
    pub attempted_at: Timestamp,
    pub duration_ms: u64,
    pub outcome: Result<OutboundResponse, OutboundError>,
}

impl Sent {
    pub fn succeeded(&self) -> bool {
        self.outcome.as_ref().is_ok_and(OutboundResponse::is_success)
    }

    /// What becomes of the delivery after this, its `attempt`-th attempt: a refused destination is never retried.
    pub fn next(&self, retry: &RetryPolicy, attempt: u32) -> (DeliveryStatus, Timestamp) {
        if self.succeeded() {
            return (DeliveryStatus::Success, self.attempted_at);
        }
        if matches!(self.outcome, Err(OutboundError::Blocked(_))) {
            return (DeliveryStatus::Failed, self.attempted_at);
        }
        match retry.after_failure(attempt, rand::random::<f64>()) {
            AfterAttempt::RetryIn(ms) => (
                DeliveryStatus::Pending,
                Timestamp(self.attempted_at.0.saturating_add(i64::try_from(ms).unwrap_or(i64::MAX))),
            ),
            AfterAttempt::GiveUp | AfterAttempt::Succeeded => (DeliveryStatus::Failed, self.attempted_at),
        }
    }

    /// The record of this attempt, the `attempt`-th of delivery `seq` held until `lease_until`.
    pub fn into_result(
        self,
        seq: i64,
        lease_until: Timestamp,
        attempt: u32,
        (status, next_attempt_at): (DeliveryStatus, Timestamp),
    ) -> AttemptResult {
        AttemptResult {
            seq,
            lease_until,
            attempt,
            attempted_at: self.attempted_at,
            duration_ms: self.duration_ms,
            response_code: self.response_code(),
            response_body: self.response_body(),
            error: self.error(),
            status,
            next_attempt_at,
        }
    }

    pub fn response_code(&self) -> Option<u16> {
        self.outcome.as_ref().ok().map(|r| r.status)
    }

    pub fn response_body(&self) -> Option<String> {
        self.outcome.as_ref().ok().map(|r| r.body.clone())
    }

    pub fn error(&self) -> Option<String> {
        self.outcome.as_ref().err().map(ToString::to_string)
    }
}

impl Deliverer {
    /// The same settings with an HTTP client (and connection pool) of its own.
    pub fn with_new_client(&self) -> anyhow::Result<Self> {
        Ok(Self {
            client: OutboundClient::new(self.timeout, self.client.allows_private())?,
            secrets: self.secrets.clone(),
            retry: self.retry,
            timeout: self.timeout,
            concurrency: self.concurrency,
        })
    }

    /// POSTs `body` to `url`, signed both ways with `secret`, as delivery `id` of `event`.
    pub async fn send(&self, url: &str, secret: &str, id: &str, event: &str, body: &str) -> Sent {
        let attempted_at = crate::app::now();
        let started = Instant::now();
        let timestamp = attempted_at.0.div_euclid(1000);
        let mut headers = vec![
            (HeaderName::from_static("x-agentgate-signature"), signing::agentgate_signature(secret, body.as_bytes())),
            (
                HeaderName::from_static("webhook-signature"),
                signing::standard_signature(secret, id, timestamp, body.as_bytes()),
            ),
            (HeaderName::from_static("webhook-timestamp"), timestamp.to_string()),
        ]
        .into_iter()
        .filter_map(|(name, value)| HeaderValue::from_str(&value).ok().map(|v| (name, v)))
        .collect::<Vec<_>>();
        for (name, value) in [("webhook-id", id), ("x-agentgate-delivery", id), ("x-agentgate-event", event)] {
            // Ids and event names are ours, but a header value must never fail a delivery outright.
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.push((HeaderName::from_static(name), value));
            }
        }
        let outcome = self.client.post_json(url, headers, Bytes::copy_from_slice(body.as_bytes())).await;
        Sent { attempted_at, duration_ms: started.elapsed().as_millis() as u64, outcome }
    }
}
