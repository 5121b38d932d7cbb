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
#[serde(rename_all = "camelCase")]
pub struct CreateRequest {
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urgency: Option<Urgency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
}

/// Body of `POST /api/requests/:id/decide`. `decidedBy` is only a label: the server records the authenticated
/// principal as the decider.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DecideRequest {
    pub decision: Verdict,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
pub struct RequestList {
    pub requests: Vec<ApprovalRequest>,
    pub pagination: Pagination,
}

/// The request summary joined onto an entry of `GET /api/audit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRequestRef {
    pub id: String,
    pub action: String,
    pub status: RequestStatus,
    pub urgency: Urgency,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
pub struct AuditList {
    pub entries: Vec<AuditEntry>,
    pub pagination: Pagination,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
pub struct PolicyList {
    pub policies: Vec<Policy>,
    pub pagination: Pagination,
}

/// An API key as listed. Times are Unix seconds, as in the older implementation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
pub struct DailyUsage {
    /// `YYYY-MM-DD`, UTC.
    pub date: String,
    pub requests: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiKeyList {
    pub keys: Vec<ApiKey>,
}

/// Response to key creation: the only time the secret is shown.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
pub struct OverrideList {
    pub overrides: Vec<Override>,
}

/// Every error response: `{"error": "..."}` (plus `message` on the unknown-route 404).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
