//! The console's pages: a view model per page (plain strings, so templates
//! hold no logic), built from storage, the delivery log and the settings.

use std::{convert::Infallible, time::Duration};

use askama::Template;
use axum::{
    Extension,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{
        Html, IntoResponse, Redirect, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use futures_util::Stream;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use super::{Labels, Page};
use crate::{
    clock::rfc3339,
    delivery::log::{Delivery, Outcome},
    ids::UserId,
    state::AppState,
    storage::StoredEvent,
};

pub fn render(page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "console: a page failed to render");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "console/login.html")]
pub struct LoginPage {
    pub t: &'static Labels,
    pub failed: bool,
}

/// A delivery as a row.
#[derive(serde::Serialize)]
pub struct DeliveryRow {
    at: String,
    family: &'static str,
    event_type: String,
    user_id: String,
    outcome: &'static str,
    reason: String,
    answer_ms: u64,
    deadline_ms: u64,
    class: &'static str,
}

impl DeliveryRow {
    fn of(d: &Delivery) -> Self {
        let class = match d.outcome {
            _ if d.failed() => "bad",
            _ if d.answer_ms * 2 > d.deadline_ms => "slow",
            _ => "ok",
        };
        Self {
            at: rfc3339(d.at),
            family: d.family,
            event_type: d.event_type.clone().unwrap_or_default(),
            user_id: d.user_id.clone().unwrap_or_default(),
            outcome: d.outcome.as_str(),
            reason: d.reason.clone().unwrap_or_default(),
            answer_ms: d.answer_ms,
            deadline_ms: d.deadline_ms,
            class,
        }
    }
}

pub(super) use crate::delivery::log::FAMILIES;

#[derive(Template)]
#[template(path = "console/live.html")]
struct LivePage {
    t: &'static Labels,
    csrf: String,
    alerts: Vec<String>,
    families: [&'static str; 6],
    outcomes: [&'static str; 7],
    deliveries: Vec<DeliveryRow>,
}

pub async fn live(State(state): State<AppState>, Extension(page): Extension<Page>) -> Response {
    render(&LivePage {
        t: page.t,
        csrf: page.csrf,
        alerts: page.alerts,
        families: FAMILIES,
        outcomes: Outcome::ALL.map(Outcome::as_str),
        deliveries: state
            .deliveries
            .recent()
            .iter()
            .map(DeliveryRow::of)
            .collect(),
    })
}

/// Each new delivery as a `delivery` event (JSON of a [`DeliveryRow`]).
pub async fn live_stream(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let receiver = state.deliveries.subscribe();
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        loop {
            match receiver.recv().await {
                Ok(delivery) => {
                    let row =
                        serde_json::to_string(&DeliveryRow::of(&delivery)).unwrap_or_default();
                    return Some((Ok(Event::default().event("delivery").data(row)), receiver));
                }
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

#[derive(Deserialize)]
pub struct Search {
    #[serde(default)]
    q: String,
}

#[derive(Template)]
#[template(path = "console/users.html")]
struct UsersPage {
    t: &'static Labels,
    csrf: String,
    alerts: Vec<String>,
    query: String,
    found: Vec<String>,
}

pub async fn users(
    State(state): State<AppState>,
    Extension(page): Extension<Page>,
    Query(search): Query<Search>,
) -> Response {
    let query = search.q.trim().to_owned();
    if let Ok(id) = UserId::parse(&query)
        && query.chars().all(|c| c.is_ascii_digit())
    {
        return Redirect::to(&format!("/console/users/{}", id.as_str())).into_response();
    }
    let found = if query.is_empty() {
        Vec::new()
    } else {
        state
            .storage
            .users_by_identifier(&query)
            .await
            .unwrap_or_default()
    };
    render(&UsersPage {
        t: page.t,
        csrf: page.csrf,
        alerts: page.alerts,
        query,
        found,
    })
}

struct TimelineRow {
    at: String,
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
    known: bool,
    status: String,
    scopes: String,
    risk: String,
    channels: String,
    sessions: String,
    timeline: Vec<TimelineRow>,
}

fn timeline_row(event: &StoredEvent) -> TimelineRow {
    let note = match (&event.unapplied_reason, event.payload_erased_at) {
        (Some(reason), _) => format!("unapplied: {reason}"),
        _ if event.changed_nothing == Some(true) => {
            "changed nothing: older than what is stored, or the user is gone".to_owned()
        }
        (None, Some(_)) => "payload erased".to_owned(),
        (None, None) => crate::telemetry::loggable(&event.payload).to_string(),
    };
    TimelineRow {
        at: rfc3339(event.received_at),
        source: event.source.clone(),
        event_type: event.event_type.clone(),
        note,
    }
}

pub async fn user(
    State(state): State<AppState>,
    Extension(page): Extension<Page>,
    Path(id): Path<String>,
) -> Response {
    let Ok(user_id) = UserId::parse(&id) else {
        return (StatusCode::BAD_REQUEST, "not a user id").into_response();
    };
    let storage = &state.storage;
    let user = storage.user(&user_id).await.ok().flatten();
    let channels = storage
        .channel_relations(&user_id)
        .await
        .unwrap_or_default();
    let sessions = storage.sessions_of(&user_id).await.unwrap_or_default();
    let timeline = storage
        .events_of_user(&user_id, 200)
        .await
        .unwrap_or_default()
        .iter()
        .map(timeline_row)
        .collect();
    let list = |items: Vec<String>| {
        if items.is_empty() {
            "—".to_owned()
        } else {
            items.join(", ")
        }
    };
    let view = match &user {
        Some(user) => UserPage {
            t: page.t,
            csrf: page.csrf,
            alerts: page.alerts,
            user_id: user_id.as_str().to_owned(),
            known: true,
            status: user.status.to_string(),
            scopes: list(user.scopes.clone()),
            risk: list(
                [
                    (
                        "credential_change_required",
                        user.credential_change_required_at,
                    ),
                    ("credential_compromised", user.credential_compromised_at),
                    ("credential_changed", user.credential_changed_at),
                ]
                .into_iter()
                .filter_map(|(name, at)| at.map(|at| format!("{name} ({})", rfc3339(at))))
                .collect(),
            ),
            channels: list(
                channels
                    .iter()
                    .map(|c| format!("{} {}", c.channel_public_id.as_str(), c.relation))
                    .collect(),
            ),
            sessions: format!(
                "{} active / {}",
                sessions.iter().filter(|s| s.is_active()).count(),
                sessions.len()
            ),
            timeline,
        },
        None => UserPage {
            t: page.t,
            csrf: page.csrf,
            alerts: page.alerts,
            user_id: user_id.as_str().to_owned(),
            known: false,
            status: String::new(),
            scopes: String::new(),
            risk: String::new(),
            channels: String::new(),
            sessions: String::new(),
            timeline,
        },
    };
    render(&view)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::log::{Outcome, sample as delivery};

    #[test]
    fn a_row_is_marked_by_its_outcome_and_its_share_of_the_deadline() {
        assert_eq!(
            DeliveryRow::of(&delivery(Outcome::Accepted, 10)).class,
            "ok"
        );
        assert_eq!(
            DeliveryRow::of(&delivery(Outcome::Accepted, 600)).class,
            "slow"
        );
        assert_eq!(DeliveryRow::of(&delivery(Outcome::Refused, 1)).class, "bad");
        assert_eq!(
            DeliveryRow::of(&delivery(Outcome::Unavailable, 1)).class,
            "bad"
        );
    }
}
