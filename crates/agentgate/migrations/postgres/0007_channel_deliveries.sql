-- Channel notifications (Slack, Discord, e-mail, webhook channel): a durable outbox like webhook_deliveries
-- (see the SQLite migration of the same number).

CREATE TABLE channel_deliveries (
    seq             BIGSERIAL PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    request_id      TEXT COLLATE "C" NOT NULL REFERENCES approval_requests (id),
    kind            TEXT NOT NULL CHECK (kind IN ('request', 'outcome')),
    channel         TEXT NOT NULL CHECK (channel IN ('slack', 'discord', 'email', 'webhook')),
    target          TEXT NOT NULL,
    origin_seq      BIGINT REFERENCES channel_deliveries (seq),
    status          TEXT NOT NULL CHECK (status IN ('pending', 'success', 'failed')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_attempt_at BIGINT,
    last_error      TEXT,
    message_ref     TEXT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX idx_channel_deliveries_due ON channel_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX idx_channel_deliveries_request ON channel_deliveries (request_id, kind, seq);

CREATE TABLE channel_delivery_attempts (
    delivery_seq    BIGINT NOT NULL REFERENCES channel_deliveries (seq) ON DELETE CASCADE,
    attempt         BIGINT NOT NULL,
    attempted_at    BIGINT NOT NULL,
    duration_ms     BIGINT NOT NULL,
    error           TEXT,
    PRIMARY KEY (delivery_seq, attempt)
);

CREATE FUNCTION agentgate_channel_outcomes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO channel_deliveries (id, request_id, kind, channel, target, origin_seq, status, attempts,
                                    next_attempt_at, created_at)
    SELECT 'cho_' || NEW.id || '_' || d.seq, d.request_id, 'outcome', d.channel, d.target, d.seq, 'pending', 0,
           NEW.created_at, NEW.created_at
    FROM channel_deliveries d WHERE d.request_id = NEW.request_id AND d.kind = 'request';
    RETURN NULL;
END $$;
CREATE TRIGGER trg_events_channel_outcomes AFTER INSERT ON events
    FOR EACH ROW WHEN (NEW.event_type IN ('request.decided', 'request.expired'))
    EXECUTE FUNCTION agentgate_channel_outcomes();
