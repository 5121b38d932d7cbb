-- Webhooks: endpoints, their subscriptions, and a durable delivery queue filled in the same transaction as the
-- change it reports (see the SQLite migration of the same number).

CREATE TABLE webhooks (
    id          TEXT COLLATE "C" PRIMARY KEY,
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,
    events      TEXT NOT NULL,
    enabled     BOOLEAN NOT NULL DEFAULT TRUE,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX idx_webhooks_created ON webhooks (created_at, id);

CREATE TABLE webhook_subscriptions (
    event       TEXT NOT NULL,
    webhook_id  TEXT COLLATE "C" NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    PRIMARY KEY (event, webhook_id)
);
CREATE INDEX idx_webhook_subscriptions_webhook ON webhook_subscriptions (webhook_id);

CREATE TABLE webhook_deliveries (
    seq             BIGSERIAL PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    webhook_id      TEXT COLLATE "C" NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event           TEXT NOT NULL,
    event_seq       BIGINT,
    payload         TEXT,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'success', 'failed')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_attempt_at BIGINT,
    response_code   BIGINT,
    response_body   TEXT,
    replay_of       TEXT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX idx_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX idx_deliveries_webhook ON webhook_deliveries (webhook_id, seq);

CREATE TABLE webhook_delivery_attempts (
    delivery_seq    BIGINT NOT NULL REFERENCES webhook_deliveries (seq) ON DELETE CASCADE,
    attempt         BIGINT NOT NULL,
    attempted_at    BIGINT NOT NULL,
    duration_ms     BIGINT NOT NULL,
    response_code   BIGINT,
    response_body   TEXT,
    error           TEXT,
    PRIMARY KEY (delivery_seq, attempt)
);

-- Every outbox event becomes one delivery per enabled subscribed webhook, inside the transaction that wrote the
-- event: once per statement over its new rows (a group commit writes many events in one statement).
CREATE FUNCTION agentgate_fan_out_deliveries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_deliveries (id, webhook_id, event, event_seq, status, attempts, next_attempt_at, created_at)
    SELECT 'whd_' || e.id || '_' || s.webhook_id, s.webhook_id, e.event_type, e.seq, 'pending', 0,
           e.created_at, e.created_at
    FROM new_events e
    JOIN webhook_subscriptions s ON s.event IN (e.event_type, '*')
    JOIN webhooks w ON w.id = s.webhook_id AND w.enabled
    ORDER BY e.seq;
    RETURN NULL;
END $$;
CREATE TRIGGER trg_events_webhook_deliveries AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION agentgate_fan_out_deliveries();
