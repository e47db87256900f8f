//! Kakao Talk Share delivery webhook: `GET|POST /kakao/share`.
//!
//! Sent when a shared message reached its chat; carries `CHAT_TYPE`,
//! `HASH_CHAT_ID`, `TEMPLATE_ID` (custom templates) and the app's own
//! `serverCallbackArgs`. Stored as an event, deduplicated by
//! `X-Kakao-Resource-ID`; the application reads it from `/api/events`.

use axum::{
    extract::{FromRef, State},
    http::StatusCode,
    routing::get,
};

use kakao_protocol::admin_key::{Params, ShareDelivery};

use super::{AdminKeyState, KakaoAdmin, ResourceId, WebhookParams, invalid, store_or_spool};
use crate::{
    clock::now_millis,
    delivery::{Family, spool::Spooled},
    http::{error::ApiError, routes::Routes},
    storage::{Dedupe, NewEvent, Payload, Source},
};

pub fn router<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    AdminKeyState: FromRef<S>,
{
    Routes::new().route_both_slashes("/kakao/share", get(receive).post(receive))
}

async fn receive(
    State(state): State<AdminKeyState>,
    _admin: KakaoAdmin,
    ResourceId(resource_id): ResourceId,
    WebhookParams(params): WebhookParams,
) -> Result<StatusCode, ApiError> {
    ShareDelivery::read(&params).map_err(invalid)?;
    let event = event(resource_id.as_str(), &params);
    let spooled = || Spooled {
        family: Family::SHARE.name.into(),
        received_at: now_millis(),
        resource_id: Some(resource_id.to_string()),
        params: params.clone(),
    };
    store_or_spool(&state, Family::SHARE, event, spooled).await
}

/// The event of a share delivery: every parameter Kakao sent.
pub fn event(resource_id: &str, params: &Params) -> NewEvent {
    NewEvent {
        source: Source::Share,
        dedupe: Dedupe::Key(resource_id.to_owned()),
        event_type: "share.delivered".into(),
        user_id: None,
        event_time: None,
        payload: Payload::of(params),
        effects: Vec::new(),
        unapplied_reason: None,
    }
}
