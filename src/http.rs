//! Small HTTP helpers shared by every webhook family.

use std::time::Instant;

use axum::{
    Router,
    extract::{MatchedPath, Request},
    middleware::Next,
    response::Response,
    routing::MethodRouter,
};
use subtle::ConstantTimeEq;

/// Registers `path` and `path/`: OpenBuilder and Kakao Developers take the URL
/// exactly as typed, and a stray trailing slash is the most common failure.
pub fn route_both_slashes<S>(router: Router<S>, path: &str, methods: MethodRouter<S>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router
        .route(path, methods.clone())
        .route(&format!("{path}/"), methods)
}

/// Compares a presented secret with the expected one in constant time (for
/// equal lengths; a length mismatch fails at once, revealing only the length).
pub fn secret_matches(presented: &[u8], expected: &str) -> bool {
    presented.ct_eq(expected.as_bytes()).into()
}

/// Counts requests and records their latency by route template and status.
/// Unmatched paths share one label so scanners cannot grow the series.
pub async fn record_metrics(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().to_string();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

#[cfg(test)]
mod tests {
    use super::secret_matches;

    #[test]
    fn secrets_match_only_exactly() {
        assert!(secret_matches(b"s3cret", "s3cret"));
        assert!(!secret_matches(b"s3creT", "s3cret"));
        assert!(!secret_matches(b"s3cre", "s3cret"));
        assert!(!secret_matches(b"", "s3cret"));
    }
}
