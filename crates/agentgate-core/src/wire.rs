//! The JSON shapes of the HTTP API, shared by the server and the Rust client.
//!
//! Field names and envelopes follow the older TypeScript implementation exactly (camelCase, `{requests,
//! pagination}`, `{"error": "..."}`), so its SDK, CLI and dashboard keep working.

use crate::Timestamp;
use crate::policy::{DecisionType, Rule};
use crate::request::{RequestStatus, Urgency, Verdict};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An approval request as every endpoint returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRequest {
    pub id: String,
    pub action: String,
    pub params: Value,
    pub context: Value,
    pub status: RequestStatus,
    pub urgency: Urgency,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub decided_at: Option<Timestamp>,
    pub decided_by: Option<String>,
    pub decision_reason: Option<String>,
    pub expires_at: Option<Timestamp>,
    /// Who may decide, from the rule that routed the request (key names, `slack:<id>`, `discord:<id>`, email
    /// addresses); absent when anyone with `request:decide` may.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approvers: Option<Vec<String>>,
    /// Whether a decision must give a reason (the routing rule's `requireReason`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_reason: bool,
    /// Only in the response to create: what the policy engine decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_decision: Option<PolicyDecision>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PolicyDecision {
    pub decision: DecisionType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approvers: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<String>>,
}

/// Body of `POST /api/requests`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CreateRequest {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 256, pattern = r"\S"))]
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub params: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub context: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urgency: Option<Urgency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
}

/// Body of `POST /api/requests/:id/decide`. `decidedBy` is only a label: the server records the authenticated
/// principal as the decider.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DecideRequest {
    pub decision: Verdict,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Pagination {
    pub total: u64,
    pub limit: u32,
    pub offset: u64,
    pub has_more: bool,
}

impl Pagination {
    pub fn new(total: u64, limit: u32, offset: u64, page_len: usize) -> Self {
        Self { total, limit, offset, has_more: offset + (page_len as u64) < total }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RequestList {
    pub requests: Vec<ApprovalRequest>,
    pub pagination: Pagination,
}

/// The request summary joined onto an entry of `GET /api/audit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditRequestRef {
    pub id: String,
    pub action: String,
    pub status: RequestStatus,
    pub urgency: Urgency,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub id: String,
    /// Null for administrative events (policy and key changes).
    pub request_id: Option<String>,
    pub event_type: String,
    pub actor: String,
    pub details: Value,
    pub created_at: Timestamp,
    /// Present (possibly null) in `GET /api/audit`, absent in the per-request audit array.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Option<AuditRequestRef>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditList {
    pub entries: Vec<AuditEntry>,
    pub pagination: Pagination,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    pub id: String,
    pub name: String,
    pub rules: Vec<Rule>,
    pub priority: i64,
    pub enabled: bool,
    /// Starts at 1 and goes up by one on every replace; the audit trail names the version that decided.
    #[serde(default)]
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PolicyList {
    pub policies: Vec<Policy>,
    pub pagination: Pagination,
}

/// An API key as listed. Times are Unix seconds, as in the older implementation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub rate_limit: Option<u32>,
    pub active: bool,
    /// Requests made with the key per UTC day (counted in memory, written every few seconds).
    #[serde(default)]
    pub usage: ApiKeyUsage,
}

/// How much a key was used: requests authenticated with it, per UTC day.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyUsage {
    pub today: u64,
    /// The last 7 days, today included.
    pub last7_days: u64,
    /// The last 30 days, today included.
    pub last30_days: u64,
    /// The days of the last 30 with any requests, oldest first.
    pub daily: Vec<DailyUsage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DailyUsage {
    /// `YYYY-MM-DD`, UTC.
    pub date: String,
    pub requests: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKeyList {
    pub keys: Vec<ApiKey>,
}

/// Response to key creation: the only time the secret is shown.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CreatedApiKey {
    pub id: String,
    pub key: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub rate_limit: Option<u32>,
    pub message: String,
}

/// An override: for a while, requests by `agentId` whose action matches `toolPattern` need a human even when a
/// policy would approve them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Override {
    pub id: String,
    pub agent_id: String,
    pub tool_pattern: String,
    /// Always `require_approval`.
    pub action: String,
    pub reason: Option<String>,
    pub created_by: String,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OverrideList {
    pub overrides: Vec<Override>,
}

/// A webhook endpoint as listed (the secret is never shown after creation). Times are epoch milliseconds, as in
/// the older implementation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub enabled: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookList {
    pub webhooks: Vec<Webhook>,
}

/// Response to webhook creation: the only time the signing secret is shown.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CreatedWebhook {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub secret: String,
    pub enabled: bool,
    pub message: String,
}

/// `GET /api/webhooks/:id`: the webhook and its most recent deliveries.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct WebhookDetail {
    #[serde(flatten)]
    pub webhook: Webhook,
    pub deliveries: Vec<WebhookDelivery>,
}

/// One event sent (or to be sent) to one webhook, with its attempts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct WebhookDelivery {
    /// Also the `webhook-id` header: stable across retries, so receivers can deduplicate.
    pub id: String,
    pub webhook_id: String,
    pub event: String,
    /// The exact JSON body that is signed and sent.
    pub payload: String,
    /// `pending`, `success` or `failed`.
    pub status: String,
    pub attempts: u32,
    pub created_at: i64,
    pub last_attempt_at: Option<i64>,
    /// When the next attempt is due, while pending.
    pub next_attempt_at: Option<i64>,
    pub response_code: Option<u16>,
    pub response_body: Option<String>,
    /// The delivery this one replays, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_of: Option<String>,
    pub attempt_log: Vec<DeliveryAttempt>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DeliveryAttempt {
    pub attempt: u32,
    pub attempted_at: i64,
    pub duration_ms: u64,
    pub response_code: Option<u16>,
    /// The first kilobyte of the response.
    pub response_body: Option<String>,
    /// Why the attempt failed without a response (timeout, refused connection, blocked address).
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryList {
    pub deliveries: Vec<WebhookDelivery>,
    pub pagination: Pagination,
}

/// Every error response: `{"error": "..."}` (plus `message` on the unknown-route 404).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

// The bodies below are parsed field by field on the server (so its messages can name the field) and the answers
// are built there with `json!`; these types are the clients' view of the same JSON.

/// Body of `POST /api/policies` and `PUT /api/policies/:id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PolicyInput {
    pub name: String,
    pub rules: Vec<Rule>,
    /// Lower runs first; the server's default is [`crate::policy::DEFAULT_PRIORITY`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// Body of `POST /api/policies/simulate`: one `request` or several `requests`, against the stored policies or
/// the draft set in `policies`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SimulateInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<CreateRequest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<Vec<CreateRequest>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policies: Option<Vec<PolicyInput>>,
}

/// Answer of `POST /api/policies/simulate`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Simulation {
    /// `stored` or `draft`: which policy set was evaluated.
    pub policies: String,
    pub results: Vec<SimulationResult>,
}

/// What the engine decided for one simulated request, and why.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SimulationResult {
    pub request: SimulatedRequest,
    pub decision: DecisionType,
    /// The rule that decided; none when no rule matched (the request would go to a human).
    pub matched: Option<MatchedRule>,
    /// Every enabled rule tried before the deciding one, with the condition that failed.
    pub misses: Vec<crate::policy::RuleMiss>,
}

/// A simulated request as the engine saw it (defaults filled in).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SimulatedRequest {
    pub action: String,
    pub urgency: Urgency,
    pub params: Value,
    pub context: Value,
}

/// The rule that decided a simulated request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MatchedRule {
    pub policy_id: String,
    pub policy_name: String,
    pub policy_version: i64,
    /// The rule's index within its policy, from 0.
    pub rule_index: usize,
    pub rule: Rule,
}

/// Body of `POST /api/policies/backtest`: a draft policy set, and which stored requests to replay (the last
/// `days` days, or the `last` N requests; 1,000 when neither is given).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BacktestInput {
    pub policies: Vec<PolicyInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<u32>,
}

/// Answer of `POST /api/policies/backtest`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Backtest {
    pub evaluated: u64,
    pub changed: u64,
    pub unchanged: u64,
    /// More requests matched the window than were evaluated.
    pub truncated: bool,
    pub changes: Vec<BacktestChange>,
}

/// One kind of changed decision (`from` the stored policies `to` the draft), with a few examples.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BacktestChange {
    pub from: DecisionType,
    pub to: DecisionType,
    pub count: u64,
    pub examples: Vec<BacktestExample>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BacktestExample {
    pub id: String,
    pub action: String,
    pub created_at: Timestamp,
}

/// Body of `POST /api/overrides`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CreateOverride {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, pattern = r"\S"))]
    pub agent_id: String,
    /// A glob on the action, e.g. `deploy:*`.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 256, pattern = r"\S"))]
    pub tool_pattern: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// How long it lasts; forever when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 31_622_400))]
    pub ttl_seconds: Option<u64>,
}

/// Body of `POST /api/keys`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CreateApiKey {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100, pattern = r"\S"))]
    pub name: String,
    /// Scope names: `request:create`, `request:read`, `request:decide`, `webhook:manage`, `admin`.
    #[cfg_attr(feature = "openapi", schema(min_items = 1))]
    pub scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub rate_limit: Option<u32>,
}

/// Body of `PATCH /api/keys/:id`: only the fields given change.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct UpdateApiKey {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// `Some(None)` removes the limit (sent as `null`); `None` leaves it as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<Option<u32>>,
}

/// Answer of `PATCH /api/keys/:id`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdatedApiKey {
    pub success: bool,
    pub key: ApiKey,
}

/// Body of `POST /api/webhooks`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateWebhook {
    pub url: String,
    /// Event names (`request.created`, `request.approved`, `request.denied`, `request.decided`,
    /// `request.expired`) or `*`.
    pub events: Vec<String>,
    /// The signing secret (32 to 256 characters); generated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// Body of `PATCH /api/webhooks/:id`: only the fields given change.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateWebhook {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// Answer of `PATCH /api/webhooks/:id`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdatedWebhook {
    pub success: bool,
    pub webhook: Webhook,
}

/// Answer of `POST /api/webhooks/:id/test`: the receiver's answer to a signed test event.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct WebhookTestResult {
    pub success: bool,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    pub message: String,
    pub delivery_id: String,
}

/// Answer of `POST /api/webhooks/deliveries/:id/replay`: the new delivery, queued.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplayedDelivery {
    pub delivery: WebhookDelivery,
}

/// Answer of `POST /api/requests/:id/tokens`: a one-click approve link and a deny link.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DecisionLinks {
    pub request_id: String,
    pub tokens: DecisionLinkPair,
    pub expires_at: Timestamp,
    pub expires_in_hours: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DecisionLinkPair {
    pub approve: DecisionLink,
    pub deny: DecisionLink,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DecisionLink {
    pub token: String,
    pub url: String,
}

/// Answer of deletes and revocations: `{"success": true}`, with the id or a message on some routes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ack {
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Answer of `GET /api/audit/actions`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditActions {
    pub actions: Vec<String>,
}

/// Answer of `GET /api/audit/actors`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditActors {
    pub actors: Vec<String>,
}

/// Answer of `GET /health`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// `ok`, or `degraded` when a deep check failed.
    pub status: String,
    pub timestamp: Timestamp,
    /// With `?deep=true`: each check's result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checks: Option<Value>,
}
