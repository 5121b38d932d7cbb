//! The dashboard's half of the storage interface: sign-in sessions, shared by every replica.
//!
//! A session is found by the SHA-256 of its id (the id itself lives only in the browser's cookie) and names the
//! API key it was opened with by that key's hash, so each request re-checks the key (revoked → signed out).

use super::StoreResult;
use agentgate_core::Timestamp;
use async_trait::async_trait;

/// A dashboard session as stored.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    /// SHA-256 (hex) of the session id in the cookie.
    pub id_hash: String,
    /// SHA-256 (hex) of the API key signed in with.
    pub key_hash: String,
    /// The key's id; `None` for `ADMIN_API_KEY`.
    pub key_id: Option<String>,
    /// Must come back with every form post.
    pub csrf_token: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Stores a new session, and drops sessions that expired before `new.created_at` (so the table stays small
    /// without a sweeper task).
    async fn insert_session(&self, new: SessionRecord) -> StoreResult<()>;
    /// A session by the hash of its id, if it has not expired at `now`.
    async fn find_session(&self, id_hash: &str, now: Timestamp) -> StoreResult<Option<SessionRecord>>;
    /// Ends a session (sign-out); `false` when there was none.
    async fn delete_session(&self, id_hash: &str) -> StoreResult<bool>;
}

// The SQL both stores run (`$n` placeholders read the same in both).
pub(super) const DELETE_EXPIRED: &str = "DELETE FROM dashboard_sessions WHERE expires_at <= $1";
pub(super) const INSERT: &str = "INSERT INTO dashboard_sessions (id_hash, key_hash, key_id, csrf_token, created_at, \
                                 expires_at) VALUES ($1, $2, $3, $4, $5, $6)";
pub(super) const FIND: &str = "SELECT id_hash, key_hash, key_id, csrf_token, created_at, expires_at \
                               FROM dashboard_sessions WHERE id_hash = $1 AND expires_at > $2";
pub(super) const DELETE: &str = "DELETE FROM dashboard_sessions WHERE id_hash = $1";

/// Implements [`SessionStore`] for a store with a `write` method (its writer) and a pool field `$readers`; both
/// stores run the same SQL, so the implementation is written once, here.
macro_rules! impl_session_store {
    ($store:ty, $readers:ident) => {
        #[async_trait::async_trait]
        impl $crate::store::sessions::SessionStore for $store {
            async fn insert_session(
                &self,
                new: $crate::store::sessions::SessionRecord,
            ) -> $crate::store::StoreResult<()> {
                use $crate::store::sessions;
                let new = std::sync::Arc::new(new);
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

            async fn find_session(
                &self,
                id_hash: &str,
                now: agentgate_core::Timestamp,
            ) -> $crate::store::StoreResult<Option<$crate::store::sessions::SessionRecord>> {
                let row = sqlx::query($crate::store::sessions::FIND)
                    .bind(id_hash)
                    .bind(now.0)
                    .fetch_optional(&self.$readers)
                    .await?;
                row.as_ref().map($crate::store::rows::session).transpose()
            }

            async fn delete_session(&self, id_hash: &str) -> $crate::store::StoreResult<bool> {
                let id_hash = std::sync::Arc::new(id_hash.to_owned());
                self.write(move |conn| {
                    let id_hash = id_hash.clone();
                    Box::pin(async move {
                        let deleted = sqlx::query($crate::store::sessions::DELETE)
                            .bind(id_hash.as_str())
                            .execute(&mut *conn)
                            .await?;
                        Ok(deleted.rows_affected() > 0)
                    })
                })
                .await
            }
        }
    };
}
pub(super) use impl_session_store;
