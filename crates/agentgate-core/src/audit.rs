//! The kinds of audit-trail entries.

/// Request lifecycle entries (the older implementation's names, kept for compatibility).
pub const CREATED: &str = "created";
pub const APPROVED: &str = "approved";
pub const DENIED: &str = "denied";
pub const EXPIRED: &str = "expired";
pub const VIEWED: &str = "viewed";

/// Administrative entries: who changed policies, keys, overrides and webhooks, and how.
pub const POLICY_CREATED: &str = "policy.created";
pub const POLICY_UPDATED: &str = "policy.updated";
pub const POLICY_DELETED: &str = "policy.deleted";
pub const API_KEY_CREATED: &str = "api_key.created";
pub const API_KEY_UPDATED: &str = "api_key.updated";
pub const API_KEY_REVOKED: &str = "api_key.revoked";
pub const OVERRIDE_CREATED: &str = "override.created";
pub const OVERRIDE_DELETED: &str = "override.deleted";
pub const WEBHOOK_CREATED: &str = "webhook.created";
pub const WEBHOOK_UPDATED: &str = "webhook.updated";
pub const WEBHOOK_DELETED: &str = "webhook.deleted";

pub const ALL: [&str; 16] = [
    CREATED,
    APPROVED,
    DENIED,
    EXPIRED,
    VIEWED,
    POLICY_CREATED,
    POLICY_UPDATED,
    POLICY_DELETED,
    API_KEY_CREATED,
    API_KEY_UPDATED,
    API_KEY_REVOKED,
    OVERRIDE_CREATED,
    OVERRIDE_DELETED,
    WEBHOOK_CREATED,
    WEBHOOK_UPDATED,
    WEBHOOK_DELETED,
];

/// Outbox event types (webhooks, streams).
pub mod event {
    pub const REQUEST_CREATED: &str = "request.created";
    pub const REQUEST_APPROVED: &str = "request.approved";
    pub const REQUEST_DENIED: &str = "request.denied";
    pub const REQUEST_DECIDED: &str = "request.decided";
    pub const REQUEST_EXPIRED: &str = "request.expired";
}
