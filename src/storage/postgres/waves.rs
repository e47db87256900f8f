//! PostgreSQL writes a batch in waves: a wave is a run of consecutive events
//! in which no two share a user or a dedupe key, so the order between them
//! cannot change what they leave. A wave is written a kind of statement at a
//! time (`set_sql.rs`): one insert for all its events, then, step by step
//! (the k-th statement of every new event), one statement per kind, then the
//! follow-ups (changed-nothing marks, notifications) of all of them.
//!
//! The order of a user's events holds: their events fall in successive
//! waves, written in order. An event with a statement that has no set-based
//! form is written alone, a statement at a time, between waves. Any failure
//! fails the batch, which the writer then writes again an event at a time,
//! each in a savepoint (`writer.rs`).

use std::collections::{HashMap, HashSet};

use sqlx::{Postgres, Row, postgres::PgArguments, query::Query};

use super::{PgWriter, set_sql};
use crate::storage::{
    Recorded, StorageError,
    events::Prepared,
    statements::{EventInsert, Param, Statement},
    writer,
};

/// Writes `batch` in order, in the open transaction.
pub(super) async fn execute_all(
    db: &mut PgWriter,
    batch: &[Prepared],
) -> Result<Vec<Recorded>, StorageError> {
    let mut recorded = Vec::with_capacity(batch.len());
    let mut rest = batch;
    while let Some(first) = rest.first() {
        let len = wave_len(rest);
        if len == 0 {
            recorded.push(writer::execute(db, first).await?);
            rest = &rest[1..];
        } else {
            let (wave, after) = rest.split_at(len);
            recorded.extend(write_wave(db, wave).await?);
            rest = after;
        }
    }
    Ok(recorded)
}

/// What two events of one wave may not share.
#[derive(Debug, PartialEq, Eq, Hash)]
enum Claim<'a> {
    User(&'a str),
    Dedupe(&'a str, &'a str),
}

/// How many events from the start of `events` form a wave (0: the first has
/// a statement without a set-based form).
fn wave_len(events: &[Prepared]) -> usize {
    let mut claimed = HashSet::new();
    for (i, prepared) in events.iter().enumerate() {
        let Some(claims) = claims(prepared) else {
            return i;
        };
        if claims.iter().any(|claim| claimed.contains(claim)) {
            return i;
        }
        claimed.extend(claims);
    }
    events.len()
}

/// The users and dedupe keys an event touches, or `None` if one of its
/// statements has no set-based form.
fn claims(prepared: &Prepared) -> Option<Vec<Claim<'_>>> {
    let (mut claims, user_id) = match &prepared.insert {
        EventInsert::InsertEvent(s) => (
            vec![Claim::Dedupe(s.source.as_str(), &s.dedupe_key)],
            s.user_id.as_ref(),
        ),
        EventInsert::InsertEventUntilRelinked(s) => (
            vec![
                Claim::Dedupe(s.source.as_str(), &s.dedupe_base),
                Claim::User(s.relinked_user.as_str()),
            ],
            s.user_id.as_ref(),
        ),
    };
    claims.extend(user_id.map(|user| Claim::User(user.as_str())));
    for statement in &prepared.statements {
        set_sql::of(statement.name())?;
        claims.push(claim(statement)?);
    }
    Some(claims)
}

/// The user (or bot event) a statement with a set-based form touches.
fn claim(statement: &Statement) -> Option<Claim<'_>> {
    use Statement as S;
    let user = match statement {
        S::EnsureUser(s) => &s.user_id,
        S::EraseUser(s) => &s.user_id,
        S::WithdrawAllScopes(s) => &s.user_id,
        S::RevokeSessions(s) => &s.user_id,
        S::EraseEventPayloads(s) => &s.user_id,
        S::DropChannelRelationsOfGoneUser(s) => &s.user_id,
        S::DropJobsOfGoneUser(s) => &s.user_id,
        S::LinkUser(s) => &s.user_id,
        S::QueueBotReply(s) => return Some(Claim::Dedupe("bot", &s.dedupe_key)),
        _ => return None,
    };
    Some(Claim::User(user.as_str()))
}

#[allow(
    clippy::needless_range_loop,
    reason = "a step indexes each event's row counts, not one list"
)]
async fn write_wave(db: &mut PgWriter, wave: &[Prepared]) -> Result<Vec<Recorded>, StorageError> {
    let ids = insert_events(db, wave).await?;
    let new: Vec<(&Prepared, i64)> = wave
        .iter()
        .zip(&ids)
        .filter_map(|(prepared, id)| id.map(|id| (prepared, id)))
        .collect();
    let mut rows: Vec<Vec<u64>> = new
        .iter()
        .map(|(prepared, _)| vec![0; prepared.statements.len()])
        .collect();
    let steps = new.iter().map(|(p, _)| p.statements.len()).max();
    for step in 0..steps.unwrap_or(0) {
        let statements = new
            .iter()
            .enumerate()
            .filter_map(|(i, (prepared, _))| prepared.statements.get(step).map(|s| (i, s)));
        for group in by_kind(statements) {
            for i in run(db, &group).await? {
                rows[i][step] += 1;
            }
        }
    }
    let follow_ups: Vec<Statement> = new
        .iter()
        .zip(&rows)
        .flat_map(|((prepared, id), rows)| writer::follow_ups(prepared, *id, rows))
        .collect();
    for group in by_kind(follow_ups.iter().enumerate()) {
        run(db, &group).await?;
    }
    Ok(ids
        .into_iter()
        .map(|id| match id {
            Some(event_id) => Recorded::Stored { event_id },
            None => Recorded::Duplicate,
        })
        .collect())
}

/// The wave's events inserted by one statement: each one's id, `None` for
/// a repeat.
async fn insert_events(
    db: &mut PgWriter,
    wave: &[Prepared],
) -> Result<Vec<Option<i64>>, StorageError> {
    let mut columns = EventColumns::default();
    for prepared in wave {
        columns.push(&prepared.insert);
    }
    let found = sqlx::query(set_sql::INSERT_EVENTS)
        .bind(columns.source)
        .bind(columns.base)
        .bind(columns.event_type)
        .bind(columns.user_id)
        .bind(columns.event_time)
        .bind(columns.received_at)
        .bind(columns.payload)
        .bind(columns.unapplied_reason)
        .bind(columns.relinked)
        .fetch_all(&mut **db.tx()?)
        .await?;
    let ids = found
        .iter()
        .map(|row| row.try_get::<Option<i64>, _>(0))
        .collect::<Result<Vec<_>, _>>()?;
    // Each event its own row: a wave's dedupe keys differ, so no id is
    // claimed twice; if one were, the batch goes the safe way, event by event.
    let mut seen = HashSet::new();
    if ids.len() != wave.len() || !ids.iter().flatten().all(|id| seen.insert(*id)) {
        return Err(StorageError::Database(sqlx::Error::Protocol(
            "a wave's insert did not give one row per event".into(),
        )));
    }
    Ok(ids)
}

/// The insert's parameters, a column each.
#[derive(Default)]
struct EventColumns<'a> {
    source: Vec<&'a str>,
    base: Vec<&'a str>,
    event_type: Vec<&'a str>,
    user_id: Vec<Option<&'a str>>,
    event_time: Vec<Option<i64>>,
    received_at: Vec<i64>,
    payload: Vec<&'a str>,
    unapplied_reason: Vec<Option<&'a str>>,
    relinked: Vec<Option<&'a str>>,
}

impl<'a> EventColumns<'a> {
    fn push(&mut self, insert: &'a EventInsert) {
        let (unapplied_reason, relinked) = match insert {
            EventInsert::InsertEvent(s) => (s.unapplied_reason.as_deref(), None),
            EventInsert::InsertEventUntilRelinked(s) => (None, Some(s.relinked_user.as_str())),
        };
        let (source, base, event_type, user_id, event_time, received_at, payload) = match insert {
            EventInsert::InsertEvent(s) => (
                s.source,
                &s.dedupe_key,
                &s.event_type,
                &s.user_id,
                s.event_time,
                s.received_at,
                &s.payload,
            ),
            EventInsert::InsertEventUntilRelinked(s) => (
                s.source,
                &s.dedupe_base,
                &s.event_type,
                &s.user_id,
                s.event_time,
                s.received_at,
                &s.payload,
            ),
        };
        self.source.push(source.as_str());
        self.base.push(base);
        self.event_type.push(event_type);
        self.user_id
            .push(user_id.as_ref().map(|user| user.as_str()));
        self.event_time.push(event_time);
        self.received_at.push(received_at);
        self.payload.push(payload);
        self.unapplied_reason.push(unapplied_reason);
        self.relinked.push(relinked);
    }
}

/// Statements of one kind, each with the index of its event.
type Group<'a> = Vec<(usize, &'a Statement)>;

/// `statements` grouped by kind, kinds in the order they first appear and
/// statements in their order within each.
fn by_kind<'a>(statements: impl Iterator<Item = (usize, &'a Statement)>) -> Vec<Group<'a>> {
    let mut groups: Vec<Group<'a>> = Vec::new();
    for (i, statement) in statements {
        match groups
            .iter_mut()
            .find(|group| group[0].1.name() == statement.name())
        {
            Some(group) => group.push((i, statement)),
            None => groups.push(vec![(i, statement)]),
        }
    }
    groups
}

/// Runs a group as one statement; for a change, the index of the event of
/// each row it changed.
async fn run(db: &mut PgWriter, group: &Group<'_>) -> Result<Vec<usize>, StorageError> {
    let name = group[0].1.name();
    let sql = set_sql::of(name).ok_or_else(|| {
        StorageError::Database(sqlx::Error::Protocol(format!(
            "{name} has no set-based form"
        )))
    })?;
    let params: Vec<Vec<Param<'_>>> = group.iter().map(|(_, s)| s.params()).collect();
    let width = params[0].len();
    let query = (0..width).fold(sqlx::query(sql), |query, j| {
        bind_column(query, params.iter().map(|row| row[j]))
    });
    if !crate::storage::changes::is_change(group[0].1) {
        query.execute(&mut **db.tx()?).await?;
        return Ok(Vec::new());
    }
    // A change returns its `$1` (the user) per row; a wave's users differ.
    let event_of: HashMap<&str, usize> = group
        .iter()
        .zip(&params)
        .filter_map(|((i, _), row)| match row.first() {
            Some(Param::Text(user)) => Some((*user, *i)),
            _ => None,
        })
        .collect();
    let changed = query.fetch_all(&mut **db.tx()?).await?;
    changed
        .iter()
        .map(|row| {
            let user: &str = row.try_get(0)?;
            event_of.get(user).copied().ok_or_else(|| {
                sqlx::Error::Protocol(format!("{name} changed a row of no event in the wave"))
                    .into()
            })
        })
        .collect()
}

/// Binds one parameter's values, one per statement, as an array.
fn bind_column<'q>(
    query: Query<'q, Postgres, PgArguments>,
    mut values: impl Iterator<Item = Param<'q>>,
) -> Query<'q, Postgres, PgArguments> {
    let Some(first) = values.next() else {
        return query;
    };
    let values = std::iter::once(first).chain(values);
    match first {
        Param::Text(_) | Param::MaybeText(_) => query.bind(
            values
                .map(|value| match value {
                    Param::Text(text) => Some(text),
                    Param::MaybeText(text) => text,
                    _ => None,
                })
                .collect::<Vec<_>>(),
        ),
        Param::Int(_) | Param::MaybeInt(_) => query.bind(
            values
                .map(|value| match value {
                    Param::Int(int) => Some(int),
                    Param::MaybeInt(int) => int,
                    _ => None,
                })
                .collect::<Vec<_>>(),
        ),
        Param::Bool(_) => query.bind(
            values
                .map(|value| match value {
                    Param::Bool(flag) => Some(flag),
                    _ => None,
                })
                .collect::<Vec<_>>(),
        ),
    }
}
