//! The error every HTTP handler returns, and the policy for it.
//!
//! Client errors (`bad_request`, `unauthorized`, …) say what was wrong in a
//! JSON body `{"error": code, "message": text}`. Failures of our own (storage
//! down, a dependency unreachable) answer 503 so Kakao retries, and their
//! detail goes to the log, never to the caller, once: where it is handled.
//! Errors keep their causes as `source()`s; [`Chain`] prints the whole chain.

pub use crate::telemetry::Chain;

use axum::{
    Json,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// The `WWW-Authenticate` scheme of a 401.
    pub challenge: Option<&'static str>,
    /// One more field of the body (the violations of a 422, say).
    pub details: Option<(&'static str, serde_json::Value)>,
}

/// Why a request was refused, put on the response for the delivery log.
#[derive(Clone, Debug)]
pub struct Refusal(pub String);

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: &'a str,
    #[serde(flatten)]
    details: Option<serde_json::Map<String, serde_json::Value>>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            challenge: None,
            details: None,
        }
    }

    /// Adds `name: value` to the error's body.
    pub fn with_details(mut self, name: &'static str, value: serde_json::Value) -> Self {
        self.details = Some((name, value));
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401; `challenge` is the scheme the caller should use (`KakaoAK`, `Bearer`).
    pub fn unauthorized(challenge: Option<&'static str>, message: impl Into<String>) -> Self {
        Self {
            challenge,
            ..Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// A family whose settings are missing: 503 naming the setting, never a 2xx.
    pub fn not_configured(setting: &'static str) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_configured",
            format!("{setting} is not set; this webhook cannot be accepted yet"),
        )
    }

    /// Our own failure: logged here with its cause, reported as 503.
    pub fn unavailable(code: &'static str, cause: &(dyn std::error::Error + 'static)) -> Self {
        tracing::error!(error.code = code, error = %Chain(cause), "answering 503");
        Self::unavailable_logged(code)
    }

    /// Our own failure whose cause was already logged where it happened.
    pub fn unavailable_logged(code: &'static str) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            code,
            "temporarily unavailable; retry later",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(ErrorBody {
            error: self.code,
            message: &self.message,
            details: self
                .details
                .map(|(name, value)| std::iter::once((name.to_owned(), value)).collect()),
        });
        let mut response = (self.status, body).into_response();
        // For the console's live page: why a delivery was refused.
        response
            .extensions_mut()
            .insert(Refusal(self.message.clone()));
        if let Some(scheme) = self.challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static(scheme),
            );
        }
        response
    }
}
