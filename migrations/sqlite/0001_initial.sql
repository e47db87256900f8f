-- Times are Unix milliseconds (UTC). Event times (*_at of attributes) are the
-- time Kakao says a change happened, so a late event never overwrites a newer one.

CREATE TABLE users (
    user_id                       TEXT PRIMARY KEY NOT NULL,
    status                        TEXT NOT NULL CHECK (status IN ('linked', 'unlinked', 'disabled', 'purged')),
    email                         TEXT,
    phone_number                  TEXT,
    assurance_level               TEXT,
    profile_stale                 INTEGER NOT NULL DEFAULT 0,
    credential_change_required_at INTEGER,
    credential_compromised_at     INTEGER,
    credential_changed_at         INTEGER,
    linked_at                     INTEGER,
    unlinked_at                   INTEGER,
    unlink_reason                 TEXT,
    status_event_at               INTEGER,
    email_event_at                INTEGER,
    phone_event_at                INTEGER,
    assurance_event_at            INTEGER,
    profile_event_at              INTEGER,
    created_at                    INTEGER NOT NULL,
    updated_at                    INTEGER NOT NULL
);

CREATE TABLE sessions (
    session_id     TEXT PRIMARY KEY NOT NULL,
    user_id        TEXT NOT NULL REFERENCES users (user_id),
    created_at     INTEGER NOT NULL,
    revoked_at     INTEGER,
    revoked_reason TEXT
);
CREATE INDEX sessions_active_by_user ON sessions (user_id) WHERE revoked_at IS NULL;

-- Consent per scope, with the event time of its last change, so a late
-- consent never overrides a newer withdrawal.
CREATE TABLE user_scopes (
    user_id    TEXT NOT NULL REFERENCES users (user_id),
    scope      TEXT NOT NULL,
    consented  INTEGER NOT NULL,
    changed_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, scope)
);

CREATE TABLE channel_relations (
    user_id           TEXT NOT NULL,
    id_type           TEXT NOT NULL,
    channel_public_id TEXT NOT NULL,
    channel_uuid      TEXT,
    relation          TEXT NOT NULL CHECK (relation IN ('added', 'blocked')),
    changed_at        INTEGER NOT NULL,
    PRIMARY KEY (user_id, channel_public_id)
);

-- Every accepted webhook, stored before it is acknowledged.
CREATE TABLE events (
    event_id    INTEGER PRIMARY KEY AUTOINCREMENT,
    source      TEXT NOT NULL,
    dedupe_key  TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    user_id     TEXT,
    event_time  INTEGER,
    received_at INTEGER NOT NULL,
    payload     TEXT NOT NULL,
    applied_at  INTEGER,
    UNIQUE (source, dedupe_key)
);
CREATE INDEX events_unapplied ON events (event_id) WHERE applied_at IS NULL;
CREATE INDEX events_by_user ON events (user_id, event_id);
