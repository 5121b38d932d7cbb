//! The channel-notification half of the storage interface: the outbox of Slack, Discord, e-mail and
//! webhook-channel messages, and its delivery log.
//!
//! `request` notifications are written with the request ([`super::NewRequest::notifications`], same
//! transaction). `outcome` notifications are written by the database itself, in the transaction of the event
//! that decided or expired the request: one per `request` notification of that request, whatever made the
//! decision (API, link, Slack, Discord, expiry). Workers claim, attempt and record them like webhook deliveries:
//! a claim is a lease on `next_attempt_at`, and results are recorded only while the lease holds.

use super::StoreResult;
use agentgate_core::Timestamp;
use agentgate_core::routing::ChannelKind;
use agentgate_core::webhook::DeliveryStatus;
use agentgate_core::wire::ApprovalRequest;
use async_trait::async_trait;
use serde::Serialize;

/// A notification to queue with a new request.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub id: String,
    pub channel: ChannelKind,
    pub target: String,
}

/// What a notification says: the request (with buttons or links), or its outcome (an update of that message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NotificationKind {
    Request,
    Outcome,
}

impl NotificationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Request => "request",
            Self::Outcome => "outcome",
        }
    }
}

/// For an outcome notification: how the notification it follows up went.
#[derive(Debug, Clone)]
pub struct Origin {
    pub status: DeliveryStatus,
    /// Where the message was posted (see [`ClaimedNotification::message_ref`]).
    pub message_ref: Option<String>,
}

/// A notification claimed by a worker, with the request as it is now.
#[derive(Debug, Clone)]
pub struct ClaimedNotification {
    pub seq: i64,
    pub id: String,
    pub kind: NotificationKind,
    pub channel: ChannelKind,
    pub target: String,
    /// Attempts made before this one.
    pub attempts: u32,
    pub lease_until: Timestamp,
    pub origin: Option<Origin>,
    pub request: ApprovalRequest,
    /// The actor that created the request (its `created` audit entry).
    pub requested_by: Option<String>,
}

/// What one attempt came to.
#[derive(Debug, Clone)]
pub struct NotificationResult {
    pub seq: i64,
    pub lease_until: Timestamp,
    /// The number of this attempt; `None` when nothing was attempted (an outcome waiting for its original
    /// message), which neither counts as an attempt nor is logged.
    pub attempt: Option<u32>,
    pub attempted_at: Timestamp,
    pub duration_ms: u64,
    pub error: Option<String>,
    pub status: DeliveryStatus,
    /// When still pending: when to try again.
    pub next_attempt_at: Timestamp,
    /// Where the message now lives (set by a successful post), JSON.
    pub message_ref: Option<String>,
}

/// One attempt, as the delivery log shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationAttempt {
    pub attempt: u32,
    pub attempted_at: Timestamp,
    pub duration_ms: u64,
    pub error: Option<String>,
}

/// A notification, as `GET /api/requests/:id/notifications` shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationRecord {
    pub id: String,
    pub kind: NotificationKind,
    pub channel: String,
    pub target: String,
    pub status: String,
    pub attempts: u32,
    pub created_at: Timestamp,
    pub last_attempt_at: Option<Timestamp>,
    pub next_attempt_at: Option<Timestamp>,
    pub last_error: Option<String>,
    pub attempt_log: Vec<NotificationAttempt>,
}

#[async_trait]
pub trait ChannelStore: Send + Sync {
    /// When the earliest pending notification comes due (`None` when nothing is pending).
    async fn next_notification_due(&self) -> StoreResult<Option<Timestamp>>;
    /// Claims up to `limit` notifications due at `now` until `lease_until`, earliest due first.
    async fn claim_notifications(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedNotification>>;
    /// Records results (each only if its claim still holds): status, attempts, message reference, attempt log.
    async fn record_notifications(&self, results: Vec<NotificationResult>) -> StoreResult<()>;
    /// Gives claimed notifications back unattempted (shutdown), due at `now`.
    async fn release_notifications(&self, claims: Vec<(i64, Timestamp)>, now: Timestamp) -> StoreResult<()>;
    /// A request's notifications, oldest first, with their attempts; `None` when the request does not exist.
    async fn request_notifications(&self, request_id: &str) -> StoreResult<Option<Vec<NotificationRecord>>>;
}
