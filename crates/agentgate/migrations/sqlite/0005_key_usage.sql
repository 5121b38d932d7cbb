-- Requests per API key per UTC day. Counted in memory and added here in batches (with `last_used_at`), never
-- written per request; several replicas add to the same row.
CREATE TABLE api_key_usage (
    key_id  TEXT NOT NULL REFERENCES api_keys (id),
    day     TEXT NOT NULL,        -- YYYY-MM-DD, UTC
    count   INTEGER NOT NULL,
    PRIMARY KEY (key_id, day)
) WITHOUT ROWID;
CREATE INDEX idx_api_key_usage_day ON api_key_usage (day);
