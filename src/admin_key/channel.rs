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
use kakao_protocol::admin_key::{ChannelChange, Params};

use super::{AdminKeyState, KakaoAdmin, ResourceId, WebhookParams, invalid, store_or_spool};
use crate::{
    clock::now_millis,
    delivery::{Family, spool::Spooled},
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
    let change = ChannelChange::read(&params).map_err(invalid)?;
    let received_at = now_millis();
    let event = event(change, resource_id.as_str(), &params, received_at);
    let spooled = || Spooled {
        family: Family::CHANNEL.name.into(),
        received_at,
        resource_id: Some(resource_id.to_string()),
        params: params.clone(),
    };
    store_or_spool(&state, Family::CHANNEL, event, spooled).await
}

/// The event of a channel change; a change without `updated_at` happened
/// when it was received.
pub fn event(
    change: ChannelChange,
    resource_id: &str,
    params: &Params,
    received_at: i64,
) -> NewEvent {
    let ChannelChange {
        relation,
        user_id,
        id_type,
        channel_public_id,
        channel_uuid,
        updated_at,
    } = change;
    let relation = Relation::from(relation);
    let changed_at = updated_at.unwrap_or(received_at);
    NewEvent {
        source: Source::Channel,
        dedupe: Dedupe::Key(resource_id.to_owned()),
        event_type: format!("channel.{relation}"),
        user_id: Some(user_id.clone()),
        event_time: Some(changed_at),
        payload: Payload::of(params),
        effects: vec![Effect::ChannelRelation(ChannelRelation {
            user_id,
            id_type,
            channel_public_id,
            channel_uuid,
            relation,
            changed_at,
        })],
        unapplied_reason: None,
    }
}
