-- One-click decision links. Only the SHA-256 of a token is stored; a token decides once, and using either of
-- a pair spends both.
CREATE TABLE decision_tokens (
    id          TEXT PRIMARY KEY NOT NULL,
    request_id  TEXT NOT NULL REFERENCES approval_requests (id),
    action      TEXT NOT NULL CHECK (action IN ('approve', 'deny')),
    token_hash  TEXT NOT NULL UNIQUE,
    created_by  TEXT NOT NULL,       -- actor who minted the pair
    created_by_name TEXT NOT NULL,   -- and its name: together, the identities a link decides with
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);
CREATE INDEX idx_tokens_request ON decision_tokens (request_id);
CREATE INDEX idx_tokens_expires ON decision_tokens (expires_at);
