//! Storage: one interface, one implementation per database.
//!
//! [`Store`] is everything the gateway asks of its database. Each method is one atomic unit: a create writes the
//! request, its audit rows and its outbox events in one transaction; a decision is one conditional update plus
//! its audit row and events. Only this module knows SQL. [`sqlite::SqliteStore`] is the default; a PostgreSQL
//! [`postgres::PostgresStore`] serves several replicas
//! sharing one database. Both write through [`writer`] (group commit) and read rows through [`rows`].

// Column lists shared by both stores' SQL (macros, so `concat!` can build `&'static str` queries from them).
macro_rules! request_columns {
    () => {
        request_columns!("")
    };
    // With a table alias prefix (`"r."`), for joins.
    ($p:literal) => {
        concat!(
            $p,
            "id, ",
            $p,
            "action, ",
            $p,
            "params, ",
            $p,
            "context, ",
            $p,
            "status, ",
            $p,
            "urgency, ",
            $p,
            "created_at, ",
            $p,
            "updated_at, ",
            $p,
            "decided_at, ",
            $p,
            "decided_by, ",
            $p,
            "decision_reason, ",
            $p,
            "expires_at, ",
            $p,
            "approvers, ",
            $p,
            "require_reason"
        )
    };
}
macro_rules! policy_columns {
    () => {
        "id, name, rules, priority, enabled, created_at, updated_at, version"
    };
}
macro_rules! key_columns {
    () => {
        "id, key_hash, name, scopes, created_at, last_used_at, revoked_at, rate_limit"
    };
}

pub mod channels;
pub mod maintenance;
pub mod postgres;
mod query;
mod rows;
pub mod sessions;
pub mod sqlite;
pub mod webhooks;
mod writer;

pub use channels::ChannelStore;
pub use maintenance::MaintenanceStore;
pub use sessions::SessionStore;
pub use webhooks::WebhookStore;

use agentgate_core::Timestamp;
use agentgate_core::policy::PolicySpec;
use agentgate_core::request::{DecideRefusal, RequestStatus, Urgency, Verdict};
use agentgate_core::wire::{ApprovalRequest, AuditEntry, DailyUsage, Override, Policy};
use async_trait::async_trait;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or is shutting down: worth retrying later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Database(String),
    /// The database refused a value as given (PostgreSQL's data exceptions, e.g. a NUL character in text).
    #[error("invalid value: {0}")]
    Invalid(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        // PostgreSQL's SQLSTATE: connection exceptions (08…), shutting down or starting up (57P01–57P03) and
        // statement or lock timeouts (57014, 55P03) are worth retrying later; data exceptions (22…) are the
        // caller's value refused. (SQLite's codes are numbers of another kind: none of this applies.)
        let sqlstate = match &e {
            sqlx::Error::Database(db) => db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().map(|pg| pg.code()),
            _ => None,
        };
        let unavailable = matches!(
            &e,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_)
        ) || sqlstate.is_some_and(|code| {
            code.starts_with("08") || ["57P01", "57P02", "57P03", "57014", "55P03"].contains(&code)
        });
        let invalid = sqlstate.is_some_and(|code| code.starts_with("22"));
        if unavailable {
            Self::Unavailable(e.to_string())
        } else if invalid {
            Self::Invalid(e.to_string())
        } else {
            Self::Database(e.to_string())
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        Self::Database(format!("stored JSON is invalid: {e}"))
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// An audit row to write alongside a change.
#[derive(Debug, Clone)]
pub struct NewAudit {
    pub id: String,
    pub request_id: Option<String>,
    pub event_type: &'static str,
    pub actor: String,
    pub details: Value,
    pub created_at: Timestamp,
}

impl NewAudit {
    /// An administrative entry (policy, key or override change): no request, stamped now.
    pub fn admin(event_type: &'static str, actor: &str, details: Value) -> Self {
        Self {
            id: crate::app::new_id(),
            request_id: None,
            event_type,
            actor: actor.to_owned(),
            details,
            created_at: crate::app::now(),
        }
    }
}

/// An outbox event to write alongside a change.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub id: String,
    pub event_type: &'static str,
    pub request_id: Option<String>,
    /// The JSON payload, already serialised.
    pub payload: String,
    pub created_at: Timestamp,
}

/// A new request with everything written in its transaction.
#[derive(Debug, Clone)]
pub struct NewRequest {
    pub request: ApprovalRequest,
    pub params_json: String,
    pub context_json: String,
    /// `request.approvers` as JSON, when the routing rule names approvers.
    pub approvers_json: Option<String>,
    pub audit: Vec<NewAudit>,
    pub events: Vec<NewEvent>,
    /// Channel notifications announcing the request (Slack, Discord, e-mail, webhook channel).
    pub notifications: Vec<channels::NewNotification>,
}

/// A decision on a pending request, by an authenticated principal.
#[derive(Debug, Clone)]
pub struct DecideCommand {
    pub request_id: String,
    pub verdict: Verdict,
    pub reason: Option<String>,
    /// The authenticated decider (`key:<id>`, `admin:env`, …).
    pub actor: String,
    /// Every name the decider goes by (key name, actor), matched against the request's approvers.
    pub identities: Vec<String>,
    /// Extra audit details (the client's own label, the key's name).
    pub audit_details: Value,
    pub audit_id: String,
    pub event_ids: [String; 2],
    pub now: Timestamp,
}

#[derive(Debug)]
pub enum DecideOutcome {
    Decided(Box<ApprovalRequest>),
    NotFound,
    Refused(DecideRefusal),
}

#[derive(Debug, Clone, Default)]
pub struct RequestFilter {
    pub status: Option<RequestStatus>,
    pub action: Option<String>,
    pub urgency: Option<Urgency>,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub event_type: Option<String>,
    pub action: Option<String>,
    pub actor: Option<String>,
    pub status: Option<RequestStatus>,
    pub request_id: Option<String>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub limit: u32,
    pub offset: u64,
}

/// An API key as stored (the wire form hides the hash).
#[derive(Debug, Clone)]
pub struct ApiKeyRecord {
    pub id: String,
    pub key_hash: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    pub rate_limit: Option<u32>,
}

/// How a key was used since the last flush: when last, and how many requests per UTC day.
#[derive(Debug, Clone)]
pub struct KeyUsage {
    pub key_id: String,
    pub last_used_at: Timestamp,
    pub requests: Vec<DailyUsage>,
}

/// Fields of a key change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ApiKeyPatch {
    pub name: Option<String>,
    pub scopes: Option<Vec<String>>,
    /// `Some(None)` clears the limit.
    pub rate_limit: Option<Option<u32>>,
}

impl ApiKeyPatch {
    /// The key with this change applied.
    pub fn apply(&self, mut key: ApiKeyRecord) -> ApiKeyRecord {
        if let Some(name) = &self.name {
            key.name = name.clone();
        }
        if let Some(scopes) = &self.scopes {
            key.scopes = scopes.clone();
        }
        if let Some(limit) = self.rate_limit {
            key.rate_limit = limit;
        }
        key
    }
}

/// A change made elsewhere (another replica) that copies cached here must forget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    /// Policies or overrides changed: rebuild the rules.
    Policies,
    /// The key with this hash changed or was revoked.
    ApiKey(String),
    /// Announcements may have been missed (a lost connection): forget everything.
    Everything,
}

/// A one-click decision token, stored by the SHA-256 of its secret.
#[derive(Debug, Clone)]
pub struct DecisionToken {
    pub id: String,
    pub request_id: String,
    pub verdict: Verdict,
    pub token_hash: String,
    /// Who minted it (actor and name): the identities a decision through it is made with.
    pub created_by: String,
    pub created_by_name: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
}

#[derive(Debug)]
pub enum MintOutcome {
    Minted,
    NotFound,
    /// The request cannot be decided any more (its status, or `expired` when overdue).
    NotPending(RequestStatus),
}

/// What a presented token is worth.
#[derive(Debug)]
pub enum TokenOutcome<T> {
    Unknown,
    Used,
    Expired,
    Usable(T),
}

/// Ids and time for a decision made through a link (chosen by the caller, like every other write).
#[derive(Debug, Clone)]
pub struct LinkDecision {
    pub token_hash: String,
    pub reason: Option<String>,
    pub audit_id: String,
    pub event_ids: [String; 2],
    pub now: Timestamp,
}

/// An outbox row as streams and waiters see it.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// Commit order: the stream's event id (`Last-Event-ID`).
    pub seq: i64,
    pub id: String,
    pub event_type: String,
    pub request_id: Option<String>,
    pub created_at: Timestamp,
    /// `{"event", "data": {"request"}, "timestamp"}`, the body webhooks and streams send.
    pub body: String,
    /// The request as the event left it, serialised (what a waiter answers with).
    pub request_json: bytes::Bytes,
}

impl StoredEvent {
    /// Whether the event ends its request's wait: a decision or an expiry.
    pub fn is_final(&self) -> bool {
        self.event_type != agentgate_core::audit::event::REQUEST_CREATED
    }
}

/// Everything the gateway asks of its database ([`WebhookStore`] holds the webhook half, [`ChannelStore`] the
/// channel notifications, [`SessionStore`] the dashboard's sessions, [`MaintenanceStore`] the housekeeping).
#[async_trait]
pub trait Store: WebhookStore + ChannelStore + SessionStore + MaintenanceStore + Send + Sync + 'static {
    /// Notified after every commit that may have written events (the hub's tailer waits on it).
    fn commit_signal(&self) -> std::sync::Arc<tokio::sync::Notify>;
    /// Changes other replicas made, for the caches to follow; `None` when no other replica can exist (SQLite).
    fn invalidations(&self) -> Option<tokio::sync::broadcast::Receiver<Invalidation>> {
        None
    }
    /// The newest outbox sequence number (0 when empty).
    async fn latest_event_seq(&self) -> StoreResult<i64>;
    /// Outbox rows after `seq` in commit order, at most `limit`, optionally for one request only.
    async fn events_after(&self, seq: i64, limit: u32, request_id: Option<&str>) -> StoreResult<Vec<StoredEvent>>;

    /// Events after `seq` that this process has just committed and still holds in memory, when they follow
    /// `seq` without a gap (empty otherwise): the SQLite store keeps the decisions its writer commits, so the
    /// tailer hands a decision to its waiters without reading it back first. Only the tailer takes them; it still
    /// reads the outbox after, for anything else.
    fn take_committed_after(&self, _seq: i64) -> Vec<StoredEvent> {
        Vec::new()
    }
    /// Turns pending requests whose `expiresAt` has passed into `expired` (at most `limit` at once), each with
    /// its audit row and `request.expired` event; returns how many. Safe to run concurrently: the update is
    /// conditional on the request still being pending.
    async fn expire_overdue(&self, now: Timestamp, limit: u32) -> StoreResult<usize>;

    /// When the next pending request expires, if any does: a read, so the sweeper writes only when there is
    /// something to expire (an empty write would still take the write lock and wake everything that follows
    /// commits).
    async fn next_expiry(&self) -> StoreResult<Option<Timestamp>>;

    /// A cheap round trip, for health checks.
    async fn ping(&self) -> StoreResult<()>;
    /// Waits for queued writes to commit and closes connections.
    async fn close(&self);

    async fn create_request(&self, new: NewRequest) -> StoreResult<()>;
    async fn get_request(&self, id: &str) -> StoreResult<Option<ApprovalRequest>>;
    async fn list_requests(&self, filter: &RequestFilter, page: Page) -> StoreResult<(Vec<ApprovalRequest>, u64)>;
    async fn decide_request(&self, command: DecideCommand) -> StoreResult<DecideOutcome>;
    /// The audit trail of one request, oldest first; `None` when the request does not exist.
    async fn request_audit(&self, request_id: &str) -> StoreResult<Option<Vec<AuditEntry>>>;

    async fn list_audit(&self, filter: &AuditFilter, page: Page) -> StoreResult<(Vec<AuditEntry>, u64)>;
    async fn audit_actions(&self) -> StoreResult<Vec<String>>;
    async fn audit_actors(&self) -> StoreResult<Vec<String>>;

    async fn list_policies(&self, page: Page) -> StoreResult<(Vec<Policy>, u64)>;
    /// Every enabled policy, in evaluation order (priority, then age, then id).
    async fn enabled_policies(&self) -> StoreResult<Vec<Policy>>;
    async fn get_policy(&self, id: &str) -> StoreResult<Option<Policy>>;
    async fn insert_policy(&self, policy: Policy, audit: NewAudit) -> StoreResult<()>;
    /// Replaces a policy's spec; `None` when it does not exist.
    async fn replace_policy(
        &self,
        id: &str,
        spec: PolicySpec,
        now: Timestamp,
        audit: NewAudit,
    ) -> StoreResult<Option<Policy>>;
    async fn delete_policy(&self, id: &str, audit: NewAudit) -> StoreResult<bool>;

    /// Stores an approve/deny token pair for a request that can still be decided, with its audit row.
    async fn insert_decision_tokens(&self, tokens: [DecisionToken; 2], audit: NewAudit) -> StoreResult<MintOutcome>;
    /// A token (by hash) with its request, for the confirmation page; `now` decides whether it expired.
    async fn find_decision_token(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> StoreResult<TokenOutcome<(DecisionToken, ApprovalRequest)>>;
    /// Decides through a token: checks it, makes the one decision (as `link:<token id>`, with the minter's
    /// identities), and on success spends every unused token of the request, all in one transaction.
    /// The outcome comes with the token's request id.
    async fn decide_with_token(&self, link: LinkDecision) -> StoreResult<TokenOutcome<(String, DecideOutcome)>>;

    /// Overrides not yet expired at `now`, oldest first.
    async fn active_overrides(&self, now: Timestamp) -> StoreResult<Vec<Override>>;
    async fn insert_override(&self, item: Override, audit: NewAudit) -> StoreResult<()>;
    /// Deletes an override; `false` when it does not exist.
    async fn delete_override(&self, id: &str, audit: NewAudit) -> StoreResult<bool>;

    /// Requests created since `since` (when given), newest first, at most `limit` (for backtests).
    async fn recent_requests(&self, since: Option<Timestamp>, limit: u32) -> StoreResult<Vec<ApprovalRequest>>;

    /// Inserts a key; with `only_if_none_exist`, only when the table is empty (first-start bootstrap), returning
    /// whether it was inserted.
    async fn insert_api_key(
        &self,
        key: ApiKeyRecord,
        audit: Option<NewAudit>,
        only_if_none_exist: bool,
    ) -> StoreResult<bool>;
    /// An active (not revoked) key by the SHA-256 hex of its secret.
    async fn find_active_api_key(&self, key_hash: &str) -> StoreResult<Option<ApiKeyRecord>>;
    /// A key by id, revoked or not.
    async fn get_api_key(&self, id: &str) -> StoreResult<Option<ApiKeyRecord>>;
    /// Records a flush of key usage in one transaction: each key's `last_used_at` (never moving it backwards) and
    /// its request counts, added to what is stored for each (key, UTC day). Replicas flush independently, so the
    /// counts must be added, never overwritten.
    async fn record_key_usage(&self, usage: Vec<KeyUsage>) -> StoreResult<()>;
    /// Request counts per (key id, UTC day) from `first_day` (`YYYY-MM-DD`, inclusive) on, for the key list.
    async fn key_requests_since(&self, first_day: &str) -> StoreResult<Vec<(String, DailyUsage)>>;
    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKeyRecord>>;
    async fn update_api_key(&self, id: &str, patch: ApiKeyPatch, audit: NewAudit) -> StoreResult<Option<ApiKeyRecord>>;
    /// Revokes a key; `None` when it does not exist. Revoking twice keeps the first time.
    async fn revoke_api_key(&self, id: &str, now: Timestamp, audit: NewAudit) -> StoreResult<Option<ApiKeyRecord>>;
}

#[cfg(test)]
mod tests {
    /// Both stores are migrated to the same versions: a schema change is made for both, under one number.
    #[test]
    fn both_migration_directories_hold_the_same_versions() {
        let versions = |dialect: &str| {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(dialect);
            let mut versions: Vec<String> = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .flatten()
                .filter_map(|entry| entry.file_name().to_str().and_then(|n| n.split('_').next()).map(str::to_owned))
                .collect();
            versions.sort();
            versions
        };
        assert_eq!(versions("sqlite"), versions("postgres"));
    }
}
