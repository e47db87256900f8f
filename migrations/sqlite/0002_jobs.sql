-- Durable background jobs, written in the transaction of the event that needs
-- them (an outbox). `generation` grows when a pending job is asked for again,
-- so a worker that fetched before the newest request does not delete it.
CREATE TABLE jobs (
    job_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    run_at     INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    generation INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (kind, user_id)
);
CREATE INDEX jobs_due ON jobs (kind, run_at);
