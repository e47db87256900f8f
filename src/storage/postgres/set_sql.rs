//! Set-based forms of the writer's statements, for PostgreSQL: one statement
//! writes the rows of many events. A statement's start costs PostgreSQL
//! 30-50 times its rows (`examples/loadtest/pg_statements.sql`), so a batch
//! written a kind at a time is far faster than a row at a time.
//!
//! Each text takes, as `$n`, the array of every event's `$n` of the statement
//! it stands for (`statements.rs`), and must leave the same rows. A change
//! (`changes::is_change`) returns its `$1` (the user) once per row it
//! changed, which gives each event its row count: the events of one wave
//! never share a user (`waves.rs`).
//!
//! A statement that joins its arrays to a table also names the table's rows
//! by key (`… = ANY($1)`). Without that, on a table not analysed since it grew
//! (autovacuum lags), the planner took the arrays' join for a scan of the
//! whole table: the bot outbox's reply insert read every bot event each wave.
//! The reply insert goes further and probes the unique index once per key
//! (`LATERAL`, with a `LIMIT 1` that keeps the planner from turning it back
//! into a join). Statistics of `events` gathered before the first bot event
//! said there were none, and the join then read them all each wave
//! (`auto_explain`: 11,712 rows read to find 1).

/// The one statement that inserts a wave's events: a row per event, in
/// order, with its new `event_id`, or NULL for a repeat. An event deduped
/// until its user links again (`relinked` set) gets its key's suffix read
/// here, as `InsertEventUntilRelinked` reads it.
pub(super) const INSERT_EVENTS: &str = "
    WITH x AS (
        SELECT x.*, CASE WHEN x.relinked IS NULL THEN x.base
            ELSE x.base || ':' || COALESCE((SELECT CAST(linked_at AS TEXT) FROM users WHERE user_id = x.relinked), '0')
            END AS dedupe_key
        FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::int8[], $7::text[], $8::text[], $9::text[])
            WITH ORDINALITY AS x(source, base, event_type, user_id, event_time, received_at, payload, unapplied_reason, relinked, ord)
    ), inserted AS (
        INSERT INTO events (source, dedupe_key, event_type, user_id, event_time, received_at, applied_at, payload, unapplied_reason)
        SELECT source, dedupe_key, event_type, user_id, event_time, received_at,
            CASE WHEN unapplied_reason IS NULL THEN received_at END, payload, unapplied_reason
        FROM x ORDER BY ord
        ON CONFLICT (source, dedupe_key) DO NOTHING
        RETURNING event_id, source, dedupe_key
    )
    SELECT inserted.event_id FROM x LEFT JOIN inserted USING (source, dedupe_key) ORDER BY x.ord";

/// The set-based text of the statement named `name`, if it has one.
pub(super) fn of(name: &str) -> Option<&'static str> {
    SET_SQL
        .iter()
        .find(|(statement, _)| *statement == name)
        .map(|(_, sql)| *sql)
}

/// (statement, its set-based text).
pub(super) const SET_SQL: &[(&str, &str)] = &[
    (
        "EnsureUser",
        "
        INSERT INTO users (user_id, status, created_at, updated_at)
        SELECT x.user_id, 'linked', x.now_ms, x.now_ms
        FROM UNNEST($1::text[], $2::int8[]) AS x(user_id, now_ms)
        ON CONFLICT (user_id) DO NOTHING",
    ),
    (
        "EraseUser",
        "
        UPDATE users SET status = CASE WHEN users.status = 'purged' THEN 'purged' ELSE x.status END,
            email = NULL, phone_number = NULL, assurance_level = NULL, profile_stale = FALSE,
            unlinked_at = x.event_time,
            unlink_reason = CASE WHEN users.status = 'purged' THEN users.unlink_reason ELSE x.reason END,
            status_event_at = x.event_time, email_event_at = x.event_time, phone_event_at = x.event_time,
            assurance_event_at = x.event_time, profile_event_at = x.event_time, updated_at = x.now_ms
        FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::text[], $5::int8[])
            AS x(user_id, status, event_time, reason, now_ms)
        WHERE users.user_id = x.user_id AND users.user_id = ANY($1::text[])
          AND (users.status_event_at IS NULL OR users.status_event_at <= x.event_time)
        RETURNING users.user_id",
    ),
    (
        "WithdrawAllScopes",
        "
        UPDATE user_scopes SET consented = FALSE, changed_at = x.event_time
        FROM UNNEST($1::text[], $2::int8[]) AS x(user_id, event_time)
        WHERE user_scopes.user_id = x.user_id AND user_scopes.user_id = ANY($1::text[])
          AND user_scopes.changed_at <= x.event_time",
    ),
    (
        "RevokeSessions",
        "
        UPDATE sessions SET revoked_at = x.now_ms, revoked_reason = x.reason
        FROM UNNEST($1::text[], $2::int8[], $3::int8[], $4::text[]) AS x(user_id, event_time, now_ms, reason)
        WHERE sessions.user_id = x.user_id AND sessions.user_id = ANY($1::text[])
          AND sessions.revoked_at IS NULL
          AND sessions.created_at <= x.event_time
        RETURNING sessions.user_id",
    ),
    (
        "EraseEventPayloads",
        "
        UPDATE events SET payload = 'null', payload_erased_at = x.now_ms
        FROM UNNEST($1::text[], $2::int8[]) AS x(user_id, now_ms)
        WHERE events.user_id = x.user_id AND events.user_id = ANY($1::text[])
          AND events.payload_erased_at IS NULL
          AND EXISTS (SELECT 1 FROM users WHERE users.user_id = x.user_id AND users.status IN ('unlinked', 'purged'))",
    ),
    (
        "DropChannelRelationsOfGoneUser",
        "
        DELETE FROM channel_relations USING UNNEST($1::text[]) AS x(user_id)
        WHERE channel_relations.user_id = x.user_id AND channel_relations.user_id = ANY($1::text[])
          AND EXISTS (SELECT 1 FROM users WHERE users.user_id = x.user_id AND users.status IN ('unlinked', 'purged'))",
    ),
    (
        "DropJobsOfGoneUser",
        "
        DELETE FROM jobs USING UNNEST($1::text[]) AS x(user_id)
        WHERE jobs.user_id = x.user_id AND jobs.user_id = ANY($1::text[])
          AND EXISTS (SELECT 1 FROM users WHERE users.user_id = x.user_id AND users.status IN ('unlinked', 'purged'))",
    ),
    (
        "LinkUser",
        "
        INSERT INTO users (user_id, status, linked_at, status_event_at, created_at, updated_at)
        SELECT x.user_id, 'linked', x.event_time, x.event_time, x.now_ms, x.now_ms
        FROM UNNEST($1::text[], $2::int8[], $3::int8[]) AS x(user_id, event_time, now_ms)
        ON CONFLICT (user_id) DO UPDATE SET
            status = 'linked', linked_at = excluded.linked_at,
            status_event_at = excluded.status_event_at, updated_at = excluded.updated_at
        WHERE users.status <> 'purged'
          AND (users.status_event_at IS NULL OR users.status_event_at <= excluded.status_event_at)
        RETURNING users.user_id",
    ),
    (
        "QueueBotReply",
        "
        INSERT INTO bot_outbox (kind, event_id, callback_token, run_at, expires_at, created_at)
        SELECT 'reply', e.event_id, x.callback_token, x.now_ms, x.expires_at, x.now_ms
        FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::int8[])
            WITH ORDINALITY AS x(dedupe_key, callback_token, now_ms, expires_at, ord)
        CROSS JOIN LATERAL (
            SELECT event_id FROM events
            WHERE events.source = 'bot' AND events.dedupe_key = x.dedupe_key
            LIMIT 1) AS e
        ORDER BY x.ord",
    ),
    (
        "MarkEventChangedNothing",
        "UPDATE events SET changed_nothing = TRUE WHERE event_id = ANY($1::int8[])",
    ),
    (
        "InsertNotification",
        "
        INSERT INTO notifications (notification_type, event_id, body, run_at, created_at, destination, status)
        SELECT x.notification_type, x.event_id, x.body, x.now_ms, x.now_ms, x.destination, x.status
        FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::int8[], $5::text[], $6::text[])
            WITH ORDINALITY AS x(notification_type, event_id, body, now_ms, destination, status, ord)
        ORDER BY x.ord",
    ),
];

#[cfg(test)]
mod tests {
    use crate::storage::statements::{Statement, placeholders};

    #[test]
    fn every_set_based_text_takes_each_parameter_of_its_statement() {
        for (name, sql) in super::SET_SQL {
            let (_, _, fields) = Statement::ALL
                .iter()
                .find(|(statement, _, _)| statement == name)
                .unwrap_or_else(|| panic!("{name} is no statement"));
            let expected: std::collections::BTreeSet<usize> = (1..=*fields).collect();
            assert_eq!(placeholders(sql), expected, "{name}");
        }
    }
}
