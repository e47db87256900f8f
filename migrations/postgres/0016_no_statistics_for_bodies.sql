-- The planner never filters on a stored body, and gathering statistics on
-- one reads every sampled body whole (TOAST included): an ANALYZE of events
-- took 350-500 ms of the database's CPU, most of it the payloads. The
-- service analyses tables that grow fast (src/storage/statistics.rs), so
-- that cost recurs. Without statistics on these columns, ANALYZE skips them.
ALTER TABLE events ALTER COLUMN payload SET STATISTICS 0;
ALTER TABLE notifications ALTER COLUMN body SET STATISTICS 0;
ALTER TABLE bot_outbox ALTER COLUMN skill_response SET STATISTICS 0;
ALTER TABLE bot_outbox ALTER COLUMN result SET STATISTICS 0;
