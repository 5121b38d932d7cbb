-- Dashboard sign-in sessions, shared by every replica. The session id lives only in the browser's cookie; the
-- table keeps its SHA-256. `key_hash` is the SHA-256 of the API key signed in with (the hash `api_keys` already
-- holds, or that of ADMIN_API_KEY), so each request re-checks that key through the authenticator.
CREATE TABLE dashboard_sessions (
    id_hash     TEXT PRIMARY KEY,
    key_hash    TEXT NOT NULL,
    key_id      TEXT,                 -- NULL for ADMIN_API_KEY
    csrf_token  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX idx_dashboard_sessions_expires_at ON dashboard_sessions (expires_at);
