-- Policy versions, per-request decision requirements, and overrides.

-- Bumped on every replace, and recorded in the audit trail of every request a policy decided.
ALTER TABLE policies ADD COLUMN version INTEGER NOT NULL DEFAULT 1;

-- What the rule that routed a request demands of its decision, fixed when the request is created (a later
-- policy change does not move the goalposts of a request already waiting).
ALTER TABLE approval_requests ADD COLUMN approvers TEXT;                          -- JSON array; NULL: anyone with request:decide
ALTER TABLE approval_requests ADD COLUMN require_reason INTEGER NOT NULL DEFAULT 0;

-- "Require approval for this agent's matching actions", for a while. An override can only make an outcome
-- stricter: it turns an auto-approval into a pending request, never an auto-denial into anything else.
CREATE TABLE overrides (
    id           TEXT PRIMARY KEY NOT NULL,
    agent_id     TEXT NOT NULL,
    tool_pattern TEXT NOT NULL,
    action       TEXT NOT NULL CHECK (action = 'require_approval'),
    reason       TEXT,
    created_by   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER
);
CREATE INDEX idx_overrides_agent ON overrides (agent_id, created_at);
CREATE INDEX idx_overrides_expires ON overrides (expires_at);

-- route_to_agent is no longer a decision: it always behaved exactly like route_to_human, so stored rules that
-- used it keep their meaning as route_to_human.
UPDATE policies SET rules = replace(rules, '"decision":"route_to_agent"', '"decision":"route_to_human"')
WHERE rules LIKE '%route_to_agent%';
