//! Kakao Login unlink callback: `GET|POST /kakao/unlink`.
//!
//! Kakao sends it after a user unlinked the app outside the service; it does
//! not retry, so the notice is stored before the 200. Its effect: status
//! `unlinked`, every session revoked, email and phone erased, a tombstone kept.

use axum::{
    extract::{FromRef, State},
    http::StatusCode,
    routing::get,
};
use serde_json::json;

use kakao_protocol::admin_key::Unlink;

use super::{AdminKeyState, KakaoAdmin, WebhookParams, invalid, store_or_spool};
use crate::{
    clock::now_millis,
    delivery::Family,
    delivery::spool::Spooled,
    http::{error::ApiError, routes::Routes},
    storage::{Dedupe, Effect, NewEvent, Source},
};

pub fn router<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    AdminKeyState: FromRef<S>,
{
    Routes::new().route_both_slashes("/kakao/unlink", get(receive).post(receive))
}

async fn receive(
    State(state): State<AdminKeyState>,
    _admin: KakaoAdmin,
    WebhookParams(params): WebhookParams,
) -> Result<StatusCode, ApiError> {
    let Some(our_app_id) = state.settings.kakao_app_id.as_deref() else {
        return Err(ApiError::not_configured("KAKAO_APP_ID"));
    };
    let unlink = Unlink::read(&params).map_err(invalid)?;
    if unlink.app_id != our_app_id {
        return Err(ApiError::bad_request(
            "unknown_app",
            format!(
                "app_id {} is not this service's app (KAKAO_APP_ID)",
                unlink.app_id
            ),
        ));
    }
    let received_at = now_millis();
    let spooled = || Spooled {
        family: Family::UNLINK.name.into(),
        received_at,
        resource_id: None,
        params: params.clone(),
    };
    store_or_spool(&state, Family::UNLINK, event(unlink, None), spooled).await
}

/// The event of an unlink; `received_at` is its time when it is replayed
/// from the spool (live, Kakao sends none: the unlink happened just before).
pub fn event(unlink: Unlink, received_at: Option<i64>) -> NewEvent {
    let Unlink {
        app_id,
        user_id,
        referrer_type,
        group_user_token,
    } = unlink;
    NewEvent {
        source: Source::Unlink,
        dedupe: Dedupe::UntilRelinked {
            base: format!("{app_id}:{user_id}:{referrer_type}"),
            user_id: user_id.clone(),
        },
        event_type: "unlink".into(),
        user_id: Some(user_id.clone()),
        event_time: received_at,
        payload: json!({
            "app_id": app_id,
            "user_id": user_id,
            "referrer_type": referrer_type,
            "group_user_token": group_user_token,
        })
        .into(),
        effects: vec![Effect::Unlink {
            user_id,
            reason: referrer_type,
        }],
        unapplied_reason: None,
    }
}
