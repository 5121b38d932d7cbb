-- Channel notifications (Slack, Discord, e-mail, webhook channel): a durable outbox like webhook_deliveries.
-- `request` rows are written with the request itself (same transaction), one per routed target; when the request
-- is later decided or expires, the trigger below adds an `outcome` row per `request` row, in the transaction that
-- wrote the decision's event, so every message posted is updated (or every recipient told) whatever decided it.

CREATE TABLE channel_deliveries (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    request_id      TEXT NOT NULL REFERENCES approval_requests (id),
    kind            TEXT NOT NULL CHECK (kind IN ('request', 'outcome')),
    channel         TEXT NOT NULL CHECK (channel IN ('slack', 'discord', 'email', 'webhook')),
    target          TEXT NOT NULL,
    -- outcome rows: the `request` row whose message they update
    origin_seq      INTEGER REFERENCES channel_deliveries (seq),
    status          TEXT NOT NULL CHECK (status IN ('pending', 'success', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    -- While pending: when the next attempt is due; a claim moves it to the end of the worker's lease.
    next_attempt_at INTEGER NOT NULL,
    last_attempt_at INTEGER,
    last_error      TEXT,
    -- Where the sent message lives, for later updates: Slack `{"channel","ts"}`, Discord `{"channel","id"}`,
    -- e-mail `{"messageId"}` (JSON).
    message_ref     TEXT,
    created_at      INTEGER NOT NULL
);
CREATE INDEX idx_channel_deliveries_due ON channel_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX idx_channel_deliveries_request ON channel_deliveries (request_id, kind, seq);

CREATE TABLE channel_delivery_attempts (
    delivery_seq    INTEGER NOT NULL REFERENCES channel_deliveries (seq) ON DELETE CASCADE,
    attempt         INTEGER NOT NULL,
    attempted_at    INTEGER NOT NULL,
    duration_ms     INTEGER NOT NULL,
    error           TEXT,                     -- NULL when the attempt succeeded
    PRIMARY KEY (delivery_seq, attempt)
) WITHOUT ROWID;

CREATE TRIGGER trg_events_channel_outcomes AFTER INSERT ON events
WHEN NEW.event_type IN ('request.decided', 'request.expired')
BEGIN
    INSERT INTO channel_deliveries (id, request_id, kind, channel, target, origin_seq, status, attempts,
                                    next_attempt_at, created_at)
    SELECT 'cho_' || NEW.id || '_' || d.seq, d.request_id, 'outcome', d.channel, d.target, d.seq, 'pending', 0,
           NEW.created_at, NEW.created_at
    FROM channel_deliveries d WHERE d.request_id = NEW.request_id AND d.kind = 'request';
END;
