//! The webhook half of the storage interface: endpoints, and the delivery queue the workers drain.
//!
//! Deliveries are never written by the API. The outbox event, committed with the change it reports, is the
//! durable record of what subscribers must hear; the worker's claim turns events into deliveries ("fan-out"),
//! in its own transaction, which also moves each webhook's cursor (`fanned_out_seq`) past them: an event
//! becomes exactly one delivery per subscribed webhook, none is skipped, and the API's transaction pays nothing
//! per webhook. Workers claim due deliveries with a lease, attempt them, and record every attempt; a claim moves
//! `next_attempt_at` to the end of the lease, so two workers never hold the same delivery and one that dies lets
//! it come due again.

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

// The fan-out SQL both stores run inside a write transaction (`$n` placeholders read the same in both). `$2` is
// a webhook id, or null for every enabled webhook.

/// Outbox events taken per fan-out round: a claim fans out only when too few deliveries are due, so the queue
/// stays a few rounds ahead of the attempts rather than materialising a whole backlog at once.
pub(super) const FAN_OUT_EVENTS: i64 = 256;
/// Most events fanned out for one webhook when its deliveries are listed.
pub(super) const LIST_FAN_OUT_EVENTS: i64 = 10_000;
/// Most fan-out rounds in one claim (events no webhook subscribes to make no deliveries).
pub(super) const FAN_OUT_ROUNDS: usize = 16;
/// The furthest-behind cursor of the enabled webhooks (null: none enabled) and the newest event.
pub(super) const FAN_OUT_RANGE: &str = "SELECT (SELECT MIN(fanned_out_seq) FROM webhooks WHERE enabled \
                                        AND (CAST($1 AS TEXT) IS NULL OR id = $1)) AS behind, \
                                        (SELECT COALESCE(MAX(seq), 0) FROM events) AS newest";
/// Turns the events after each webhook's cursor, up to `$1`, into its deliveries, due at once. `$3`, the lowest
/// cursor, bounds the scan of `events` from below. The id joins the event's and the webhook's: unique, and rising
/// with the event's ULID (the id index grows at its right edge).
pub(super) const FAN_OUT: &str = "INSERT INTO webhook_deliveries (id, webhook_id, event, event_seq, status, \
                                  attempts, next_attempt_at, created_at) \
                                  SELECT 'whd_' || e.id || '_' || w.id, w.id, e.event_type, e.seq, 'pending', 0, \
                                  e.created_at, e.created_at FROM webhooks w \
                                  JOIN events e ON e.seq > $3 AND e.seq <= $1 AND e.seq > w.fanned_out_seq \
                                  JOIN webhook_subscriptions s ON s.webhook_id = w.id \
                                  AND s.event IN (e.event_type, '*') \
                                  WHERE w.enabled AND w.fanned_out_seq < $1 \
                                  AND (CAST($2 AS TEXT) IS NULL OR w.id = $2) ORDER BY e.seq, w.id";
pub(super) const ADVANCE_CURSORS: &str = "UPDATE webhooks SET fanned_out_seq = $1 WHERE enabled \
                                          AND fanned_out_seq < $1 AND (CAST($2 AS TEXT) IS NULL OR id = $2)";
/// A webhook created or enabled hears only what happens from now on.
pub(super) const NEWEST_EVENT: &str = "(SELECT COALESCE(MAX(seq), 0) FROM events)";
pub(super) const RESTART_CURSOR: &str =
    "UPDATE webhooks SET fanned_out_seq = (SELECT COALESCE(MAX(seq), 0) FROM events) WHERE id = $1";
/// Whether webhook `$1` is owed deliveries not yet fanned out.
pub(super) const FAN_OUT_OWED: &str = "SELECT EXISTS (SELECT 1 FROM webhooks WHERE id = $1 AND enabled \
                                       AND fanned_out_seq < (SELECT COALESCE(MAX(seq), 0) FROM events)) AS owed";
/// When the oldest event not yet fanned out was written (no row: nothing waits).
pub(super) const FAN_OUT_DUE: &str = "SELECT created_at FROM events WHERE seq > \
                                      (SELECT MIN(fanned_out_seq) FROM webhooks WHERE enabled) ORDER BY seq LIMIT 1";
/// Deliveries still to be made: pending rows, and events not yet fanned out to a subscribed webhook.
pub(super) const DELIVERIES_OWED: &str = "SELECT (SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending') \
                                          + (SELECT COUNT(*) FROM webhooks w \
                                          JOIN events e ON e.seq > w.fanned_out_seq AND e.seq > \
                                          (SELECT MIN(fanned_out_seq) FROM webhooks WHERE enabled) \
                                          JOIN webhook_subscriptions s ON s.webhook_id = w.id \
                                          AND s.event IN (e.event_type, '*') WHERE w.enabled) AS n";

/// Fans out events into deliveries on a write connection (inside a write job): for every enabled webhook, or
/// only `$webhook` when `Some`, from its cursor on, at most `$events` events (all of them when `None`).
/// Evaluates to `None` when nothing was waiting, else to whether events were left for a later round. Both stores
/// run it on their own connection type.
macro_rules! fan_out {
    ($conn:expr, $webhook:expr, $events:expr) => {{
        use sqlx::Row as _;
        use $crate::store::webhooks::{ADVANCE_CURSORS, FAN_OUT, FAN_OUT_RANGE};
        let webhook: Option<&str> = $webhook;
        let events: Option<i64> = $events;
        let range = sqlx::query(FAN_OUT_RANGE).bind(webhook).fetch_one(&mut *$conn).await?;
        let behind: Option<i64> = range.try_get("behind")?;
        let newest: i64 = range.try_get("newest")?;
        match behind {
            Some(behind) if behind < newest => {
                let upto = events.map_or(newest, |n| newest.min(behind.saturating_add(n)));
                sqlx::query(FAN_OUT).bind(upto).bind(webhook).bind(behind).execute(&mut *$conn).await?;
                sqlx::query(ADVANCE_CURSORS).bind(upto).bind(webhook).execute(&mut *$conn).await?;
                Some(upto < newest)
            }
            _ => None,
        }
    }};
}
pub(super) use fan_out;

/// Before a webhook's change is written (inside the same write job): events so far were meant for its
/// subscriptions as they were, so they are fanned out first; and one being enabled hears nothing of what happened
/// while it was disabled.
macro_rules! fan_out_before_change {
    ($conn:expr, $id:expr, $before:expr, $patch:expr) => {{
        let (id, before, patch): (
            &str,
            &$crate::store::webhooks::WebhookRecord,
            &$crate::store::webhooks::WebhookPatch,
        ) = ($id, $before, $patch);
        if patch.events.is_some() || patch.enabled.is_some() {
            $crate::store::webhooks::fan_out!($conn, Some(id), None);
        }
        if patch.enabled == Some(true) && !before.enabled {
            sqlx::query($crate::store::webhooks::RESTART_CURSOR).bind(id).execute(&mut *$conn).await?;
        }
    }};
}
pub(super) use fan_out_before_change;

/// Claims up to `$limit` due deliveries (with the caller's `claim_due`), fanning out new events first whenever
/// fewer are due; evaluates to the claimed sequence numbers.
macro_rules! claim_with_fan_out {
    ($conn:expr, $now:expr, $lease_until:expr, $limit:expr) => {{
        use $crate::store::webhooks::{FAN_OUT_EVENTS, FAN_OUT_ROUNDS};
        let (now, lease_until, limit): (Timestamp, Timestamp, u32) = ($now, $lease_until, $limit);
        let mut seqs = claim_due($conn, "webhook_deliveries", now, lease_until, limit).await?;
        for _ in 0..FAN_OUT_ROUNDS {
            if seqs.len() >= limit as usize {
                break;
            }
            let Some(left) = $crate::store::webhooks::fan_out!($conn, None, Some(FAN_OUT_EVENTS)) else { break };
            let rest = limit - seqs.len() as u32;
            seqs.extend(claim_due($conn, "webhook_deliveries", now, lease_until, rest).await?);
            if !left {
                break;
            }
        }
        seqs
    }};
}
pub(super) use claim_with_fan_out;

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
    /// When the earliest pending delivery comes due, or the oldest event not yet fanned out was written (`None`
    /// when nothing waits).
    async fn next_delivery_due(&self) -> StoreResult<Option<Timestamp>>;
    /// Claims up to `limit` deliveries due at `now` until `lease_until`, earliest due first; when fewer are due,
    /// fans out new events first (see the module's introduction).
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
