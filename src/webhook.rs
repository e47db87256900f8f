//! What the admin-key webhooks (unlink, channel, share) share: Kakao's
//! `Authorization: KakaoAK <admin key>`, the `X-Kakao-Resource-ID` header,
//! parameters from a query, a form or JSON, and storing before answering.

use std::{collections::BTreeMap, time::Duration};

use axum::{
    extract::{FromRequest, FromRequestParts, Request},
    http::{HeaderMap, Method, StatusCode, header, request::Parts},
};
use bytes::Bytes;

use crate::{
    app::AppState,
    error::ApiError,
    http::secret_matches,
    storage::{NewEvent, Recorded},
};

/// Storage gets this long; Kakao gives up after 3 s and a 503 makes it retry.
const STORE_TIMEOUT: Duration = Duration::from_millis(2500);
/// Longest `X-Kakao-Resource-ID` accepted (Kakao's look like 24 characters).
const MAX_RESOURCE_ID: usize = 128;

/// A request carrying one of our admin keys. Checked before anything else is
/// read, so an unauthenticated request learns nothing and changes nothing.
pub struct KakaoAdmin;

impl FromRequestParts<AppState> for KakaoAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let settings = &state.settings;
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
        // Every key is compared, so timing does not tell which one matched.
        let matched = settings.admin_keys().fold(false, |found, key| {
            secret_matches(presented.as_bytes(), key) | found
        });
        if matched {
            Ok(Self)
        } else {
            Err(ApiError::unauthorized(
                Some("KakaoAK"),
                "the admin key does not match",
            ))
        }
    }
}

/// `X-Kakao-Resource-ID`: Kakao's id of one delivery, the dedupe key.
pub struct ResourceId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ResourceId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let value = parts
            .headers
            .get("x-kakao-resource-id")
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
            .unwrap_or_default();
        if value.is_empty() {
            return Err(ApiError::bad_request(
                "invalid_request",
                "missing X-Kakao-Resource-ID header",
            ));
        }
        if value.len() > MAX_RESOURCE_ID || !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ApiError::bad_request(
                "invalid_request",
                "X-Kakao-Resource-ID must be at most 128 printable ASCII characters",
            ));
        }
        Ok(Self(value.to_owned()))
    }
}

/// A webhook's parameters as Kakao sends them: the query of a GET; a POST's
/// form or JSON body (the query when the body is empty).
pub struct WebhookParams(pub BTreeMap<String, String>);

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

/// JSON values that are not strings keep their JSON text.
fn parameters(
    method: &Method,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<BTreeMap<String, String>, ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.to_ascii_lowercase().contains("json"));
    if method == Method::POST && !body.is_empty() {
        if is_json {
            let object: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(body)
                .map_err(|err| {
                ApiError::bad_request(
                    "invalid_request",
                    format!("the body is not a JSON object: {err}"),
                )
            })?;
            return Ok(object
                .into_iter()
                .map(|(key, value)| match value {
                    serde_json::Value::String(text) => (key, text),
                    other => (key, other.to_string()),
                })
                .collect());
        }
        return Ok(form_urlencoded::parse(body).into_owned().collect());
    }
    Ok(form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect())
}

/// A required, non-empty parameter.
pub fn required<'a>(params: &'a BTreeMap<String, String>, name: &str) -> Result<&'a str, ApiError> {
    params
        .get(name)
        .map(|value| value.trim())
        .filter(|value| !value.is_empty())
        .ok_or_else(|| ApiError::bad_request("invalid_request", format!("missing {name}")))
}

/// Stores the event, then answers 200; a repeat also gets 200. Kakao is never
/// told "OK" about something that is not stored: storage failing or slow is 503.
pub async fn store_then_acknowledge(
    state: &AppState,
    family: &'static str,
    event: NewEvent,
) -> Result<StatusCode, ApiError> {
    let outcome = tokio::time::timeout(STORE_TIMEOUT, state.storage.record(&event)).await;
    let (label, result) = match outcome {
        Ok(Ok(Recorded::Stored { event_id })) => {
            tracing::info!(
                webhook.family = family,
                event.id = event_id,
                event.type = %event.event_type,
                user.id = event.user_id.as_deref().unwrap_or(""),
                outcome = "accepted",
                "webhook stored"
            );
            ("accepted", Ok(StatusCode::OK))
        }
        Ok(Ok(Recorded::Duplicate)) => {
            tracing::info!(webhook.family = family, event.type = %event.event_type, outcome = "duplicate", "webhook repeated; already stored");
            ("duplicate", Ok(StatusCode::OK))
        }
        Ok(Err(err)) => (
            "unavailable",
            Err(ApiError::unavailable("storage_unavailable", &err)),
        ),
        Err(_) => (
            "unavailable",
            Err(ApiError::unavailable(
                "storage_unavailable",
                &"storage timed out",
            )),
        ),
    };
    metrics::counter!("kakao_webhooks_received_total", "family" => family, "outcome" => label)
        .increment(1);
    if label == "unavailable" {
        metrics::counter!("kakao_storage_errors_total", "family" => family).increment(1);
    }
    result
}
