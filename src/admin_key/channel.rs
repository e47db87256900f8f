//! Kakao Talk Channel add/block webhook: `POST /kakao/channel`.
//!
//! Records the user's relation with the channel. Deliveries can arrive out of
//! order, so a change older (by `updated_at`) than the stored one is kept in
//! the log but does not overwrite the relation.

use axum::{extract::State, http::StatusCode, routing::post};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use super::{KakaoAdmin, ResourceId, WebhookParams, required, required_id};
use crate::{
    clock::now_millis,
    delivery::Family,
    error::ApiError,
    ids::{ChannelPublicId, UserId},
    routes::Routes,
    state::AppState,
    storage::{ChannelRelation, Dedupe, Effect, NewEvent, Payload, Relation, Source},
};

pub fn router() -> Routes<AppState> {
    Routes::new().route_both_slashes("/kakao/channel", post(receive))
}

async fn receive(
    State(state): State<AppState>,
    _admin: KakaoAdmin,
    ResourceId(resource_id): ResourceId,
    WebhookParams(params): WebhookParams,
) -> Result<StatusCode, ApiError> {
    let event = required(&params, "event")?;
    let relation = Relation::parse(event).map_err(|_| {
        ApiError::bad_request(
            "invalid_request",
            format!("event must be \"added\" or \"blocked\", not {event:?}"),
        )
    })?;
    let user_id = required_id(&params, "id", UserId::parse)?;
    let id_type = required(&params, "id_type")?;
    // The plus_friend_* names are deprecated (2021) but still sent.
    let id_name = if required(&params, "channel_public_id").is_ok() {
        "channel_public_id"
    } else {
        "plus_friend_public_id"
    };
    let channel_public_id = required_id(&params, id_name, ChannelPublicId::parse)?;
    let channel_uuid = ["channel_uuid", "plus_friend_uuid"]
        .iter()
        .find_map(|name| params.get(*name).filter(|v| !v.is_empty()))
        .cloned();
    let changed_at = match params.get("updated_at").filter(|v| !v.is_empty()) {
        Some(text) => parse_time(text)?,
        None => now_millis(),
    };
    let event = NewEvent {
        source: Source::Channel,
        dedupe: Dedupe::Key(resource_id.to_string()),
        event_type: format!("channel.{relation}"),
        user_id: Some(user_id.clone()),
        event_time: Some(changed_at),
        payload: Payload::of(&params),
        effects: vec![Effect::ChannelRelation(ChannelRelation {
            user_id,
            id_type: id_type.to_owned(),
            channel_public_id,
            channel_uuid,
            relation,
            changed_at,
        })],
        unapplied_reason: None,
    };
    Family::CHANNEL.store(&state.storage, &[event]).await?;
    Ok(StatusCode::OK)
}

/// `updated_at` as Unix milliseconds; Kakao sends RFC 3339 (`2020-01-01T00:00:00Z`).
fn parse_time(text: &str) -> Result<i64, ApiError> {
    let time = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
        ApiError::bad_request(
            "invalid_request",
            format!("updated_at {text:?} is not an RFC 3339 time"),
        )
    })?;
    Ok(i64::try_from(time.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX))
}
