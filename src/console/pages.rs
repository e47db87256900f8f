//! The console's pages: a view model per page (plain strings, so templates
//! hold no logic), built from storage, the delivery log and the settings.

use std::{convert::Infallible, time::Duration};

use askama::Template;
use axum::{
    Extension,
    extract::{Query, State},
    http::StatusCode,
    response::{
        Html, IntoResponse, Redirect, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use futures_util::Stream;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use super::{
    Labels, Page,
    time::{Shown, ago},
};
use crate::{
    delivery::log::{Delivery, Outcome},
    ids::UserId,
    state::AppState,
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
    at: Shown,
    /// How long ago, in the console's language (`3분 전`).
    ago: String,
    /// Its page: the stored event's, or this instance's memory's.
    link: String,
    family: &'static str,
    family_label: String,
    event_type: String,
    user_id: String,
    outcome: &'static str,
    outcome_label: String,
    reason: String,
    answer_ms: u64,
    deadline_ms: u64,
    class: &'static str,
}

impl DeliveryRow {
    fn of(page: &Page, now: i64, d: &Delivery) -> Self {
        let class = match d.outcome {
            _ if d.failed() => "bad",
            _ if d.answer_ms * 2 > d.deadline_ms => "slow",
            _ => "ok",
        };
        Self {
            at: page.at(d.at),
            ago: ago(page.t.lang, now, d.at),
            link: match d.event_id {
                Some(event_id) => format!("/console/deliveries/{event_id}"),
                None => format!("/console/deliveries/live-{}", d.seq),
            },
            family: d.family,
            family_label: page.t.word(d.family).to_owned(),
            event_type: d.event_type.clone().unwrap_or_default(),
            user_id: d.user_id.clone().unwrap_or_default(),
            outcome: d.outcome.as_str(),
            outcome_label: page.t.word(d.outcome.as_str()).to_owned(),
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
    let now = crate::clock::now_millis();
    render(&LivePage {
        families: FAMILIES,
        outcomes: Outcome::ALL.map(Outcome::as_str),
        deliveries: state
            .deliveries
            .recent()
            .iter()
            .map(|d| DeliveryRow::of(&page, now, d))
            .collect(),
        t: page.t,
        csrf: page.csrf,
        alerts: page.alerts,
    })
}

/// Each new delivery as a `delivery` event (JSON of a [`DeliveryRow`]).
pub async fn live_stream(
    State(state): State<AppState>,
    Extension(page): Extension<Page>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let receiver = state.deliveries.subscribe();
    let stream =
        futures_util::stream::unfold((receiver, page), |(mut receiver, page)| async move {
            loop {
                match receiver.recv().await {
                    Ok(delivery) => {
                        let row = DeliveryRow::of(&page, crate::clock::now_millis(), &delivery);
                        let row = serde_json::to_string(&row).unwrap_or_default();
                        let event = Event::default().event("delivery").data(row);
                        return Some((Ok(event), (receiver, page)));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::log::{Outcome, sample as delivery};

    fn row(outcome: Outcome, ms: u64) -> DeliveryRow {
        let page = Page {
            t: &super::super::labels::KO,
            csrf: String::new(),
            alerts: Vec::new(),
            zone: jiff::tz::TimeZone::UTC,
        };
        DeliveryRow::of(&page, 0, &delivery(outcome, ms))
    }

    #[test]
    fn a_row_is_marked_by_its_outcome_and_its_share_of_the_deadline() {
        assert_eq!(row(Outcome::Accepted, 10).class, "ok");
        assert_eq!(row(Outcome::Accepted, 600).class, "slow");
        assert_eq!(row(Outcome::Refused, 1).class, "bad");
        assert_eq!(row(Outcome::Unavailable, 1).class, "bad");
    }
}
