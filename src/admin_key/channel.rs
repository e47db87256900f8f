//! Kakao Talk Channel add/block webhook: `POST /kakao/channel`.
//!
//! Records the user's relation with the channel. Deliveries can arrive out of
//! order, so a change older (by `updated_at`) than the stored one is kept in
//! the log but does not overwrite the relation.

use axum::{
    extract::{FromRef, State},
    http::StatusCode,
    routing::post,
};
use kakao_protocol::admin_key::ChannelChange;

use super::{AdminKeyState, KakaoAdmin, ResourceId, WebhookParams, invalid};
use crate::{
    clock::now_millis,
    delivery::Family,
    http::{error::ApiError, routes::Routes},
    storage::{ChannelRelation, Dedupe, Effect, NewEvent, Payload, Relation, Source},
};

pub fn router<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    AdminKeyState: FromRef<S>,
{
    Routes::new().route_both_slashes("/kakao/channel", post(receive))
}

async fn receive(
    State(state): State<AdminKeyState>,
    _admin: KakaoAdmin,
    ResourceId(resource_id): ResourceId,
    WebhookParams(params): WebhookParams,
) -> Result<StatusCode, ApiError> {
    let ChannelChange {
        relation,
        user_id,
        id_type,
        channel_public_id,
        channel_uuid,
        updated_at,
    } = ChannelChange::read(&params).map_err(invalid)?;
    let relation = Relation::from(relation);
    let changed_at = updated_at.unwrap_or_else(now_millis);
    let event = NewEvent {
        source: Source::Channel,
        dedupe: Dedupe::Key(resource_id.to_string()),
        event_type: format!("channel.{relation}"),
        user_id: Some(user_id.clone()),
        event_time: Some(changed_at),
        payload: Payload::of(&params),
        effects: vec![Effect::ChannelRelation(ChannelRelation {
            user_id,
            id_type,
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
