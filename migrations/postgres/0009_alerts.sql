-- Alerts (ALERT_WEBHOOK_URL, GET /api/alerts, the console's banner).

-- Deliveries from Kakao, tallied by each instance per bucket of time (its
-- start in ms), family and outcome, and added up here, so that every
-- instance judges the alerts from the same numbers.
CREATE TABLE delivery_tallies (
    bucket     BIGINT NOT NULL,
    family     TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    deliveries BIGINT NOT NULL,
    late       BIGINT NOT NULL,
    PRIMARY KEY (bucket, family, outcome)
);

-- One row per condition (its name, and the family for per-family ones):
-- raised or resolved, since when, and while raised since when it has been
-- clear (it is resolved once clear for a whole window). Each change of
-- state is one conditional UPDATE, so among instances sharing the
-- database exactly one makes it and queues the alert.
CREATE TABLE alerts (
    alert_key   TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    family      TEXT,
    state       TEXT NOT NULL CHECK (state = 'raised' OR state = 'resolved'),
    summary     TEXT NOT NULL,
    value       DOUBLE PRECISION NOT NULL,
    threshold   DOUBLE PRECISION NOT NULL,
    since       BIGINT NOT NULL,
    clear_since BIGINT,
    updated_at  BIGINT NOT NULL
);

-- The notification outbox also carries the alerts to ALERT_WEBHOOK_URL:
-- 'app' rows go to APP_NOTIFY_URL, 'alert' rows to the alert webhook.
ALTER TABLE notifications ADD COLUMN destination TEXT NOT NULL DEFAULT 'app';
