-- The bot outbox's claim takes due rows in (run_at, outbox_id) order. With
-- the index on run_at alone PostgreSQL sorted every due row on each claim
-- (0.77 ms with 20,000 pending, EXPLAIN ANALYZE); in index order it reads only
-- the rows it claims (0.22 ms).
CREATE INDEX bot_outbox_due_in_order ON bot_outbox (run_at, outbox_id) WHERE status = 'pending';
DROP INDEX bot_outbox_due;
