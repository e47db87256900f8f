-- pgbench's ceiling for `--compare-postgres` (backends.rs): one unlink's
-- statements, as src/storage/statements.rs writes them for a new user, one
-- event a transaction, each statement a round trip. Run by the harness as
-- `pgbench -n -M prepared -c 64 -j 2 -T SECONDS -f pgbench_unlink.sql URL`
-- on the scratch database the service migrated.
\set user random(1, 1000000000000)
\set now 1765000000000
BEGIN;
INSERT INTO events (source, dedupe_key, event_type, user_id, event_time, received_at, applied_at, payload)
VALUES ('unlink', 'pgbench:' || CAST(:user AS TEXT) || ':' || COALESCE((SELECT CAST(linked_at AS TEXT) FROM users WHERE user_id = CAST(:user AS TEXT)), '0'),
        'UNLINK_FROM_APPS', CAST(:user AS TEXT), NULL, :now, :now, '{"app_id":"1","user_id":"1","referrer_type":"UNLINK_FROM_APPS"}')
ON CONFLICT (source, dedupe_key) DO NOTHING
RETURNING event_id \gset
INSERT INTO users (user_id, status, created_at, updated_at) VALUES (CAST(:user AS TEXT), 'linked', :now, :now)
ON CONFLICT (user_id) DO NOTHING;
UPDATE users SET status = CASE WHEN status = 'purged' THEN 'purged' ELSE 'unlinked' END,
    email = NULL, phone_number = NULL, assurance_level = NULL, profile_stale = FALSE,
    unlinked_at = :now,
    unlink_reason = CASE WHEN status = 'purged' THEN unlink_reason ELSE 'UNLINK_FROM_APPS' END,
    status_event_at = :now, email_event_at = :now, phone_event_at = :now,
    assurance_event_at = :now, profile_event_at = :now, updated_at = :now
WHERE user_id = CAST(:user AS TEXT) AND (status_event_at IS NULL OR status_event_at <= :now);
UPDATE user_scopes SET consented = FALSE, changed_at = :now
WHERE user_id = CAST(:user AS TEXT) AND changed_at <= :now;
UPDATE sessions SET revoked_at = :now, revoked_reason = 'unlinked: UNLINK_FROM_APPS'
WHERE user_id = CAST(:user AS TEXT) AND revoked_at IS NULL AND created_at <= :now;
UPDATE events SET payload = 'null', payload_erased_at = :now
WHERE user_id = CAST(:user AS TEXT) AND payload_erased_at IS NULL
  AND EXISTS (SELECT 1 FROM users WHERE user_id = CAST(:user AS TEXT) AND status IN ('unlinked', 'purged'));
DELETE FROM jobs WHERE user_id = CAST(:user AS TEXT)
  AND EXISTS (SELECT 1 FROM users WHERE user_id = CAST(:user AS TEXT) AND status IN ('unlinked', 'purged'));
DELETE FROM channel_relations WHERE user_id = CAST(:user AS TEXT)
  AND EXISTS (SELECT 1 FROM users WHERE user_id = CAST(:user AS TEXT) AND status IN ('unlinked', 'purged'));
INSERT INTO notifications (notification_type, event_id, body, run_at, created_at, destination, status)
VALUES ('user.unlinked', :event_id, '{"type":"user.unlinked","data":{}}', :now, :now, 'app', 'held');
END;
