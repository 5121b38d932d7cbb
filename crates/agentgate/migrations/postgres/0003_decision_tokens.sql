-- One-click decision links. Only the SHA-256 of a token is stored; using either of a pair spends both.
CREATE TABLE decision_tokens (
    id              TEXT PRIMARY KEY,
    request_id      TEXT COLLATE "C" NOT NULL REFERENCES approval_requests (id),
    action          TEXT NOT NULL CHECK (action IN ('approve', 'deny')),
    token_hash      TEXT NOT NULL UNIQUE,
    created_by      TEXT NOT NULL,
    created_by_name TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    used_at         BIGINT
);
CREATE INDEX idx_tokens_request ON decision_tokens (request_id);
CREATE INDEX idx_tokens_expires ON decision_tokens (expires_at);
