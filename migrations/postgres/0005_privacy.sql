-- Personal data in stored payloads: erased when the user leaves (unlink,
-- purge, DELETE /api/users) and when older than EVENT_RETENTION_DAYS. The row
-- stays (id, type, times, dedupe key), so redeliveries are still recognised.
ALTER TABLE events ADD COLUMN payload_erased_at BIGINT;
-- A verified event the service stored but could not apply, and why.
ALTER TABLE events ADD COLUMN unapplied_reason TEXT;
-- The retention job's scan: payloads still kept, oldest first.
CREATE INDEX events_payload_kept ON events (received_at) WHERE payload_erased_at IS NULL;
