-- The gateway core: requests, their audit trail, the event outbox, policies and API keys.
-- Every timestamp is BIGINT milliseconds since the Unix epoch (UTC), as in the SQLite schema, so both stores
-- share their row mapping and comparisons. Text that lists are sorted by uses the "C" collation, so PostgreSQL
-- orders exactly as SQLite does (byte order), whatever the server's locale.

CREATE TABLE approval_requests (
    id              TEXT COLLATE "C" PRIMARY KEY,
    action          TEXT COLLATE "C" NOT NULL,
    params          TEXT NOT NULL,            -- JSON, kept as sent (key order included)
    context         TEXT NOT NULL,            -- JSON
    status          TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'expired')),
    urgency         TEXT NOT NULL CHECK (urgency IN ('low', 'normal', 'high', 'critical')),
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    decided_at      BIGINT,
    decided_by      TEXT,
    decision_reason TEXT,
    expires_at      BIGINT
);
CREATE INDEX idx_requests_created ON approval_requests (created_at DESC, id DESC);
CREATE INDEX idx_requests_status_created ON approval_requests (status, created_at DESC, id DESC);
CREATE INDEX idx_requests_action_created ON approval_requests (action, created_at DESC, id DESC);
CREATE INDEX idx_requests_urgency_created ON approval_requests (urgency, created_at DESC, id DESC);
CREATE INDEX idx_requests_pending_expiry ON approval_requests (expires_at) WHERE status = 'pending' AND expires_at IS NOT NULL;

CREATE TABLE audit_logs (
    seq         BIGSERIAL PRIMARY KEY,
    id          TEXT NOT NULL,
    request_id  TEXT COLLATE "C" REFERENCES approval_requests (id),
    event_type  TEXT COLLATE "C" NOT NULL,
    actor       TEXT COLLATE "C" NOT NULL,
    details     TEXT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX idx_audit_request ON audit_logs (request_id, created_at, seq);
CREATE INDEX idx_audit_created ON audit_logs (created_at DESC, seq DESC);
CREATE INDEX idx_audit_actor_created ON audit_logs (actor, created_at DESC, seq DESC);
CREATE INDEX idx_audit_event_created ON audit_logs (event_type, created_at DESC, seq DESC);

-- The outbox. `seq` is the stream position (`Last-Event-ID`), so it must follow commit order: every transaction
-- that writes events first takes the advisory lock the store names EVENT_LOCK, which makes those transactions
-- commit one after the other, each with higher numbers than the last.
CREATE TABLE events (
    seq         BIGSERIAL PRIMARY KEY,
    id          TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    request_id  TEXT,
    payload     TEXT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX idx_events_created ON events (created_at);

CREATE TABLE policies (
    id          TEXT COLLATE "C" PRIMARY KEY,
    name        TEXT NOT NULL,
    rules       TEXT NOT NULL,
    priority    BIGINT NOT NULL,
    enabled     BOOLEAN NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX idx_policies_order ON policies (priority, created_at, id);

CREATE TABLE api_keys (
    id           TEXT COLLATE "C" PRIMARY KEY,
    key_hash     TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT,
    rate_limit   BIGINT
);
CREATE INDEX idx_api_keys_created ON api_keys (created_at, id);

CREATE TABLE request_counts (
    status  TEXT PRIMARY KEY,
    count   BIGINT NOT NULL
);
INSERT INTO request_counts (status, count) VALUES ('pending', 0), ('approved', 0), ('denied', 0), ('expired', 0);

-- Statement-level triggers over transition tables: one call per statement, whatever the number of rows (a group
-- commit inserts many requests in one statement).
CREATE FUNCTION agentgate_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE request_counts c SET count = c.count + n.n
    FROM (SELECT status, COUNT(*) AS n FROM new_rows GROUP BY status) n WHERE c.status = n.status;
    RETURN NULL;
END $$;
CREATE TRIGGER trg_request_counts_insert AFTER INSERT ON approval_requests
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION agentgate_count_inserted();

CREATE FUNCTION agentgate_count_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE request_counts c SET count = c.count + d.delta
    FROM (SELECT status, SUM(delta) AS delta FROM (
              SELECT o.status, -1 AS delta FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE o.status <> n.status
              UNION ALL
              SELECT n.status, 1 AS delta FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE o.status <> n.status
          ) changes GROUP BY status) d
    WHERE c.status = d.status;
    RETURN NULL;
END $$;
CREATE TRIGGER trg_request_counts_update AFTER UPDATE ON approval_requests
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION agentgate_count_updated();

CREATE FUNCTION agentgate_count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE request_counts c SET count = c.count - o.n
    FROM (SELECT status, COUNT(*) AS n FROM old_rows GROUP BY status) o WHERE c.status = o.status;
    RETURN NULL;
END $$;
CREATE TRIGGER trg_request_counts_delete AFTER DELETE ON approval_requests
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION agentgate_count_deleted();

-- Other replicas learn of changes through NOTIFY on the channel `agentgate` (delivered at commit, only when
-- the transaction commits): 'events' wakes their event tailers and webhook workers, 'policies' drops their
-- rules caches, 'key:<hash>' drops a cached key. Triggers send them, so no write path can forget to.
CREATE FUNCTION agentgate_notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('agentgate', 'events');
    RETURN NULL;
END $$;
CREATE TRIGGER trg_events_notify AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION agentgate_notify_events();

CREATE FUNCTION agentgate_notify_policies() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('agentgate', 'policies');
    RETURN NULL;
END $$;
CREATE TRIGGER trg_policies_notify AFTER INSERT OR UPDATE OR DELETE ON policies
    FOR EACH STATEMENT EXECUTE FUNCTION agentgate_notify_policies();

CREATE FUNCTION agentgate_notify_key() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('agentgate', 'key:' || OLD.key_hash);
    RETURN NULL;
END $$;
CREATE TRIGGER trg_api_keys_notify AFTER UPDATE OF name, scopes, rate_limit, revoked_at OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION agentgate_notify_key();
