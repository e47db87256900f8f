//! A user's page: everything stored about them (status and since when, the
//! unlink reason, scopes, email and phone masked unless asked, assurance
//! level, risk flags, channel relations, sessions) and their events in
//! words, each linked to its delivery. A user known only from channel or
//! bot events is shown as such.

use askama::Template;
use axum::{
    Extension,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};

use super::{
    Labels, Page, changes::what_changed, charts::escape, delivery::RevealQuery, masking::personal,
    pages::render, time::Shown,
};
use crate::{ids::UserId, state::AppState, storage::StoredEvent};

struct TimelineRow {
    at: Shown,
    link: String,
    source: String,
    event_type: String,
    note: String,
}

#[derive(Template)]
#[template(path = "console/user.html")]
struct UserPage {
    t: &'static Labels,
    csrf: String,
    alerts: Vec<String>,
    user_id: String,
    /// A Kakao Login record exists.
    known: bool,
    /// Known from channel relations or events only.
    seen: bool,
    reveal: bool,
    /// (label, value) rows of what is stored; values may hold a `<time>`.
    facts: Vec<(&'static str, String)>,
    timeline: Vec<TimelineRow>,
}

fn timeline_row(page: &Page, event: &StoredEvent) -> TimelineRow {
    TimelineRow {
        at: page.at(event.received_at),
        link: format!("/console/deliveries/{}", event.event_id),
        source: page.t.word(&event.source).to_owned(),
        event_type: event.event_type.clone(),
        note: what_changed(event, None).in_lang(page.t.lang).to_owned(),
    }
}

pub async fn user(
    State(state): State<AppState>,
    Extension(page): Extension<Page>,
    Path(id): Path<String>,
    Query(query): Query<RevealQuery>,
) -> Response {
    let Ok(user_id) = UserId::parse(&id) else {
        return (StatusCode::BAD_REQUEST, "not a user id").into_response();
    };
    let reveal = query.reveal();
    let storage = &state.storage;
    let user = storage.user(&user_id).await.ok().flatten();
    let channels = storage
        .channel_relations(&user_id)
        .await
        .unwrap_or_default();
    let sessions = storage.sessions_of(&user_id).await.unwrap_or_default();
    let events = storage
        .events_of_user(&user_id, 200)
        .await
        .unwrap_or_default();
    let t = page.t;
    let at = |millis: i64| page.at(millis).to_string();
    let mut facts: Vec<(&'static str, String)> = Vec::new();
    if let Some(user) = &user {
        let status = escape(t.word(user.status.as_str()));
        let since = match user.status.as_str() {
            "linked" => user.linked_at,
            "unlinked" => user.unlinked_at,
            _ => Some(user.updated_at),
        };
        facts.push((
            t.status,
            match since {
                Some(since) if t.lang == "en" => format!("{status} (since {})", at(since)),
                Some(since) => format!("{status} ({}부터)", at(since)),
                None => status,
            },
        ));
        if let Some(reason) = &user.unlink_reason {
            facts.push((t.unlink_reason, escape(reason)));
        }
        let list = |items: &[String]| {
            if items.is_empty() {
                "—".to_owned()
            } else {
                escape(&items.join(", "))
            }
        };
        facts.push((t.scopes, list(&user.scopes)));
        let shown = |value: &Option<String>| match value {
            Some(v) if reveal => escape(v),
            Some(v) => escape(&personal(v)),
            None => "—".to_owned(),
        };
        facts.push((t.email, shown(&user.email)));
        facts.push((t.phone, shown(&user.phone_number)));
        facts.push((
            t.assurance,
            escape(user.assurance_level.as_deref().unwrap_or("—")),
        ));
        let risk: Vec<String> = [
            (
                "credential_change_required",
                user.credential_change_required_at,
            ),
            ("credential_compromised", user.credential_compromised_at),
            ("credential_changed", user.credential_changed_at),
        ]
        .into_iter()
        .filter_map(|(name, when)| when.map(|when| format!("{name} ({})", at(when))))
        .collect();
        facts.push((
            t.risk,
            if risk.is_empty() {
                "—".into()
            } else {
                risk.join(", ")
            },
        ));
        if user.profile_stale {
            facts.push((t.profile_stale, "✓".into()));
        }
    }
    if user.is_some() || !channels.is_empty() {
        let relations: Vec<String> = channels
            .iter()
            .map(|c| {
                format!(
                    "{} {} ({})",
                    escape(c.channel_public_id.as_str()),
                    escape(t.word(c.relation.as_str())),
                    at(c.changed_at)
                )
            })
            .collect();
        facts.push((
            t.channels,
            if relations.is_empty() {
                "—".into()
            } else {
                relations.join(", ")
            },
        ));
    }
    if user.is_some() || !sessions.is_empty() {
        let active = sessions.iter().filter(|s| s.is_active()).count();
        facts.push((
            t.sessions,
            if t.lang == "en" {
                format!("{active} active of {}", sessions.len())
            } else {
                format!("활성 {active}개 / 전체 {}개", sessions.len())
            },
        ));
    }
    render(&UserPage {
        t,
        user_id: user_id.as_str().to_owned(),
        known: user.is_some(),
        seen: !channels.is_empty() || !events.is_empty(),
        reveal,
        facts,
        timeline: events.iter().map(|e| timeline_row(&page, e)).collect(),
        csrf: page.csrf.clone(),
        alerts: page.alerts.clone(),
    })
}
