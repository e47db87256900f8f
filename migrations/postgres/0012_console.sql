-- The console's charts: answer times per minute, family and bound (a
-- histogram, each instance adding its counts), and the outboxes' pending
-- and failed rows sampled each minute (any instance may write a minute's
-- sample; they read the same database).
CREATE TABLE answer_time_tallies (
    minute     BIGINT NOT NULL,
    family     TEXT NOT NULL,
    le_ms      BIGINT NOT NULL,
    deliveries BIGINT NOT NULL,
    PRIMARY KEY (minute, family, le_ms)
);

CREATE TABLE outbox_samples (
    minute BIGINT NOT NULL,
    outbox TEXT NOT NULL,
    status TEXT NOT NULL,
    count  BIGINT NOT NULL,
    PRIMARY KEY (minute, outbox, status)
);

-- A delivery's page lists the bot replies its event caused.
CREATE INDEX bot_outbox_by_event ON bot_outbox (event_id);

-- Failed bot replies, counted every few seconds (the charts, the alert)
-- without reading every reply ever sent.
CREATE INDEX bot_outbox_failed ON bot_outbox (outbox_id) WHERE status = 'failed';
