//! SQLite implementation of [`SessionStore`].

use super::SqliteStore;
use crate::store::StoreResult;
use crate::store::sessions::{SessionRecord, SessionStore};
use agentgate_core::Timestamp;
use async_trait::async_trait;
use sqlx::Row;
use std::sync::Arc;

#[async_trait]
impl SessionStore for SqliteStore {
    async fn insert_session(&self, new: SessionRecord) -> StoreResult<()> {
        let new = Arc::new(new);
        self.write(move |conn| {
            let s = new.clone();
            Box::pin(async move {
                sqlx::query("DELETE FROM dashboard_sessions WHERE expires_at <= ?1")
                    .bind(s.created_at.0)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query(
                    "INSERT INTO dashboard_sessions (id_hash, key_hash, key_id, csrf_token, created_at, expires_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .bind(&s.id_hash)
                .bind(&s.key_hash)
                .bind(&s.key_id)
                .bind(&s.csrf_token)
                .bind(s.created_at.0)
                .bind(s.expires_at.0)
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn find_session(&self, id_hash: &str, now: Timestamp) -> StoreResult<Option<SessionRecord>> {
        let row = sqlx::query(
            "SELECT id_hash, key_hash, key_id, csrf_token, created_at, expires_at FROM dashboard_sessions \
             WHERE id_hash = ?1 AND expires_at > ?2",
        )
        .bind(id_hash)
        .bind(now.0)
        .fetch_optional(&self.readers)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(SessionRecord {
            id_hash: row.try_get("id_hash")?,
            key_hash: row.try_get("key_hash")?,
            key_id: row.try_get("key_id")?,
            csrf_token: row.try_get("csrf_token")?,
            created_at: Timestamp(row.try_get("created_at")?),
            expires_at: Timestamp(row.try_get("expires_at")?),
        }))
    }

    async fn delete_session(&self, id_hash: &str) -> StoreResult<bool> {
        let id_hash = Arc::new(id_hash.to_owned());
        self.write(move |conn| {
            let id_hash = id_hash.clone();
            Box::pin(async move {
                let deleted = sqlx::query("DELETE FROM dashboard_sessions WHERE id_hash = ?1")
                    .bind(id_hash.as_str())
                    .execute(&mut *conn)
                    .await?;
                Ok(deleted.rows_affected() > 0)
            })
        })
        .await
    }
}
