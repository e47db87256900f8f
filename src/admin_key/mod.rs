//! The webhooks Kakao authenticates with the app's admin key, each a module
//! owning its route: [`unlink`] (Kakao Login), [`channel`] (Kakao Talk
//! Channel add/block) and [`share`] (Kakao Talk Share). What they share is
//! here: `Authorization: KakaoAK <admin key>`, the `X-Kakao-Resource-ID`
//! header, and parameters from a query, a form or JSON.

pub mod channel;
pub mod replay;
pub mod share;
pub mod unlink;

use std::sync::Arc;

use axum::{
    extract::{FromRef, FromRequest, FromRequestParts, Request},
    http::{HeaderMap, Method, header, request::Parts},
};
use bytes::Bytes;
use kakao_protocol::admin_key::{self, FormError, Params};

use axum::http::StatusCode;

use crate::{
    config::Settings,
    delivery::{
        Family,
        spool::{Spool, Spooled},
    },
    http::{error::ApiError, matches_any, routes::Routes},
    ids,
    storage::{NewEvent, Storage},
    telemetry::Chain,
};

/// The routes of every admin-key webhook.
pub fn router<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    AdminKeyState: FromRef<S>,
{
    Routes::new()
        .merge(unlink::router())
        .merge(channel::router())
        .merge(share::router())
}

/// What the admin-key webhooks use of the server's state.
#[derive(Clone)]
pub struct AdminKeyState {
    pub settings: Arc<Settings>,
    pub storage: Storage,
    /// Where a delivery goes when storage cannot take it in time.
    pub spool: Arc<Spool>,
}

/// Store, then acknowledge; and when storage cannot take the delivery in
/// time, spool it (fsync'd) and acknowledge that: Kakao does not send these
/// again, so a 503 could lose a user's unlink for good. Kakao gets 503 only
/// when the spool cannot take it either.
async fn store_or_spool(
    state: &AdminKeyState,
    family: Family,
    event: NewEvent,
    spooled: impl FnOnce() -> Spooled,
) -> Result<StatusCode, ApiError> {
    let refused = match family
        .store(&state.storage, std::slice::from_ref(&event))
        .await
    {
        Ok(_) => return Ok(StatusCode::OK),
        Err(refused) => refused,
    };
    let entry = spooled();
    let spool = Arc::clone(&state.spool);
    match tokio::task::spawn_blocking(move || spool.append(&entry)).await {
        Ok(Ok(())) => {
            metrics::counter!("kakao_spooled_total", "family" => family.name).increment(1);
            tracing::warn!(
                webhook.family = family.name,
                "storage could not take the delivery in time; spooled, answered 200, replayed when storage answers"
            );
            Ok(StatusCode::OK)
        }
        Ok(Err(err)) => {
            tracing::error!(webhook.family = family.name, error = %Chain(&err), "cannot spool the delivery either; answering 503");
            Err(refused)
        }
        Err(_) => Err(refused),
    }
}

/// A request carrying one of our admin keys. Checked before anything else is
/// read, so an unauthenticated request learns nothing and changes nothing.
pub struct KakaoAdmin;

impl<S> FromRequestParts<S> for KakaoAdmin
where
    S: Send + Sync,
    AdminKeyState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let settings = &AdminKeyState::from_ref(state).settings;
        if settings.kakao_admin_key.is_none() {
            return Err(ApiError::not_configured("KAKAO_ADMIN_KEY"));
        }
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("KakaoAK"))
            .map(|(_, key)| key.trim());
        let Some(presented) = presented else {
            return Err(ApiError::unauthorized(
                Some("KakaoAK"),
                "missing Authorization: KakaoAK <admin key>",
            ));
        };
        if matches_any(presented.as_bytes(), settings.admin_keys()) {
            Ok(Self)
        } else {
            Err(ApiError::unauthorized(
                Some("KakaoAK"),
                "the admin key does not match",
            ))
        }
    }
}

/// `X-Kakao-Resource-ID`, required: the dedupe key of a delivery.
pub struct ResourceId(pub ids::ResourceId);

impl<S: Send + Sync> FromRequestParts<S> for ResourceId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let value = parts
            .headers
            .get("x-kakao-resource-id")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        if value.trim().is_empty() {
            return Err(ApiError::bad_request(
                "invalid_request",
                "missing X-Kakao-Resource-ID header",
            ));
        }
        ids::ResourceId::parse(value)
            .map(Self)
            .map_err(|err| ApiError::bad_request("invalid_request", err.to_string()))
    }
}

/// A webhook's parameters as Kakao sends them: the query of a GET; a POST's
/// form or JSON body (the query when the body is empty).
pub struct WebhookParams(pub Params);

impl<S: Send + Sync> FromRequest<S> for WebhookParams {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let (parts, body) = request.into_parts();
        let body = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(|rejection| {
                ApiError::new(rejection.status(), "invalid_request", rejection.body_text())
            })?;
        parameters(&parts.method, parts.uri.query(), &parts.headers, &body).map(Self)
    }
}

/// The parameters as Kakao sent them, read by [`admin_key::parameters`].
fn parameters(
    method: &Method,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Params, ApiError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.to_ascii_lowercase().contains("json"));
    admin_key::parameters(method == Method::POST, query, json, body).map_err(invalid)
}

/// A webhook's parameters that Kakao's form does not allow: 400, named.
pub fn invalid(err: FormError) -> ApiError {
    ApiError::bad_request("invalid_request", err.to_string())
}
