//! What every request passes through once, as one layer around the router:
//! a request id (the proxy's, or one made here, echoed on the answer),
//! secret headers hidden from logs, the request's span, panics answered 500,
//! the request timeout answered 503, and the console's record of each Kakao
//! delivery. The per-route layer [`RouteMetricsLayer`] counts requests by
//! route template, which only the router knows.
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
        Arc, LazyLock, OnceLock, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll, ready},
    time::{Duration, Instant},
};

use axum::{
    extract::{MatchedPath, Request},
    http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
};
use futures_util::{FutureExt, future::CatchUnwind};
use metrics::{Counter, Histogram};
use rustc_hash::FxHashMap;
use tokio::time::{Timeout, error::Elapsed};
use tower::{Layer, Service};
use tracing::{Instrument, instrument::Instrumented};

use crate::{console::deliveries, error::ApiError, state::AppState, telemetry};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The outer layer's settings, shared by every request.
struct Shared {
    sensitive: Vec<HeaderName>,
    timeout: Duration,
    state: AppState,
}

/// `inner` (the router) with what every request passes through.
#[derive(Clone)]
pub struct Edge<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Edge<S> {
    pub fn new(inner: S, state: AppState) -> Self {
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
        let answering = span.in_scope(|| self.inner.call(request));
        let deadline = tokio::time::Instant::from_std(started) + self.shared.timeout;
        let bounded = tokio::time::timeout_at(deadline, AssertUnwindSafe(answering).catch_unwind());
        EdgeFuture {
            answering: deliveries::scoped(bounded).instrument(span),
            started,
            id: Some(id),
            kakao,
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
        if let Some(kakao) = *this.kakao {
            let stored = this.answering.as_mut().inner_pin_mut().take_value();
            deliveries::record(
                &this.shared.state.deliveries,
                kakao,
                *this.started,
                &response,
                stored,
            );
        }
        this.answering
            .span()
            .in_scope(|| finished(&response, *this.started));
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

/// One line per answer, at INFO, in the request's span; 5xx at ERROR.
fn finished(response: &Response, started: Instant) {
    let status = response.status().as_u16();
    if status >= 500 {
        tracing::error!(
            status,
            latency_ms = started.elapsed().as_millis() as u64,
            "response failed"
        );
    } else {
        tracing::info!(
            status,
            latency_ms = started.elapsed().as_millis() as u64,
            "finished processing request"
        );
    }
}

/// In one pass over the headers: the request's id (the proxy's, or a new
/// one), and the secret headers marked sensitive, so that no `Debug` of
/// the request shows them. One pass, as hashing each name was 3% of a GET.
fn read_headers(headers: &mut HeaderMap, sensitive: &[HeaderName]) -> HeaderValue {
    let mut id = None;
    for (name, value) in headers.iter_mut() {
        if *name == REQUEST_ID {
            id.get_or_insert_with(|| value.clone());
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

/// Counts requests and records their latency by route template and status
/// (a route layer: it sees matched routes; `unmatched` counts the rest).
/// Unusual methods share one label, so scanners cannot grow the series.
#[derive(Clone, Copy, Default)]
pub struct RouteMetricsLayer;

impl<S> Layer<S> for RouteMetricsLayer {
    type Service = RouteMetrics<S>;

    fn layer(&self, inner: S) -> RouteMetrics<S> {
        RouteMetrics(inner)
    }
}

#[derive(Clone)]
pub struct RouteMetrics<S>(S);

impl<S> Service<Request> for RouteMetrics<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = MetricsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        MetricsFuture {
            route: request.extensions().get::<MatchedPath>().cloned(),
            method: method_label(request.method()),
            started: Instant::now(),
            inner: self.0.call(request),
        }
    }
}

pin_project_lite::pin_project! {
    pub struct MetricsFuture<F> {
        #[pin]
        inner: F,
        route: Option<MatchedPath>,
        method: &'static str,
        started: Instant,
    }
}

impl<F, E> Future for MetricsFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let answered = ready!(this.inner.poll(cx));
        if let Ok(response) = &answered {
            let route = this.route.as_ref().map_or("unmatched", MatchedPath::as_str);
            let (requests, duration) =
                request_metrics(this.method, route, response.status().as_u16());
            requests.increment(1);
            duration.record(this.started.elapsed().as_secs_f64());
        }
        Poll::Ready(answered)
    }
}

/// The answer for a path no route matches: a JSON 404, counted under the
/// one route label `unmatched`.
pub async fn unmatched(method: Method) -> ApiError {
    request_metrics(method_label(&method), "unmatched", 404)
        .0
        .increment(1);
    ApiError::not_found("no such path")
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

type RequestMetrics = (Counter, Histogram);
/// route → (method, status) → handles. Fx: the keys are our own route
/// templates, not an attacker's, and SipHash was 2% of a GET.
type HandlesByRoute = FxHashMap<String, FxHashMap<(&'static str, u16), RequestMetrics>>;

/// The handles for one (method, route, status), registered once: building
/// the label key and finding it in the registry on every request was 7% of
/// the CPU serving GETs (BENCHMARKS.md). Routes are the router's templates,
/// so the map stays small.
fn request_metrics(method: &'static str, route: &str, status: u16) -> RequestMetrics {
    static HANDLES: LazyLock<RwLock<HandlesByRoute>> = LazyLock::new(Default::default);
    if let Some(found) = HANDLES
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .get(route)
        .and_then(|by_route| by_route.get(&(method, status)))
    {
        return found.clone();
    }
    let labels = [
        ("method", method.to_owned()),
        ("route", route.to_owned()),
        ("status", status.to_string()),
    ];
    let handles = (
        metrics::counter!("http_requests_total", &labels),
        metrics::histogram!("http_request_duration_seconds", &labels),
    );
    HANDLES
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .entry(route.to_owned())
        .or_default()
        .insert((method, status), handles.clone());
    handles
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
