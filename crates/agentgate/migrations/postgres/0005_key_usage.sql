-- Requests per API key per UTC day, added in batches by every replica.
CREATE TABLE api_key_usage (
    key_id  TEXT COLLATE "C" NOT NULL REFERENCES api_keys (id),
    day     TEXT COLLATE "C" NOT NULL,        -- YYYY-MM-DD, UTC
    count   BIGINT NOT NULL,
    PRIMARY KEY (key_id, day)
);
CREATE INDEX idx_api_key_usage_day ON api_key_usage (day);
