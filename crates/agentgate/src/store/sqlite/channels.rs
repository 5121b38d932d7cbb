//! SQLite implementation of [`ChannelStore`].

use super::SqliteStore;
use crate::store::StoreResult;
use crate::store::channels::*;
use crate::store::rows;
use agentgate_core::Timestamp;
use async_trait::async_trait;
use sqlx::Row;
use std::collections::HashMap;
use std::sync::Arc;

#[async_trait]
impl ChannelStore for SqliteStore {
    async fn next_notification_due(&self) -> StoreResult<Option<Timestamp>> {
        self.queue_next_due("channel_deliveries").await
    }

    async fn claim_notifications(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedNotification>> {
        let seqs = self.queue_claim("channel_deliveries", now, lease_until, limit).await?;
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(concat!(
            "SELECT d.seq AS d_seq, d.id AS d_id, d.kind AS d_kind, d.channel AS d_channel, d.target AS d_target, \
             d.attempts AS d_attempts, o.status AS o_status, o.message_ref AS o_message_ref, \
             (SELECT a.actor FROM audit_logs a WHERE a.request_id = r.id AND a.event_type = 'created' \
              ORDER BY a.created_at, a.seq LIMIT 1) AS requested_by, ",
            request_columns!("r."),
            " FROM channel_deliveries d JOIN approval_requests r ON r.id = d.request_id \
             LEFT JOIN channel_deliveries o ON o.seq = d.origin_seq \
             WHERE d.seq IN (SELECT value FROM json_each(?1)) ORDER BY d.seq"
        ))
        .bind(serde_json::to_string(&seqs)?)
        .fetch_all(&self.readers)
        .await?;
        rows.iter().map(|row| rows::claimed_notification(row, lease_until)).collect()
    }

    async fn record_notifications(&self, results: Vec<NotificationResult>) -> StoreResult<()> {
        let shared = Arc::new(results);
        self.write(move |conn| {
            let shared = shared.clone();
            Box::pin(async move {
                for r in shared.iter() {
                    // Only while the claim holds; the attempt row only when something was attempted.
                    sqlx::query(
                        "UPDATE channel_deliveries SET status = ?, attempts = attempts + ?, next_attempt_at = ?, \
                         last_attempt_at = COALESCE(?, last_attempt_at), last_error = ?, \
                         message_ref = COALESCE(?, message_ref) \
                         WHERE seq = ? AND next_attempt_at = ? AND status = 'pending'; \
                         INSERT INTO channel_delivery_attempts (delivery_seq, attempt, attempted_at, duration_ms, \
                         error) SELECT ?, ?, ?, ?, ? WHERE changes() = 1 AND ? IS NOT NULL",
                    )
                    .bind(r.status.as_str())
                    .bind(i64::from(r.attempt.is_some()))
                    .bind(r.next_attempt_at.0)
                    .bind(r.attempt.map(|_| r.attempted_at.0))
                    .bind(&r.error)
                    .bind(&r.message_ref)
                    .bind(r.seq)
                    .bind(r.lease_until.0)
                    .bind(r.seq)
                    .bind(r.attempt)
                    .bind(r.attempted_at.0)
                    .bind(i64::try_from(r.duration_ms).unwrap_or(i64::MAX))
                    .bind(&r.error)
                    .bind(r.attempt)
                    .execute(&mut *conn)
                    .await?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn release_notifications(&self, claims: Vec<(i64, Timestamp)>, now: Timestamp) -> StoreResult<()> {
        self.queue_release("channel_deliveries", claims, now).await
    }

    async fn request_notifications(&self, request_id: &str) -> StoreResult<Option<Vec<NotificationRecord>>> {
        let exists = sqlx::query("SELECT 1 FROM approval_requests WHERE id = ?1")
            .bind(request_id)
            .fetch_optional(&self.readers)
            .await?
            .is_some();
        if !exists {
            return Ok(None);
        }
        let rows = sqlx::query(
            "SELECT seq, id, kind, channel, target, status, attempts, next_attempt_at, last_attempt_at, last_error, \
             created_at FROM channel_deliveries WHERE request_id = ?1 ORDER BY seq",
        )
        .bind(request_id)
        .fetch_all(&self.readers)
        .await?;
        let attempts = sqlx::query(
            "SELECT a.delivery_seq, a.attempt, a.attempted_at, a.duration_ms, a.error FROM channel_delivery_attempts a \
             JOIN channel_deliveries d ON d.seq = a.delivery_seq WHERE d.request_id = ?1 \
             ORDER BY a.delivery_seq, a.attempt",
        )
        .bind(request_id)
        .fetch_all(&self.readers)
        .await?;
        let mut by_seq: HashMap<i64, Vec<NotificationAttempt>> = HashMap::new();
        for row in &attempts {
            by_seq.entry(row.try_get("delivery_seq")?).or_default().push(rows::notification_attempt(row)?);
        }
        rows.iter()
            .map(|row| {
                let mut record = rows::notification(row)?;
                record.attempt_log = by_seq.remove(&row.try_get::<i64, _>("seq")?).unwrap_or_default();
                Ok(record)
            })
            .collect::<StoreResult<Vec<_>>>()
            .map(Some)
    }
}
