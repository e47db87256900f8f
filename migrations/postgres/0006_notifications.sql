-- Notifications to the app (APP_NOTIFY_URL), Standard Webhooks signed. A row
-- is written in the transaction that applies the change it tells of, so
-- nothing is notified that was not applied and nothing applied goes
-- unnotified. `body` is sent byte for byte on every attempt, under the same
-- webhook-id (derived from notification_id). Claimed like bot_outbox: `run_at`
-- is the lease's end while claimed, `attempts` counts claims and guards every
-- update. Bodies carry ids and what changed, never an email or phone number.
CREATE TABLE notifications (
    notification_id   BIGSERIAL PRIMARY KEY,
    notification_type TEXT NOT NULL,
    event_id          BIGINT REFERENCES events (event_id),
    body              TEXT NOT NULL,
    status            TEXT NOT NULL DEFAULT 'pending',  -- pending | delivered | failed
    run_at            BIGINT NOT NULL,
    attempts          BIGINT NOT NULL DEFAULT 0,
    last_status       BIGINT,
    last_error        TEXT,
    created_at        BIGINT NOT NULL,
    finished_at       BIGINT
);
CREATE INDEX notifications_due ON notifications (run_at) WHERE status = 'pending';
CREATE INDEX notifications_by_status ON notifications (status, notification_id);
