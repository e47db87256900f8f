-- Where PostgreSQL's time goes on an unlink's statements (issue 37's
-- profile, BENCHMARKS.md). On a database the service migrated:
--   createdb kw_prof && DATABASE_URL=postgres://postgres@127.0.0.1/kw_prof kakao-webhooks migrate
--   psql -d kw_prof -f examples/loadtest/pg_statements.sql
-- Four of the statements for 2,000 users, first one statement per user
-- (prepared, as sqlx sends them: a plan reused, one executor start each),
-- then one set-based statement each for all 2,000. Each is rolled back.
\timing on
CREATE TEMP TABLE batch AS
    SELECT CAST(9400000000 + i AS TEXT) AS user_id, 1765000000000::BIGINT AS t
    FROM generate_series(1, 2000) i;
PREPARE ensure_user(TEXT, BIGINT) AS
    INSERT INTO users (user_id, status, created_at, updated_at) VALUES ($1, 'linked', $2, $2)
    ON CONFLICT (user_id) DO NOTHING;
PREPARE erase_user(TEXT, BIGINT) AS
    UPDATE users SET status = 'unlinked', unlinked_at = $2, updated_at = $2
    WHERE user_id = $1 AND (status_event_at IS NULL OR status_event_at <= $2);
PREPARE drop_jobs(TEXT) AS
    DELETE FROM jobs WHERE user_id = $1
      AND EXISTS (SELECT 1 FROM users WHERE user_id = $1 AND status IN ('unlinked', 'purged'));
PREPARE erase_payloads(TEXT, BIGINT) AS
    UPDATE events SET payload = 'null', payload_erased_at = $2
    WHERE user_id = $1 AND payload_erased_at IS NULL
      AND EXISTS (SELECT 1 FROM users WHERE user_id = $1 AND status IN ('unlinked', 'purged'));

\echo one statement per user, 8,000 in all:
BEGIN;
DO $$
DECLARE b RECORD;
BEGIN
    FOR b IN SELECT * FROM batch LOOP
        EXECUTE format('EXECUTE ensure_user(%L, %s)', b.user_id, b.t);
        EXECUTE format('EXECUTE erase_user(%L, %s)', b.user_id, b.t);
        EXECUTE format('EXECUTE drop_jobs(%L)', b.user_id);
        EXECUTE format('EXECUTE erase_payloads(%L, %s)', b.user_id, b.t);
    END LOOP;
END $$;
ROLLBACK;

\echo set-based, four statements in all:
BEGIN;
INSERT INTO users (user_id, status, created_at, updated_at)
    SELECT user_id, 'linked', t, t FROM batch ON CONFLICT (user_id) DO NOTHING;
UPDATE users SET status = 'unlinked', unlinked_at = b.t, updated_at = b.t FROM batch b
    WHERE users.user_id = b.user_id AND (status_event_at IS NULL OR status_event_at <= b.t);
DELETE FROM jobs USING batch b WHERE jobs.user_id = b.user_id
    AND EXISTS (SELECT 1 FROM users WHERE user_id = b.user_id AND status IN ('unlinked', 'purged'));
UPDATE events SET payload = 'null', payload_erased_at = b.t FROM batch b
    WHERE events.user_id = b.user_id AND payload_erased_at IS NULL
      AND EXISTS (SELECT 1 FROM users WHERE user_id = b.user_id AND status IN ('unlinked', 'purged'));
ROLLBACK;

\echo planning against execution, one user:
EXPLAIN (ANALYZE, BUFFERS, SUMMARY) UPDATE events SET payload = 'null', payload_erased_at = 1
    WHERE user_id = '123' AND payload_erased_at IS NULL
      AND EXISTS (SELECT 1 FROM users WHERE user_id = '123' AND status IN ('unlinked', 'purged'));
