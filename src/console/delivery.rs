//! One page per delivery (`/console/deliveries/{id}`): what Kakao sent,
//! decoded and masked; what it changed, in words; how it was answered
//! against the deadline; and the notifications and bot replies it caused.
//! `{id}` is a stored event's id, or `live-{n}` for a delivery only this
//! instance's memory holds (a refused one, a skill request).

use askama::Template;
use axum::{
    Extension,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::Value;

use super::{Labels, Page, changes::what_changed, pages::render, time::Shown};
use crate::{delivery::log::Delivery, state::AppState, storage::StoredEvent};

/// A notification or reply the event caused.
struct Caused {
    id: i64,
    kind: String,
    status: String,
    attempts: i64,
    last_error: String,
    /// A failed notification to the app: it gets a retry button.
    retry: bool,
}

#[derive(Template)]
#[template(path = "console/delivery.html")]
struct DeliveryPage {
    t: &'static Labels,
    csrf: String,
    alerts: Vec<String>,
    id: String,
    family: String,
    event_type: String,
    user_id: String,
    received: Shown,
    changed: String,
    /// `202 · 12 ms / 3000 ms`, or why it is not known.
    answer: String,
    late: bool,
    outcome: String,
    /// A SET's header and registered claims, or an admin-key webhook's
    /// form fields, as name and value.
    fields: Vec<(String, String)>,
    /// The rest, pretty-printed JSON, masked.
    body: String,
    /// Why nothing of the body is shown (erased, never stored).
    body_note: String,
    reveal: bool,
    notifications: Vec<Caused>,
    replies: Vec<Caused>,
}

/// `?reveal=1`: personal data shown unmasked.
#[derive(Deserialize, Default)]
pub struct RevealQuery {
    #[serde(default)]
    reveal: Option<String>,
}

impl RevealQuery {
    pub fn reveal(&self) -> bool {
        self.reveal.is_some()
    }
}

pub async fn delivery(
    State(state): State<AppState>,
    Extension(page): Extension<Page>,
    Path(id): Path<String>,
    Query(query): Query<RevealQuery>,
) -> Response {
    let reveal = query.reveal();
    if let Some(seq) = id.strip_prefix("live-").and_then(|n| n.parse().ok()) {
        return match state.deliveries.find(seq) {
            Some(d) => match d.event_id {
                // Stored after all: the stored event's page says more.
                Some(event_id) => stored(&state, page, event_id, reveal).await,
                None => render(&unstored(page, id, &d)),
            },
            None => not_found(page.t),
        };
    }
    match id.parse() {
        Ok(event_id) => stored(&state, page, event_id, reveal).await,
        Err(_) => not_found(page.t),
    }
}

fn not_found(t: &Labels) -> Response {
    let text = if t.lang == "en" {
        "No such delivery: a stored event's id, or live-N from the live page (kept for this instance's last 1000)."
    } else {
        "그런 전달이 없습니다: 저장된 이벤트의 번호이거나, 실시간 화면의 live-N(이 인스턴스의 최근 1000건)이어야 합니다."
    };
    (StatusCode::NOT_FOUND, text).into_response()
}

/// How `d` was answered: status, time against the deadline, outcome.
fn answered(t: &Labels, d: &Delivery) -> (String, bool, String) {
    let answer = format!(
        "{} · {} ms / {} ms {}",
        d.status, d.answer_ms, d.deadline_ms, t.deadline
    );
    let outcome = match &d.reason {
        Some(reason) => format!("{}: {reason}", t.word(d.outcome.as_str())),
        None => t.word(d.outcome.as_str()).to_owned(),
    };
    (answer, d.late(), outcome)
}

fn unstored(page: Page, id: String, d: &Delivery) -> DeliveryPage {
    let (answer, late, outcome) = answered(page.t, d);
    let received = page.at(d.at);
    DeliveryPage {
        t: page.t,
        csrf: page.csrf,
        alerts: page.alerts,
        id,
        family: page.t.word(d.family).to_owned(),
        event_type: d.event_type.clone().unwrap_or_default(),
        user_id: d.user_id.clone().unwrap_or_default(),
        received,
        changed: page.t.nothing_stored.to_owned(),
        answer,
        late,
        outcome,
        fields: Vec::new(),
        body: String::new(),
        body_note: page.t.body_not_kept.to_owned(),
        reveal: false,
        notifications: Vec::new(),
        replies: Vec::new(),
    }
}

async fn stored(state: &AppState, page: Page, event_id: i64, reveal: bool) -> Response {
    let storage = &state.storage;
    let event = match storage.event(event_id).await {
        Ok(Some(event)) => event,
        Ok(None) => return not_found(page.t),
        Err(err) => return crate::http::error::ApiError::storage(&err).into_response(),
    };
    let sessions_ended = match (event.event_type.as_str(), &event.user_id) {
        ("sessions-revoked" | "tokens-revoked", Some(user)) => {
            match crate::ids::UserId::parse(user) {
                Ok(user) => {
                    let until = event.applied_at.unwrap_or(event.received_at);
                    storage
                        .sessions_ended_between(&user, event.received_at, until)
                        .await
                        .ok()
                        .and_then(|n| usize::try_from(n).ok())
                }
                Err(_) => None,
            }
        }
        _ => None,
    };
    let notifications = storage
        .notifications_of_event(&event)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|n| Caused {
            id: n.notification_id,
            retry: n.status == "failed",
            kind: n.notification_type,
            status: page.t.word(&n.status).to_owned(),
            attempts: n.attempts,
            last_error: n.last_error.unwrap_or_default(),
        })
        .collect();
    let replies = storage
        .replies_of_event(event_id)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|r| Caused {
            id: r.outbox_id,
            retry: false,
            kind: r.kind,
            status: page.t.word(&r.status).to_owned(),
            attempts: r.attempts,
            last_error: match (r.last_error_code, r.last_error_msg) {
                (Some(code), Some(msg)) => format!("{code}: {msg}"),
                (None, Some(msg)) => msg,
                _ => String::new(),
            },
        })
        .collect();
    let (answer, late, outcome) = match state.deliveries.find_event(event_id) {
        Some(d) => answered(page.t, &d),
        None => (page.t.answer_not_kept.to_owned(), false, String::new()),
    };
    let changed = what_changed(&event, sessions_ended)
        .in_lang(page.t.lang)
        .to_owned();
    let (fields, body, body_note) = decoded(page.t, &page, &event, reveal);
    render(&DeliveryPage {
        t: page.t,
        csrf: page.csrf.clone(),
        alerts: page.alerts.clone(),
        id: event_id.to_string(),
        family: page.t.word(&event.source).to_owned(),
        event_type: event.event_type.clone(),
        user_id: event.user_id.clone().unwrap_or_default(),
        received: page.at(event.received_at),
        changed,
        answer,
        late,
        outcome,
        fields,
        body,
        body_note,
        reveal,
        notifications,
        replies,
    })
}

/// What Kakao sent, decoded for reading: (fields, pretty JSON, note).
fn decoded(
    t: &Labels,
    page: &Page,
    event: &StoredEvent,
    reveal: bool,
) -> (Vec<(String, String)>, String, String) {
    let payload = serde_json::from_str::<Value>(&event.payload)
        .ok()
        .filter(|p| !p.is_null());
    let Some(mut payload) = payload else {
        let note = match event.payload_erased_at {
            Some(at) => format!("{} ({})", t.payload_erased, page.at(at).local),
            None => t.payload_erased.to_owned(),
        };
        return (Vec::new(), String::new(), note);
    };
    super::masking::mask(&mut payload, reveal);
    let mut fields = Vec::new();
    match event.source.as_str() {
        "security_event" => {
            // The header as verified: the algorithm is pinned, the key named.
            fields.push(("alg".into(), "RS256".into()));
            if let Some(kid) = payload.get("kid").and_then(Value::as_str) {
                fields.push(("kid".into(), kid.to_owned()));
            }
            let claims = payload.get("claims").cloned().unwrap_or(Value::Null);
            for name in ["iss", "aud", "sub", "jti", "txn", "txm"] {
                if let Some(value) = claims.get(name) {
                    let text = value
                        .as_str()
                        .map_or_else(|| value.to_string(), str::to_owned);
                    // The audience is the app's REST API key: its start is enough.
                    let text = match name {
                        "aud" => format!("{}••••", text.chars().take(4).collect::<String>()),
                        _ => text,
                    };
                    fields.push((name.into(), text));
                }
            }
            if let Some(iat) = claims.get("iat").and_then(Value::as_i64) {
                fields.push(("iat".into(), page.at(iat.saturating_mul(1000)).local));
            }
            let events = claims.get("events").cloned().unwrap_or(Value::Null);
            (fields, pretty(&events), String::new())
        }
        "unlink" | "channel" | "share" => {
            if let Value::Object(map) = &payload {
                for (name, value) in map {
                    let text = value
                        .as_str()
                        .map_or_else(|| value.to_string(), str::to_owned);
                    fields.push((name.clone(), text));
                }
            }
            (fields, String::new(), String::new())
        }
        _ => {
            fields.push(("t".into(), event.event_type.clone()));
            (fields, pretty(&payload), String::new())
        }
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}
