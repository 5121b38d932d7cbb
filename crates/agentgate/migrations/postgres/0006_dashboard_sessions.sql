-- Dashboard sign-in sessions, shared by every replica (see the SQLite migration of the same number).
CREATE TABLE dashboard_sessions (
    id_hash     TEXT PRIMARY KEY,
    key_hash    TEXT NOT NULL,
    key_id      TEXT,
    csrf_token  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX idx_dashboard_sessions_expires_at ON dashboard_sessions (expires_at);
