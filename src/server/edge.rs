//! What every request passes through once, as one layer around the router:
//! a request id (the proxy's, or one made here, echoed on the answer),
//! secret headers hidden from logs, the request's span, panics answered 500,
//! the request timeout answered 503, the request metrics by route template
//! ([`RouteMetrics`]), and the console's record of each Kakao delivery.
//!
//! Written by hand rather than stacked from tower-http's layers: each
//! stacked layer was a future, a move and often an allocation per request,
//! together about half of a GET's own instructions (BENCHMARKS.md).

use std::{
    convert::Infallible,
    future::Future,
    panic::AssertUnwindSafe,
    pin::Pin,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll, ready},
    time::{Duration, Instant},
};

use axum::{
    extract::Request,
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use futures_util::{FutureExt, future::CatchUnwind};
use tokio::time::{Timeout, error::Elapsed};
use tower::Service;
use tracing::{Instrument, instrument::Instrumented};

use crate::{
    delivery::log as deliveries,
    http::{
        error::ApiError,
        routes::{RouteId, RouteMetrics, method_label},
    },
    state::AppState,
    telemetry,
};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The outer layer's settings, shared by every request.
struct Shared {
    sensitive: Vec<HeaderName>,
    timeout: Duration,
    metrics: RouteMetrics,
    state: AppState,
}

/// `inner` (the router) with what every request passes through.
#[derive(Clone)]
pub struct Edge<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Edge<S> {
    /// `inner` is the router whose route templates `metrics` was built from.
    pub fn new(inner: S, metrics: RouteMetrics, state: AppState) -> Self {
        let settings = &state.settings;
        let sensitive = vec![
            axum::http::header::AUTHORIZATION,
            settings.skill_secret_header.clone(),
            settings.kakao_bot_webhook_header.clone(),
        ];
        let timeout = settings.request_timeout_ms;
        Self {
            inner,
            shared: Arc::new(Shared {
                sensitive,
                timeout,
                metrics,
                state,
            }),
        }
    }
}

impl<S> Service<Request> for Edge<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = EdgeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let started = Instant::now();
        let id = read_headers(request.headers_mut(), &self.shared.sensitive);
        // Fields are only evaluated when the span is enabled. The path
        // only: query strings can carry user ids.
        let span = tracing::info_span!(
            "request",
            http.method = %request.method(),
            http.path = %telemetry::loggable(request.uri().path()),
            request_id = %id.to_str().unwrap_or_default(),
        );
        let kakao = deliveries::family(request.uri().path());
        let route = self.shared.metrics.route(request.uri().path());
        let method = method_label(request.method());
        let answering = span.in_scope(|| self.inner.call(request));
        let deadline = tokio::time::Instant::from_std(started) + self.shared.timeout;
        let bounded = tokio::time::timeout_at(deadline, AssertUnwindSafe(answering).catch_unwind());
        EdgeFuture {
            answering: deliveries::scoped(bounded).instrument(span),
            started,
            id: Some(id),
            kakao,
            route,
            method,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The inner service's answer, bounded in time, panics caught, with the
/// console's record of what was stored, in the request's span.
type Answering<F> = Instrumented<deliveries::Scoped<Timeout<CatchUnwind<AssertUnwindSafe<F>>>>>;

pin_project_lite::pin_project! {
    /// A hand-written future rather than an `async` block: no box, and the
    /// inner future is never moved once built.
    pub struct EdgeFuture<F> {
        #[pin]
        answering: Answering<F>,
        started: Instant,
        id: Option<HeaderValue>,
        kakao: Option<(&'static str, u64)>,
        route: RouteId,
        method: &'static str,
        shared: Arc<Shared>,
    }
}

impl<F> Future for EdgeFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let outcome = ready!(this.answering.as_mut().poll(cx));
        let mut response = this.answering.span().in_scope(|| answer(outcome));
        if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
            response = too_large(
                response,
                this.shared.state.settings.request_body_limit_bytes,
            );
        }
        // One clock read for the metrics, the console and the log line.
        let elapsed = this.started.elapsed();
        let status = response.status().as_u16();
        this.shared
            .metrics
            .record(*this.route, this.method, status, elapsed);
        if let Some(kakao) = *this.kakao {
            let stored = this.answering.as_mut().inner_pin_mut().take_value();
            deliveries::record(
                &this.shared.state.deliveries,
                kakao,
                elapsed,
                &response,
                stored,
            );
        }
        this.answering.span().in_scope(|| finished(status, elapsed));
        if let Some(id) = this.id.take() {
            response.headers_mut().insert(REQUEST_ID, id);
        }
        Poll::Ready(Ok(response))
    }
}

/// The response, or 500 for a panic and 503 past the deadline.
fn answer(outcome: Result<std::thread::Result<Result<Response, Infallible>>, Elapsed>) -> Response {
    match outcome {
        Ok(Ok(Ok(response))) => response,
        Ok(Ok(Err(never))) => match never {},
        Ok(Err(_panic)) => {
            // The panic hook has printed the message and where.
            tracing::error!("the handler panicked; answering 500");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error",
            )
            .into_response()
        }
        Err(_elapsed) => {
            tracing::warn!("the request ran past REQUEST_TIMEOUT_MS; answering 503");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                "the request took longer than REQUEST_TIMEOUT_MS",
            )
            .into_response()
        }
    }
}

/// axum's body limit answers 413 in plain text; every other error is JSON,
/// so this one is too.
fn too_large(response: Response, limit: usize) -> Response {
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    if is_json {
        return response;
    }
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("the body is larger than {limit} bytes (REQUEST_BODY_LIMIT_BYTES)"),
    )
    .into_response()
}

/// One line per answer, at INFO, in the request's span; 5xx at ERROR.
fn finished(status: u16, elapsed: Duration) {
    let latency_ms = elapsed.as_millis() as u64;
    if status >= 500 {
        tracing::error!(status, latency_ms, "response failed");
    } else {
        tracing::info!(status, latency_ms, "finished processing request");
    }
}

/// The longest request id taken from a caller.
const MAX_REQUEST_ID: usize = 64;

/// In one pass over the headers: the request's id (the proxy's, when it is
/// at most 64 visible ASCII characters, or a new one), and the secret
/// headers marked sensitive, so that no `Debug` of the request shows them.
/// One pass, as hashing each name was 3% of a GET.
fn read_headers(headers: &mut HeaderMap, sensitive: &[HeaderName]) -> HeaderValue {
    let mut id = None;
    for (name, value) in headers.iter_mut() {
        if *name == REQUEST_ID {
            let bytes = value.as_bytes();
            if id.is_none()
                && (1..=MAX_REQUEST_ID).contains(&bytes.len())
                && bytes.iter().all(u8::is_ascii_graphic)
            {
                id = Some(value.clone());
            }
        } else if sensitive.contains(name) {
            value.set_sensitive(true);
        }
    }
    id.unwrap_or_else(new_request_id)
}

/// A request id unique across instances without a random draw per request
/// (a UUID v4 costs a `getrandom` system call each, 2.7% of the CPU serving
/// GETs under load): a random prefix drawn once per process, then a counter.
fn new_request_id() -> HeaderValue {
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let prefix =
        PREFIX.get_or_init(|| getrandom::u64().unwrap_or_else(|_| std::process::id().into()));
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    HeaderValue::from_bytes(&uuid_shaped(*prefix, n)).expect("hex and dashes are a valid header")
}

/// `prefix` and `n` as a UUID-shaped id (8-4-4-4-12 hex), as log tools
/// expect; written by hand, as `format!` was 2.3% of a GET's samples.
fn uuid_shaped(prefix: u64, n: u64) -> [u8; 36] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'-'; 36];
    // (value, digits, where they start)
    let groups = [
        (prefix >> 32, 8, 0),
        ((prefix >> 16) & 0xffff, 4, 9),
        (prefix & 0xffff, 4, 14),
        (n >> 48, 4, 19),
        (n & 0xffff_ffff_ffff, 12, 24),
    ];
    for (value, digits, start) in groups {
        for i in 0..digits {
            let nibble = (value >> (4 * (digits - 1 - i))) & 0xf;
            out[start + i] = HEX[nibble as usize];
        }
    }
    out
}

/// The answer for a path no route matches: a JSON 404 (counted by the
/// edge under the route `unmatched`).
pub async fn unmatched() -> ApiError {
    ApiError::not_found("no such path")
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_are_uuid_shaped_hex() {
        let id = super::uuid_shaped(0x0123_4567_89ab_cdef, 0x0001_0000_0000_002a);
        assert_eq!(
            std::str::from_utf8(&id).unwrap(),
            format!(
                "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
                0x0123_4567u64, 0x89abu64, 0xcdefu64, 1u64, 0x2au64
            )
        );
    }
}
