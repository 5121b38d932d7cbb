//! SQLite implementation of [`MaintenanceStore`]; deletes go through the writer like every other write.

use super::SqliteStore;
use crate::store::StoreResult;
use crate::store::maintenance::MaintenanceStore;
use agentgate_core::Timestamp;
use agentgate_core::request::Urgency;
use async_trait::async_trait;
use sqlx::Row;

impl SqliteStore {
    /// Runs one bounded `DELETE` (binding the cutoff as `?1` and the limit as `?2`) through the writer.
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
impl MaintenanceStore for SqliteStore {
    async fn pending_by_urgency(&self) -> StoreResult<Vec<(Urgency, u64)>> {
        let rows = sqlx::query(
            "SELECT urgency, COUNT(*) AS n FROM approval_requests WHERE status = 'pending' GROUP BY urgency",
        )
        .fetch_all(&self.readers)
        .await?;
        let mut counts = Vec::with_capacity(rows.len());
        for row in rows {
            let urgency: String = row.try_get("urgency")?;
            let n: i64 = row.try_get("n")?;
            if let Ok(urgency) = urgency.parse::<Urgency>() {
                counts.push((urgency, u64::try_from(n).unwrap_or(0)));
            }
        }
        Ok(counts)
    }

    async fn pending_delivery_count(&self) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar(crate::store::webhooks::DELIVERIES_OWED).fetch_one(&self.readers).await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn delete_expired_decision_tokens(&self, expired_before: Timestamp, limit: u32) -> StoreResult<u64> {
        self.delete_batch(
            "DELETE FROM decision_tokens WHERE id IN \
             (SELECT id FROM decision_tokens WHERE expires_at < ?1 ORDER BY expires_at LIMIT ?2)",
            expired_before,
            limit,
        )
        .await
    }

    async fn delete_finished_deliveries(&self, created_before: Timestamp, limit: u32) -> StoreResult<u64> {
        // Attempts go with their delivery (ON DELETE CASCADE).
        self.delete_batch(
            "DELETE FROM webhook_deliveries WHERE seq IN (SELECT seq FROM webhook_deliveries \
             WHERE status <> 'pending' AND created_at < ?1 ORDER BY created_at LIMIT ?2)",
            created_before,
            limit,
        )
        .await
    }

    async fn delete_audit_entries(&self, created_before: Timestamp, limit: u32) -> StoreResult<u64> {
        self.delete_batch(
            "DELETE FROM audit_logs WHERE seq IN \
             (SELECT seq FROM audit_logs WHERE created_at < ?1 ORDER BY created_at LIMIT ?2)",
            created_before,
            limit,
        )
        .await
    }
}

/// Writes a consistent copy of the SQLite database at `path` to `destination` (`VACUUM INTO`), while a gateway
/// may be using it: the copy is one read transaction, so under WAL it sees one committed state and never blocks
/// the writer. The source is opened read-only; `destination` must not exist yet.
pub async fn backup(path: &str, destination: &str) -> StoreResult<()> {
    use sqlx::Connection;
    use std::str::FromStr;
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(&format!("sqlite://{path}"))?
        .read_only(true)
        .busy_timeout(std::time::Duration::from_secs(10));
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
    sqlx::query("VACUUM INTO ?1").bind(destination).execute(&mut conn).await?;
    conn.close().await?;
    Ok(())
}
