-- Webhook fan-out moves off the API's transaction. The outbox event, written in the same transaction as the
-- change it reports, is the durable record of what every subscriber must hear; the webhook worker turns events
-- into delivery rows later, in its own transaction, which also advances each webhook's cursor, so an event is
-- fanned out to a webhook exactly once and none is skipped. (The trigger cost the API about 7 µs per delivery
-- row inside every create; see BENCHMARKS.md, "Webhooks".)
DROP TRIGGER trg_events_webhook_deliveries;

-- The newest outbox event already turned into this webhook's deliveries (or, for a webhook created or enabled
-- later, the newest event at that moment: it hears only what happens after).
ALTER TABLE webhooks ADD COLUMN fanned_out_seq INTEGER NOT NULL DEFAULT 0;
UPDATE webhooks SET fanned_out_seq = (SELECT COALESCE(MAX(seq), 0) FROM events);
