//! The housekeeping half of the storage interface: counts for metrics, and the retention deletes.
//!
//! Retention deletes are plain conditional `DELETE`s of at most `limit` rows, so several replicas can run them
//! at once: each removes rows that are old whoever deletes them, and a row deleted twice is simply not found the
//! second time. Callers repeat a delete until it returns fewer than `limit`, keeping every transaction short.

use super::StoreResult;
use agentgate_core::Timestamp;
use agentgate_core::request::Urgency;
use async_trait::async_trait;

#[async_trait]
pub trait MaintenanceStore: Send + Sync {
    /// Pending requests per urgency (urgencies with none may be missing).
    async fn pending_by_urgency(&self) -> StoreResult<Vec<(Urgency, u64)>>;
    /// Webhook deliveries still to be sent or retried.
    async fn pending_delivery_count(&self) -> StoreResult<u64>;
    /// Deletes up to `limit` decision tokens that expired before `expired_before`; returns how many.
    async fn delete_expired_decision_tokens(&self, expired_before: Timestamp, limit: u32) -> StoreResult<u64>;
    /// Deletes up to `limit` finished (delivered or failed) webhook deliveries created before `created_before`,
    /// with their attempts; returns how many deliveries.
    async fn delete_finished_deliveries(&self, created_before: Timestamp, limit: u32) -> StoreResult<u64>;
    /// Deletes up to `limit` audit entries created before `created_before`; returns how many.
    async fn delete_audit_entries(&self, created_before: Timestamp, limit: u32) -> StoreResult<u64>;
}
