-- Policy versions, per-request decision requirements, and overrides (see the SQLite migration of the same number).

ALTER TABLE policies ADD COLUMN version BIGINT NOT NULL DEFAULT 1;

ALTER TABLE approval_requests ADD COLUMN approvers TEXT;                 -- JSON array; NULL: anyone with request:decide
ALTER TABLE approval_requests ADD COLUMN require_reason BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE overrides (
    id           TEXT COLLATE "C" PRIMARY KEY,
    agent_id     TEXT NOT NULL,
    tool_pattern TEXT NOT NULL,
    action       TEXT NOT NULL CHECK (action = 'require_approval'),
    reason       TEXT,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT
);
CREATE INDEX idx_overrides_agent ON overrides (agent_id, created_at);
CREATE INDEX idx_overrides_expires ON overrides (expires_at);

-- Overrides feed the same rules cache as policies.
CREATE TRIGGER trg_overrides_notify AFTER INSERT OR UPDATE OR DELETE ON overrides
    FOR EACH STATEMENT EXECUTE FUNCTION agentgate_notify_policies();
