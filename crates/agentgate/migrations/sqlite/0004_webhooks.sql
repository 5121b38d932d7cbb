-- Webhooks: endpoints, their subscriptions, and a durable delivery queue filled in the same transaction as the
-- change it reports.

CREATE TABLE webhooks (
    id          TEXT PRIMARY KEY NOT NULL,
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,            -- the signing secret, or `enc:<iv>.<tag>.<ciphertext>` (hex) when
                                          -- WEBHOOK_ENCRYPTION_KEY is set
    events      TEXT NOT NULL,            -- JSON array of event names, `*` for all
    enabled     INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX idx_webhooks_created ON webhooks (created_at, id);

-- One row per (event, webhook): the fan-out trigger below finds a new event's subscribers with an index probe.
CREATE TABLE webhook_subscriptions (
    event       TEXT NOT NULL,
    webhook_id  TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    PRIMARY KEY (event, webhook_id)
) WITHOUT ROWID;
CREATE INDEX idx_webhook_subscriptions_webhook ON webhook_subscriptions (webhook_id);

CREATE TABLE webhook_deliveries (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,     -- also the `webhook-id` header, stable across retries
    webhook_id      TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event           TEXT NOT NULL,
    event_seq       INTEGER,                  -- the outbox event reported (its body is built from it)
    payload         TEXT,                     -- the body, for deliveries that report no event (tests)
    status          TEXT NOT NULL CHECK (status IN ('pending', 'success', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    -- While pending: when the next attempt is due. A worker claiming the row moves it to the end of its lease,
    -- so no other worker takes it meanwhile, and a worker that died lets it come due again.
    next_attempt_at INTEGER NOT NULL,
    last_attempt_at INTEGER,
    response_code   INTEGER,
    response_body   TEXT,                     -- the last attempt's response, first kilobyte
    replay_of       TEXT,
    created_at      INTEGER NOT NULL
);
CREATE INDEX idx_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX idx_deliveries_webhook ON webhook_deliveries (webhook_id, seq);

CREATE TABLE webhook_delivery_attempts (
    delivery_seq    INTEGER NOT NULL REFERENCES webhook_deliveries (seq) ON DELETE CASCADE,
    attempt         INTEGER NOT NULL,
    attempted_at    INTEGER NOT NULL,
    duration_ms     INTEGER NOT NULL,
    response_code   INTEGER,
    response_body   TEXT,                     -- first kilobyte
    error           TEXT,
    PRIMARY KEY (delivery_seq, attempt)
) WITHOUT ROWID;

-- Every outbox event becomes one delivery per enabled subscribed webhook, inside the transaction that wrote the
-- event: a delivery can never be lost between the change and the queue. The id joins the event's and the webhook's
-- (unique, and rising with the event's ULID, so the id index grows at its right edge instead of at random).
CREATE TRIGGER trg_events_webhook_deliveries AFTER INSERT ON events
BEGIN
    INSERT INTO webhook_deliveries (id, webhook_id, event, event_seq, status, attempts, next_attempt_at, created_at)
    SELECT 'whd_' || NEW.id || '_' || s.webhook_id, s.webhook_id, NEW.event_type, NEW.seq, 'pending', 0,
           NEW.created_at, NEW.created_at
    FROM webhook_subscriptions s JOIN webhooks w ON w.id = s.webhook_id
    WHERE s.event IN (NEW.event_type, '*') AND w.enabled = 1;
END;
