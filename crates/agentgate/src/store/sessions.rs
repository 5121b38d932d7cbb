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
