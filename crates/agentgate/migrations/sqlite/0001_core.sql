-- The gateway core: requests, their audit trail, the event outbox, policies and API keys.
-- Every timestamp is integer milliseconds since the Unix epoch (UTC).

CREATE TABLE approval_requests (
    id              TEXT PRIMARY KEY NOT NULL,
    action          TEXT NOT NULL,
    params          TEXT NOT NULL,            -- JSON
    context         TEXT NOT NULL,            -- JSON
    status          TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'expired')),
    urgency         TEXT NOT NULL CHECK (urgency IN ('low', 'normal', 'high', 'critical')),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    decided_at      INTEGER,
    decided_by      TEXT,
    decision_reason TEXT,
    expires_at      INTEGER
);
-- Lists are ordered newest first with id as the tie-breaker; each filter has an index in that order.
CREATE INDEX idx_requests_created ON approval_requests (created_at DESC, id DESC);
CREATE INDEX idx_requests_status_created ON approval_requests (status, created_at DESC, id DESC);
CREATE INDEX idx_requests_action_created ON approval_requests (action, created_at DESC, id DESC);
CREATE INDEX idx_requests_urgency_created ON approval_requests (urgency, created_at DESC, id DESC);
-- For the expiry sweeper: only pending requests with a deadline.
CREATE INDEX idx_requests_pending_expiry ON approval_requests (expires_at) WHERE status = 'pending' AND expires_at IS NOT NULL;

-- Entry and event ids are ULIDs made by the gateway; nothing looks them up, so they carry no index.
CREATE TABLE audit_logs (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT, -- insertion order: breaks ties between equal timestamps
    id          TEXT NOT NULL,
    request_id  TEXT REFERENCES approval_requests (id), -- NULL for administrative events
    event_type  TEXT NOT NULL,
    actor       TEXT NOT NULL,
    details     TEXT,                                   -- JSON
    created_at  INTEGER NOT NULL
);
CREATE INDEX idx_audit_request ON audit_logs (request_id, created_at, seq);
CREATE INDEX idx_audit_created ON audit_logs (created_at DESC, seq DESC);
CREATE INDEX idx_audit_actor_created ON audit_logs (actor, created_at DESC, seq DESC);
CREATE INDEX idx_audit_event_created ON audit_logs (event_type, created_at DESC, seq DESC);

-- The outbox: every event that leaves the process (webhooks, notifications, streams) is written here in the
-- same transaction as the change it reports, and delivered from here by background workers.
CREATE TABLE events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    request_id  TEXT,
    payload     TEXT,                     -- JSON: the request as it was when the event happened; NULL for
                                          -- decision events (a decided request never changes: its row is it)
    created_at  INTEGER NOT NULL
);
CREATE INDEX idx_events_created ON events (created_at);

CREATE TABLE policies (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    rules       TEXT NOT NULL,            -- JSON array of rules
    priority    INTEGER NOT NULL,
    enabled     INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX idx_policies_order ON policies (priority, created_at, id);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY NOT NULL,
    key_hash     TEXT NOT NULL UNIQUE,    -- SHA-256 hex of the secret; the secret itself is never stored
    name         TEXT NOT NULL,
    scopes       TEXT NOT NULL,           -- JSON array of scope names
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER,
    rate_limit   INTEGER
);
CREATE INDEX idx_api_keys_created ON api_keys (created_at, id);

-- Exact request counts per status, kept by triggers in the same transaction as every change, so the list
-- endpoints' `pagination.total` is a lookup instead of a scan (COUNT(*) over 10k index entries costs ~0.4 ms).
CREATE TABLE request_counts (
    status  TEXT PRIMARY KEY NOT NULL,
    count   INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO request_counts (status, count) VALUES ('pending', 0), ('approved', 0), ('denied', 0), ('expired', 0);

CREATE TRIGGER trg_request_counts_insert AFTER INSERT ON approval_requests
BEGIN
    UPDATE request_counts SET count = count + 1 WHERE status = NEW.status;
END;

CREATE TRIGGER trg_request_counts_update AFTER UPDATE OF status ON approval_requests
WHEN OLD.status <> NEW.status
BEGIN
    UPDATE request_counts SET count = count - 1 WHERE status = OLD.status;
    UPDATE request_counts SET count = count + 1 WHERE status = NEW.status;
END;

CREATE TRIGGER trg_request_counts_delete AFTER DELETE ON approval_requests
BEGIN
    UPDATE request_counts SET count = count - 1 WHERE status = OLD.status;
END;
