//! PostgreSQL implementation of [`MaintenanceStore`]. Deletes skip rows another replica is deleting (`SKIP
//! LOCKED`), so replicas sweeping at once share the work instead of waiting on each other.

use super::PostgresStore;
use crate::store::StoreResult;
use crate::store::maintenance::MaintenanceStore;
use crate::store::rows::Columns;
use agentgate_core::Timestamp;
use agentgate_core::request::Urgency;
use async_trait::async_trait;

impl PostgresStore {
    /// Runs one bounded `DELETE` (binding the cutoff as `$1` and the limit as `$2`) through the writer.
    async fn delete_batch(&self, sql: &'static str, cutoff: Timestamp, limit: u32) -> StoreResult<u64> {
        self.write(move |conn| {
            Box::pin(async move {
                let done = sqlx::query(sql).bind(cutoff.0).bind(i64::from(limit)).execute(&mut *conn).await?;
                Ok(done.rows_affected())
            })
        })
        .await
    }
}

#[async_trait]
impl MaintenanceStore for PostgresStore {
    async fn pending_by_urgency(&self) -> StoreResult<Vec<(Urgency, u64)>> {
        let pool = self.pool.clone();
        self.on_runtime(async move {
            let rows = sqlx::query(
                "SELECT urgency, COUNT(*) AS n FROM approval_requests WHERE status = 'pending' GROUP BY urgency",
            )
            .fetch_all(&pool)
            .await?;
            let mut counts = Vec::with_capacity(rows.len());
            for row in rows {
                if let Ok(urgency) = row.text("urgency")?.parse::<Urgency>() {
                    counts.push((urgency, u64::try_from(row.int("n")?).unwrap_or(0)));
                }
            }
            Ok(counts)
        })
        .await
    }

    async fn pending_delivery_count(&self) -> StoreResult<u64> {
        let pool = self.pool.clone();
        self.on_runtime(async move {
            let row = sqlx::query(crate::store::webhooks::DELIVERIES_OWED).fetch_one(&pool).await?;
            Ok(u64::try_from(row.int("n")?).unwrap_or(0))
        })
        .await
    }

    async fn delete_expired_decision_tokens(&self, expired_before: Timestamp, limit: u32) -> StoreResult<u64> {
        self.delete_batch(
            "DELETE FROM decision_tokens WHERE id IN (SELECT id FROM decision_tokens WHERE expires_at < $1 \
             ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
            expired_before,
            limit,
        )
        .await
    }

    async fn delete_finished_deliveries(&self, created_before: Timestamp, limit: u32) -> StoreResult<u64> {
        // Attempts go with their delivery (ON DELETE CASCADE).
        self.delete_batch(
            "DELETE FROM webhook_deliveries WHERE seq IN (SELECT seq FROM webhook_deliveries \
             WHERE status <> 'pending' AND created_at < $1 ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
            created_before,
            limit,
        )
        .await
    }

    async fn delete_audit_entries(&self, created_before: Timestamp, limit: u32) -> StoreResult<u64> {
        self.delete_batch(
            "DELETE FROM audit_logs WHERE seq IN (SELECT seq FROM audit_logs WHERE created_at < $1 \
             ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
            created_before,
            limit,
        )
        .await
    }
}
