-- Webhook fan-out moves off the API's transaction (see the SQLite migration of the same number).
DROP TRIGGER trg_events_webhook_deliveries ON events;
DROP FUNCTION agentgate_fan_out_deliveries();

ALTER TABLE webhooks ADD COLUMN fanned_out_seq BIGINT NOT NULL DEFAULT 0;
UPDATE webhooks SET fanned_out_seq = (SELECT COALESCE(MAX(seq), 0) FROM events);
