//! PostgreSQL implementation of [`SessionStore`] (its SQL is shared, in `store/sessions.rs`).

use super::PostgresStore;
use crate::store::StoreResult;
use crate::store::rows;
use crate::store::sessions::{self, SessionRecord, SessionStore};
use agentgate_core::Timestamp;
use async_trait::async_trait;
use std::sync::Arc;

#[async_trait]
impl SessionStore for PostgresStore {
    async fn insert_session(&self, new: SessionRecord) -> StoreResult<()> {
        let new = Arc::new(new);
        self.write(move |conn| {
            let s = new.clone();
            Box::pin(async move {
                sqlx::query(sessions::DELETE_EXPIRED).bind(s.created_at.0).execute(&mut *conn).await?;
                sqlx::query(sessions::INSERT)
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
        let row = sqlx::query(sessions::FIND).bind(id_hash).bind(now.0).fetch_optional(&self.pool).await?;
        row.as_ref().map(rows::session).transpose()
    }

    async fn delete_session(&self, id_hash: &str) -> StoreResult<bool> {
        let id_hash = Arc::new(id_hash.to_owned());
        self.write(move |conn| {
            let id_hash = id_hash.clone();
            Box::pin(async move {
                let deleted = sqlx::query(sessions::DELETE).bind(id_hash.as_str()).execute(&mut *conn).await?;
                Ok(deleted.rows_affected() > 0)
            })
        })
        .await
    }
}
