-- The KakaoTalk Bot API gateway session (KAKAO_BOT_GATEWAY): READY's
-- session_id and the last DISPATCH s stored, so a restarted service RESUMEs.
-- One row per bot; `seq` is written only after its event is stored.
CREATE TABLE bot_gateway (
    gateway    TEXT PRIMARY KEY,
    session_id TEXT,
    seq        BIGINT,
    updated_at BIGINT NOT NULL
);
