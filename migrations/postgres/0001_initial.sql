-- Times are Unix milliseconds (UTC). Event times (*_at of attributes) are the
-- time Kakao says a change happened, so a late event never overwrites a newer one.

CREATE TABLE users (
    user_id                       TEXT PRIMARY KEY NOT NULL,
    status                        TEXT NOT NULL CHECK (status IN ('linked', 'unlinked', 'disabled', 'purged')),
    email                         TEXT,
    phone_number                  TEXT,
    assurance_level               TEXT,
    profile_stale                 BOOLEAN NOT NULL DEFAULT FALSE,
    credential_change_required_at BIGINT,
    credential_compromised_at     BIGINT,
    credential_changed_at         BIGINT,
    linked_at                     BIGINT,
    unlinked_at                   BIGINT,
    unlink_reason                 TEXT,
    status_event_at               BIGINT,
    email_event_at                BIGINT,
    phone_event_at                BIGINT,
    assurance_event_at            BIGINT,
    profile_event_at              BIGINT,
    created_at                    BIGINT NOT NULL,
    updated_at                    BIGINT NOT NULL
);

CREATE TABLE sessions (
    session_id     TEXT PRIMARY KEY NOT NULL,
    user_id        TEXT NOT NULL REFERENCES users (user_id),
    created_at     BIGINT NOT NULL,
    revoked_at     BIGINT,
    revoked_reason TEXT
);
CREATE INDEX sessions_active_by_user ON sessions (user_id) WHERE revoked_at IS NULL;

-- Consent per scope, with the event time of its last change, so a late
-- consent never overrides a newer withdrawal.
CREATE TABLE user_scopes (
    user_id    TEXT NOT NULL REFERENCES users (user_id),
    scope      TEXT NOT NULL,
    consented  BOOLEAN NOT NULL,
    changed_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, scope)
);

CREATE TABLE channel_relations (
    user_id           TEXT NOT NULL,
    id_type           TEXT NOT NULL,
    channel_public_id TEXT NOT NULL,
    channel_uuid      TEXT,
    relation          TEXT NOT NULL CHECK (relation IN ('added', 'blocked')),
    changed_at        BIGINT NOT NULL,
    PRIMARY KEY (user_id, channel_public_id)
);

-- Every accepted webhook, stored before it is acknowledged.
CREATE TABLE events (
    event_id    BIGSERIAL PRIMARY KEY,
    source      TEXT NOT NULL,
    dedupe_key  TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    user_id     TEXT,
    event_time  BIGINT,
    received_at BIGINT NOT NULL,
    payload     TEXT NOT NULL,
    applied_at  BIGINT,
    UNIQUE (source, dedupe_key)
);
CREATE INDEX events_unapplied ON events (event_id) WHERE applied_at IS NULL;
CREATE INDEX events_by_user ON events (user_id, event_id);
