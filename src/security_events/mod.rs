//! Kakao Login account status change webhook: `POST /kakao/events`.
//!
//! The body is one Security Event Token (RFC 8417) pushed per RFC 8935:
//! verified against Kakao's key set ([`jwks`], [`verify`]), read into typed
//! events (`kakao_protocol::security_event`), stored with their effects
//! ([`effects`]), and only then answered `202`.
//! A SET that fails validation gets `400 {"err","description"}`; our own
//! failures (no key set, storage down) get 503, never an `err`, so Kakao
//! retries and nothing is acknowledged that is not kept.

pub mod effects;
pub mod jwks;
pub mod verify;

use std::sync::Arc;

use axum::{
    Json,
    extract::{FromRef, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use bytes::Bytes;
use secrecy::ExposeSecret;
use serde_json::json;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use self::{
    jwks::{KeySource, KeyStore},
    verify::{SetError, Verifier},
};
use crate::{
    clock::now_millis,
    config::Settings,
    delivery::Family,
    http::{error::ApiError, routes::Routes},
    storage::{Dedupe, NewEvent, Payload, Recorded, Source, Storage},
};

pub fn router<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    SetState: FromRef<S>,
{
    Routes::new().route_both_slashes("/kakao/events", post(receive))
}

/// What the account status change webhook uses of the server's state.
#[derive(Clone)]
pub struct SetState {
    /// Present when `KAKAO_REST_API_KEY` is set.
    pub service: Option<Arc<SecurityEvents>>,
    pub storage: Storage,
}

/// Verifies and stores SETs; present when `KAKAO_REST_API_KEY` is set.
pub struct SecurityEvents {
    keys: Arc<KeyStore>,
    verifier: Verifier,
    issuer: String,
    /// Queue a profile refresh job on user-profile-changed.
    refresh_profiles: bool,
}

impl SecurityEvents {
    pub fn from_settings(settings: &Settings, client: reqwest::Client) -> Option<Self> {
        let audience = settings
            .kakao_rest_api_key
            .as_ref()?
            .expose_secret()
            .to_owned();
        // Compared exactly as Kakao writes it: "https://kauth.kakao.com".
        let issuer = settings
            .kakao_issuer
            .as_str()
            .trim_end_matches('/')
            .to_owned();
        let source = match &settings.kakao_jwks_url {
            Some(url) => KeySource::Jwks(url.clone()),
            None => KeySource::Discover(settings.kakao_issuer.clone()),
        };
        let keys = Arc::new(KeyStore::new(
            source,
            client,
            settings.kakao_jwks_timeout_ms,
            settings.kakao_jwks_refetch_cooldown_ms,
        ));
        let verifier = Verifier::new(Arc::clone(&keys), &issuer, &audience);
        Some(Self {
            keys,
            verifier,
            issuer,
            refresh_profiles: settings.kakao_profile_refresh,
        })
    }

    /// Loads the key set now and keeps it fresh until `shutdown`, without
    /// delaying start-up.
    pub fn start(&self, tasks: &TaskTracker, shutdown: CancellationToken) {
        tasks.spawn(Arc::clone(&self.keys).refresh_in_background(shutdown));
    }

    pub fn keys_loaded(&self) -> bool {
        self.keys.is_loaded()
    }

    /// The last fetch of the key set and how it went.
    pub fn last_key_fetch(&self) -> Option<jwks::LastFetch> {
        self.keys.last_fetch()
    }

    /// The current key set's `kid`s.
    pub fn key_ids(&self) -> Vec<String> {
        self.keys.kids()
    }

    /// Kakao's key set cannot be refreshed and is past its lifetime.
    pub fn keys_stale(&self) -> bool {
        self.keys.is_stale()
    }

    /// How long ago the current key set was fetched.
    pub fn key_set_age(&self) -> Option<std::time::Duration> {
        self.keys.age()
    }
}

async fn receive(State(state): State<SetState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(service) = state.service.as_deref() else {
        return ApiError::not_configured("KAKAO_REST_API_KEY").into_response();
    };
    let (events, times) = match verified_events(service, &headers, &body).await {
        Ok(events) => events,
        Err(err) => {
            let code = err.code().unwrap_or("unavailable");
            metrics::counter!("kakao_set_rejections_total", "err" => code).increment(1);
            if let SetError::OurFault { reason, .. } = &err {
                metrics::counter!("kakao_set_our_fault_total", "reason" => *reason).increment(1);
                tracing::error!(reason, detail = %crate::telemetry::loggable(&err.to_string()), "a SET answered 503: our own state may be wrong, not the token");
            }
            tracing::warn!(set.err = code, reason = %crate::telemetry::loggable(&err.to_string()), "security event token refused");
            return set_error_response(&err);
        }
    };
    let recorded = match Family::SECURITY_EVENTS.store(&state.storage, &events).await {
        Ok(recorded) => recorded,
        Err(error) => return error.into_response(),
    };
    let stored = events
        .iter()
        .zip(recorded)
        .filter(|(_, recorded)| matches!(recorded, Recorded::Stored { .. }));
    for (event, _) in stored.filter(|(event, _)| event.unapplied_reason.is_some()) {
        // The type label only for types we know: an unknown URI is Kakao's to
        // choose, and a label per URI would grow without bound.
        let known = !event.event_type.contains("://");
        let label = if known {
            event.event_type.clone()
        } else {
            "unknown".into()
        };
        metrics::counter!("kakao_set_events_unapplied_total", "type" => label).increment(1);
        tracing::warn!(
            event.type = %crate::telemetry::loggable(&event.event_type),
            reason = %crate::telemetry::loggable(event.unapplied_reason.as_deref().unwrap_or_default()),
            "security event stored unapplied"
        );
    }
    // How long after Kakao says each change happened it took effect.
    let now = now_millis();
    for time in times {
        metrics::histogram!("kakao_event_apply_lag_seconds")
            .record((now - time).max(0) as f64 / 1000.0);
    }
    StatusCode::ACCEPTED.into_response()
}

/// The SET verified and read into the events to store (and when each
/// happened); nothing is stored unless all of it is valid.
async fn verified_events(
    service: &SecurityEvents,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(Vec<NewEvent>, Vec<i64>), SetError> {
    check_content_type(headers)?;
    let token = std::str::from_utf8(body)
        .map_err(|_| SetError::InvalidRequest("the body is not UTF-8 text".into()))?
        .trim();
    let verified = service.verifier.verify(token).await?;
    let claims = &verified.claims;
    let parsed = kakao_protocol::security_event::parse(claims, &service.issuer);
    let times = parsed.iter().map(|event| event.time).collect();
    let events = parsed
        .iter()
        .map(|parsed| NewEvent {
            source: Source::SecurityEvent,
            // RFC 8935: a SET delivered again is answered as if new, changing nothing.
            dedupe: Dedupe::Key(format!("{} {} {}", claims.iss, claims.jti, parsed.uri)),
            event_type: parsed.type_name().to_owned(),
            user_id: parsed.user_id.clone(),
            event_time: Some(parsed.time),
            payload: payload(&verified),
            effects: effects_of(parsed, service.refresh_profiles),
            unapplied_reason: parsed.unapplied_reason().map(str::to_owned),
        })
        .collect();
    Ok((events, times))
}

/// `{"kid", "claims"}`, the claims as Kakao signed them. Serialized around
/// the claims' `RawValue`, which is copied as it is: read as JSON once
/// already, it is not checked again (that was about 6,000 instructions a
/// SET).
fn payload(verified: &verify::VerifiedSet) -> Payload {
    #[derive(serde::Serialize)]
    struct Signed<'a> {
        kid: &'a str,
        claims: &'a serde_json::value::RawValue,
    }
    Payload::of(&Signed {
        kid: &verified.kid,
        claims: &verified.raw_claims,
    })
}

/// The event's effects, plus a refresh job when profiles are refreshed.
fn effects_of(
    parsed: &kakao_protocol::security_event::ParsedEvent,
    refresh_profiles: bool,
) -> Vec<crate::storage::Effect> {
    let mut effects = effects::effects(parsed);
    if let (
        true,
        kakao_protocol::security_event::SecurityEvent::UserProfileChanged,
        Some(user_id),
    ) = (refresh_profiles, &parsed.event, &parsed.user_id)
    {
        effects.push(crate::storage::Effect::QueueProfileRefresh {
            user_id: user_id.clone(),
        });
    }
    effects
}

/// `application/secevent+jwt`, any case, parameters allowed.
fn check_content_type(headers: &HeaderMap) -> Result<(), SetError> {
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|value| value.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if media_type == "application/secevent+jwt" {
        Ok(())
    } else {
        Err(SetError::InvalidRequest(
            "Content-Type must be application/secevent+jwt".into(),
        ))
    }
}

/// RFC 8935 §2.3: `400` with `{"err","description"}`; 503 for our own failures.
fn set_error_response(err: &SetError) -> Response {
    match err.code() {
        Some(code) => {
            let mut response = (
                StatusCode::BAD_REQUEST,
                Json(json!({"err": code, "description": err.to_string()})),
            )
                .into_response();
            // For the console: why the SET was refused.
            response
                .extensions_mut()
                .insert(crate::http::error::Refusal(format!("{code}: {err}")));
            response
        }
        None => {
            let code = match err {
                SetError::OurFault { .. } => "our_state",
                _ => "keys_unavailable",
            };
            let mut response = ApiError::unavailable_logged(code).into_response();
            response
                .extensions_mut()
                .insert(crate::http::error::Refusal(format!("{code}: {err}")));
            if let SetError::RetryLater { after, .. } = err {
                // Whole seconds, rounded up: retrying earlier would find the cooldown.
                let secs = after.as_millis().div_ceil(1000).max(1);
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, header::HeaderValue::from(secs as u64));
            }
            response
        }
    }
}
