-- Durable background jobs, written in the transaction of the event that needs
-- them (an outbox). `generation` grows when a pending job is asked for again,
-- so a worker that fetched before the newest request does not delete it.
CREATE TABLE jobs (
    job_id     BIGSERIAL PRIMARY KEY,
    kind       TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    run_at     BIGINT NOT NULL,
    attempts   BIGINT NOT NULL DEFAULT 0,
    generation BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (kind, user_id)
);
CREATE INDEX jobs_due ON jobs (kind, run_at);
