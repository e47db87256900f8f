-- Each notification destination's state (APP_NOTIFY_URL as 'app'): active,
-- or paused after failing for APP_NOTIFY_PAUSE_AFTER_SECONDS (at once on a
-- 410 Gone). While paused nothing is attempted and nothing becomes failed;
-- POST /api/notifications/resume sends the backlog, oldest first.
CREATE TABLE notification_destinations (
    destination   TEXT PRIMARY KEY NOT NULL,
    state         TEXT NOT NULL CHECK (state = 'active' OR state = 'paused'),
    since         INTEGER NOT NULL,
    reason        TEXT,
    -- Since when every attempt has failed (NULL: the last one succeeded).
    failing_since INTEGER
);

CREATE INDEX notifications_by_created ON notifications (destination, created_at);
-- Due notifications are claimed oldest first (a resumed backlog in order).
CREATE INDEX notifications_pending_by_id ON notifications (destination, notification_id)
    WHERE status = 'pending';
