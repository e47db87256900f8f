-- KakaoTalk Bot API: what goes out (replies through the callback API, messages
-- the app sends) and the rooms the bot is in.
--
-- A reply row is written in the transaction of the event it answers (an
-- outbox); a message row when the app asks. `run_at` is when it is due, or
-- while claimed the end of the claim's lease; `attempts` counts claims and
-- guards every update, so a worker whose lease ran out cannot overwrite a
-- newer claim. The callback token is single-use and short-lived: kept only
-- while the reply is pending.
CREATE TABLE bot_outbox (
    outbox_id      BIGSERIAL PRIMARY KEY,
    kind           TEXT NOT NULL,            -- reply | message
    event_id       BIGINT REFERENCES events (event_id),
    target_kind    TEXT,                     -- botGroupKey | botUserKey (messages)
    target         TEXT,
    callback_token TEXT,
    skill_response TEXT,                     -- the message, or the handler's reply once computed
    status         TEXT NOT NULL DEFAULT 'pending',
    run_at         BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    attempts       BIGINT NOT NULL DEFAULT 0,
    last_error_code BIGINT,
    last_error_msg TEXT,
    result         TEXT,
    created_at     BIGINT NOT NULL,
    finished_at    BIGINT
);
CREATE INDEX bot_outbox_due ON bot_outbox (run_at) WHERE status = 'pending';

-- Rooms the bot was let into (ENTRANCE) or left (LEAVE), guarded by the time
-- of the event that last changed them.
CREATE TABLE bot_rooms (
    bot_group_key TEXT PRIMARY KEY,
    present       BOOLEAN NOT NULL,
    joined_at     BIGINT,
    left_at       BIGINT,
    changed_at    BIGINT NOT NULL
);
