//! Routes that know their templates, and the request metrics counted by
//! them.
//!
//! Every router of the service is a [`Routes`]: axum's router and the
//! template of each route added to it. The server's `Edge`
//! labels each request with its template by matching the path itself
//! ([`RouteMetrics`], with matchit, as axum does), once, around the whole
//! router. A route layer reading axum's `MatchedPath` wrapped every route in
//! a second boxed service, cloned per request: with its metrics, 1,650 of a
//! GET's 18,300 instructions; counted here, the metrics cost 600
//! (BENCHMARKS.md). Counted at the edge, an answer the edge itself gives (a
//! timeout's 503, a panic's 500) is counted too.
//!
//! A route can only be added through [`Routes::route`], and a family's
//! `router()` returns `Routes`: no route goes unlabelled.

use std::{convert::Infallible, sync::RwLock, time::Duration};

use axum::{
    Router,
    extract::Request,
    http::Method,
    response::IntoResponse,
    routing::{MethodRouter, Route},
};
use metrics::{Counter, Histogram};
use rustc_hash::FxHashMap;
use tower::{Layer, Service};

/// An axum router and the templates of its routes.
pub struct Routes<S = ()> {
    router: Router<S>,
    templates: Vec<String>,
}

impl<S> Default for Routes<S>
where
    S: Clone + Send + Sync + 'static,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Routes<S>
where
    S: Clone + Send + Sync + 'static,
{
    pub fn new() -> Self {
        Self {
            router: Router::new(),
            templates: Vec::new(),
        }
    }

    /// Adds the route `template` (axum's syntax, `/api/users/{id}`).
    pub fn route(mut self, template: &str, methods: MethodRouter<S>) -> Self {
        self.router = self.router.route(template, methods);
        self.templates.push(template.to_owned());
        self
    }

    /// Adds `template` and `template/`: OpenBuilder and Kakao Developers
    /// take the URL exactly as typed, and a stray trailing slash is the most
    /// common failure.
    pub fn route_both_slashes(self, template: &str, methods: MethodRouter<S>) -> Self {
        self.route(template, methods.clone())
            .route(&format!("{template}/"), methods)
    }

    pub fn merge(mut self, other: Routes<S>) -> Self {
        self.router = self.router.merge(other.router);
        self.templates.extend(other.templates);
        self
    }

    /// axum's `Router::route_layer`: `layer` around each route added so far.
    pub fn route_layer<L>(mut self, layer: L) -> Self
    where
        L: Layer<Route> + Clone + Send + Sync + 'static,
        L::Service: Service<Request> + Clone + Send + Sync + 'static,
        <L::Service as Service<Request>>::Response: IntoResponse + 'static,
        <L::Service as Service<Request>>::Error: Into<Infallible> + 'static,
        <L::Service as Service<Request>>::Future: Send + 'static,
    {
        self.router = self.router.route_layer(layer);
        self
    }

    pub fn with_state<S2>(self, state: S) -> Routes<S2> {
        Routes {
            router: self.router.with_state(state),
            templates: self.templates,
        }
    }

    /// The router, and its templates for [`RouteMetrics::new`].
    pub fn into_parts(self) -> (Router<S>, Vec<String>) {
        (self.router, self.templates)
    }
}

/// A route's counter and latency histogram for one (method, status).
type Handles = (Counter, Histogram);
/// A route's handles by (method label, status), registered on first use.
type HandlesByAnswer = RwLock<FxHashMap<(&'static str, u16), Handles>>;

/// `http_requests_total` and `http_request_duration_seconds` by method,
/// route template and status. Any path no template matches is counted
/// under the route `unmatched`, with no latency. Unusual methods share one
/// label, so scanners cannot grow the series.
pub struct RouteMetrics {
    /// Templates without parameters, by their path: a hash lookup costs a
    /// quarter of matchit's walk, and Kakao's routes are all of this kind.
    exact: FxHashMap<String, usize>,
    templates: matchit::Router<usize>,
    /// Per route (by the index the matcher gives, `unmatched` last), its
    /// template and handles: building the label key and finding it in the
    /// registry on every request was 7% of the CPU serving GETs
    /// (BENCHMARKS.md).
    routes: Vec<(String, HandlesByAnswer)>,
}

/// A request's route: an index into [`RouteMetrics`]'s routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteId(usize);

impl RouteMetrics {
    /// For a router's `templates`; a template given twice counts once.
    pub fn new(templates: &[String]) -> Self {
        let mut exact = FxHashMap::default();
        let mut matcher = matchit::Router::new();
        let mut routes = Vec::new();
        for template in templates {
            if matcher.insert(template.as_str(), routes.len()).is_ok() {
                if !template.contains('{') {
                    exact.insert(template.clone(), routes.len());
                }
                routes.push((template.clone(), RwLock::default()));
            }
        }
        routes.push(("unmatched".to_owned(), RwLock::default()));
        Self {
            exact,
            templates: matcher,
            routes,
        }
    }

    /// The route whose template `path` matches.
    pub fn route(&self, path: &str) -> RouteId {
        if let Some(&exact) = self.exact.get(path) {
            return RouteId(exact);
        }
        RouteId(
            self.templates
                .at(path)
                .map_or(self.unmatched(), |found| *found.value),
        )
    }

    fn unmatched(&self) -> usize {
        self.routes.len() - 1
    }

    #[cfg(test)]
    fn template(&self, route: RouteId) -> &str {
        &self.routes[route.0].0
    }

    /// Counts an answer to `method` (its [`method_label`]) on `route` with
    /// `status`, which took `elapsed`.
    pub fn record(&self, route: RouteId, method: &'static str, status: u16, elapsed: Duration) {
        let (requests, duration) = self.handles(route, method, status);
        requests.increment(1);
        if route.0 != self.unmatched() {
            duration.record(elapsed.as_secs_f64());
        }
    }

    fn handles(&self, route: RouteId, method: &'static str, status: u16) -> Handles {
        let (template, by_answer) = &self.routes[route.0];
        if let Some(found) = by_answer
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&(method, status))
        {
            return found.clone();
        }
        let handles = registered(method, template, status);
        by_answer
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert((method, status), handles.clone());
        handles
    }
}

/// The handles for one series, from the recorder. Every [`RouteMetrics`]
/// (a server per test, two listeners) shares them, through the recorder.
fn registered(method: &'static str, route: &str, status: u16) -> Handles {
    let labels = [
        ("method", method.to_owned()),
        ("route", route.to_owned()),
        ("status", status.to_string()),
    ];
    (
        metrics::counter!("http_requests_total", &labels),
        metrics::histogram!("http_request_duration_seconds", &labels),
    )
}

/// The method's label: unusual ones share `other`.
pub fn method_label(method: &Method) -> &'static str {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_labelled_with_their_template_and_others_unmatched() {
        let routes = RouteMetrics::new(&[
            "/kakao/skill".to_owned(),
            "/kakao/skill/".to_owned(),
            "/api/users/{id}".to_owned(),
            "/kakao/skill".to_owned(),
        ]);
        let label = |path| routes.template(routes.route(path));
        assert_eq!(label("/kakao/skill"), "/kakao/skill");
        assert_eq!(label("/kakao/skill/"), "/kakao/skill/");
        assert_eq!(label("/api/users/12345"), "/api/users/{id}");
        assert_eq!(label("/api/users/12345/x"), "unmatched");
        assert_eq!(label("/no/such/path"), "unmatched");
    }
}
