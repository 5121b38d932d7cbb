//! The webhook half of the storage interface: endpoints, and the delivery queue the workers drain.
//!
//! Deliveries are never written here by the API: the database creates one per subscribed webhook whenever an
//! outbox event is written (in the same transaction). Workers claim due deliveries with a lease, attempt them,
//! and record every attempt; a claim moves `next_attempt_at` to the end of the lease, so two workers never hold
//! the same delivery and one that dies lets it come due again.

use super::{NewAudit, Page, StoreResult};
use agentgate_core::Timestamp;
use agentgate_core::webhook::DeliveryStatus;
use agentgate_core::wire::WebhookDelivery;
use async_trait::async_trait;

/// A webhook as stored: the secret in its stored form (possibly encrypted).
#[derive(Debug, Clone)]
pub struct WebhookRecord {
    pub id: String,
    pub url: String,
    pub secret: String,
    pub events: Vec<String>,
    pub enabled: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Fields of a webhook change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct WebhookPatch {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

impl WebhookPatch {
    /// The webhook with this change applied at `now`.
    pub fn apply(&self, mut webhook: WebhookRecord, now: Timestamp) -> WebhookRecord {
        if let Some(url) = &self.url {
            webhook.url = url.clone();
        }
        if let Some(events) = &self.events {
            webhook.events = events.clone();
        }
        if let Some(enabled) = self.enabled {
            webhook.enabled = enabled;
        }
        webhook.updated_at = now;
        webhook
    }
}

/// A delivery claimed by a worker, with what it needs to make the attempt.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub seq: i64,
    pub id: String,
    pub event: String,
    /// Attempts made before this one.
    pub attempts: u32,
    /// The claim: the attempt's result is recorded only while the delivery is still held under it.
    pub lease_until: Timestamp,
    pub url: String,
    pub secret: String,
    pub webhook_enabled: bool,
    pub body: String,
}

/// The result of one attempt, and what becomes of the delivery.
#[derive(Debug, Clone)]
pub struct AttemptResult {
    pub seq: i64,
    pub lease_until: Timestamp,
    /// The number of this attempt (1 for the first).
    pub attempt: u32,
    pub attempted_at: Timestamp,
    pub duration_ms: u64,
    pub response_code: Option<u16>,
    pub response_body: Option<String>,
    pub error: Option<String>,
    pub status: DeliveryStatus,
    /// When still pending: when to try again.
    pub next_attempt_at: Timestamp,
}

/// A delivery recorded as already attempted (the synchronous `POST /api/webhooks/:id/test`).
#[derive(Debug, Clone)]
pub struct TestDelivery {
    pub id: String,
    pub webhook_id: String,
    pub payload: String,
    pub created_at: Timestamp,
    pub result: AttemptResult,
}

#[derive(Debug)]
pub enum ReplayOutcome {
    NotFound,
    /// The delivery has not finished yet; nothing to replay.
    StillPending,
    Replayed(Box<WebhookDelivery>),
}

#[async_trait]
pub trait WebhookStore: Send + Sync {
    async fn insert_webhook(&self, webhook: WebhookRecord, audit: NewAudit) -> StoreResult<()>;
    /// Every webhook, oldest first.
    async fn list_webhooks(&self) -> StoreResult<Vec<WebhookRecord>>;
    async fn get_webhook(&self, id: &str) -> StoreResult<Option<WebhookRecord>>;
    /// Applies a change (and its audit row); `None` when the webhook does not exist.
    async fn update_webhook(
        &self,
        id: &str,
        patch: WebhookPatch,
        now: Timestamp,
        audit: NewAudit,
    ) -> StoreResult<Option<WebhookRecord>>;
    /// Deletes a webhook with its deliveries; `false` when it does not exist.
    async fn delete_webhook(&self, id: &str, audit: NewAudit) -> StoreResult<bool>;
    /// Replaces the stored form of a secret (encrypting plaintext secrets at start-up).
    async fn set_webhook_secret(&self, id: &str, secret: String) -> StoreResult<()>;

    /// A webhook's deliveries, newest first, optionally of one status; with the total count.
    async fn list_deliveries(
        &self,
        webhook_id: &str,
        status: Option<DeliveryStatus>,
        page: Page,
    ) -> StoreResult<(Vec<WebhookDelivery>, u64)>;
    /// Queues a finished delivery again, as a new delivery of the same body to the same webhook.
    async fn replay_delivery(&self, id: &str, new_id: String, now: Timestamp) -> StoreResult<ReplayOutcome>;
    async fn insert_test_delivery(&self, delivery: TestDelivery) -> StoreResult<()>;

    /// Whether any webhook is enabled (with none, new events queue nothing and the worker need not look).
    async fn any_enabled_webhook(&self) -> StoreResult<bool>;
    /// When the earliest pending delivery comes due (`None` when nothing is pending).
    async fn next_delivery_due(&self) -> StoreResult<Option<Timestamp>>;
    /// Claims up to `limit` deliveries due at `now` until `lease_until`, earliest due first.
    async fn claim_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedDelivery>>;
    /// Records attempts (each only if its claim still holds) and what becomes of each delivery.
    async fn record_attempts(&self, results: Vec<AttemptResult>) -> StoreResult<()>;
    /// Gives claimed deliveries back unattempted (shutdown), due at `now`.
    async fn release_deliveries(&self, claims: Vec<(i64, Timestamp)>, now: Timestamp) -> StoreResult<()>;
}
