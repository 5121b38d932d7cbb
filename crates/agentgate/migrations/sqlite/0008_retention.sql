-- Retention: the sweeper deletes finished deliveries by age; this index finds them without scanning the queue.
CREATE INDEX idx_deliveries_finished_created ON webhook_deliveries (created_at) WHERE status <> 'pending';
