-- A user's events whose payload is still kept: what erasing a leaving user's
-- payloads looks up. Without it, on a table not yet analysed, PostgreSQL
-- guesses few payloads are kept and scans every kept one (events_payload_kept)
-- for each unlink: 24 ms a batch where this takes under 1.
CREATE INDEX events_kept_by_user ON events (user_id) WHERE payload_erased_at IS NULL;
