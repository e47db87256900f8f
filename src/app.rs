//! The one place the service is assembled: state, routes of every webhook
//! family, the middleware stack, and the serve loop with graceful shutdown.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use axum::{
    Router,
    http::{HeaderName, StatusCode, header},
    middleware,
};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::ServiceBuilder;
use tower_http::{
    catch_panic::CatchPanicLayer,
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
    sensitive_headers::SetSensitiveRequestHeadersLayer,
    timeout::TimeoutLayer,
    trace::{DefaultOnResponse, TraceLayer},
};
use tracing::Level;

use crate::{
    api, channel,
    config::Settings,
    health,
    profile_refresh::ProfileRefresher,
    security_events::{self, SecurityEvents},
    share,
    skill::{self, SkillHandler, SkillService},
    storage::Storage,
    telemetry, unlink,
};

/// What every handler may use, behind one `Arc`: axum clones the state for
/// each request, and one reference count is cheaper than one per part.
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

impl std::ops::Deref for AppState {
    type Target = AppParts;
    fn deref(&self) -> &AppParts {
        &self.0
    }
}

pub struct AppParts {
    pub settings: Arc<Settings>,
    pub storage: Storage,
    pub skill: Arc<SkillService>,
    /// Present when `KAKAO_REST_API_KEY` is set.
    pub security_events: Option<Arc<SecurityEvents>>,
    pub metrics: PrometheusHandle,
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request ids unique across instances without a random draw per request
/// (a UUID v4 costs a `getrandom` system call each, 2.7% of the CPU serving
/// GETs under load): a random prefix drawn once per process, then a counter.
#[derive(Clone, Copy)]
struct SequentialRequestId;

impl MakeRequestId for SequentialRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        static PREFIX: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let prefix =
            PREFIX.get_or_init(|| getrandom::u64().unwrap_or_else(|_| std::process::id().into()));
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Shaped as a UUID (8-4-4-4-12 hex), as log tools expect.
        let id = format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            prefix >> 32,
            (prefix >> 16) & 0xffff,
            prefix & 0xffff,
            n >> 48,
            n & 0xffff_ffff_ffff
        );
        axum::http::HeaderValue::from_str(&id)
            .ok()
            .map(RequestId::new)
    }
}

/// Every route with the middleware stack, outermost first: sensitive headers
/// hidden from logs, a request id, the trace span, panics turned into 500s,
/// the request timeout and the body limit.
pub fn router(state: AppState) -> Router {
    let settings = &state.settings;
    let sensitive = [header::AUTHORIZATION, settings.skill_secret_header.clone()];
    let layers = ServiceBuilder::new()
        .layer(SetSensitiveRequestHeadersLayer::new(sensitive))
        .layer(SetRequestIdLayer::new(REQUEST_ID, SequentialRequestId))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &axum::http::Request<_>| {
                    let id = request
                        .extensions()
                        .get::<RequestId>()
                        .and_then(|id| id.header_value().to_str().ok())
                        .unwrap_or_default();
                    // The path only: query strings can carry user ids.
                    tracing::info_span!(
                        "request",
                        http.method = %request.method(),
                        http.path = %request.uri().path(),
                        request_id = %id,
                    )
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(CatchPanicLayer::new())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            settings.request_timeout_ms,
        ))
        .layer(RequestBodyLimitLayer::new(
            settings.request_body_limit_bytes,
        ));

    Router::new()
        .merge(health::router())
        .merge(skill::router())
        .merge(unlink::router())
        .merge(channel::router())
        .merge(share::router())
        .merge(security_events::router())
        .merge(api::router(state.clone()))
        .route_layer(middleware::from_fn(crate::http::record_metrics))
        .fallback(crate::http::unmatched)
        .layer(layers)
        .with_state(state)
}

/// A bound server, ready to run. Binding in `build` lets callers (and tests,
/// with port 0) learn the address before serving.
pub struct Server {
    listener: TcpListener,
    state: AppState,
    tasks: TaskTracker,
    extra_routes: Option<Router>,
}

impl Server {
    /// Opens storage (applying migrations if `auto_migrate`), builds the state
    /// and binds `bind_addr`.
    pub async fn build(
        settings: Settings,
        skill_handler: Arc<dyn SkillHandler>,
    ) -> anyhow::Result<Self> {
        let storage = Storage::connect(&settings.database_url).await?;
        if settings.auto_migrate {
            storage.migrate().await?;
        }
        let listener = TcpListener::bind(settings.bind_addr)
            .await
            .with_context(|| format!("cannot listen on BIND_ADDR {}", settings.bind_addr))?;
        let tasks = TaskTracker::new();
        let skill = Arc::new(SkillService::new(&settings, skill_handler, tasks.clone()));
        let security_events = SecurityEvents::from_settings(&settings).map(Arc::new);
        let state = AppState(Arc::new(AppParts {
            settings: Arc::new(settings),
            storage,
            skill,
            security_events,
            metrics: telemetry::metrics_handle(),
        }));
        Ok(Self {
            listener,
            state,
            tasks,
            extra_routes: None,
        })
    }

    /// Serves `routes` too (dev mode's local Kakao).
    pub fn with_routes(mut self, routes: Router) -> Self {
        self.extra_routes = Some(routes);
        self
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` fires, then lets in-flight requests and pending
    /// skill callbacks finish within `shutdown_grace_ms`.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Self {
            listener,
            state,
            tasks,
            extra_routes,
        } = self;
        let grace = state.settings.shutdown_grace_ms;
        if let Some(events) = &state.security_events {
            events.start(shutdown.clone());
        }
        let settings = &state.settings;
        if let (true, Some(admin_key)) = (settings.kakao_profile_refresh, &settings.kakao_admin_key)
        {
            let refresher = ProfileRefresher::new(
                state.storage.clone(),
                settings.kakao_api_base_url.clone(),
                admin_key.clone(),
            );
            tasks.spawn(refresher.run(shutdown.clone()));
        }
        let storage = state.storage.clone();
        let metrics = state.metrics.clone();
        let key_set = state.security_events.clone();
        let app = match extra_routes {
            Some(extra) => router(state).merge(extra),
            None => router(state),
        };
        tracing::info!(addr = %listener.local_addr()?, "kakao-webhooks listening");

        let upkeep = tokio::spawn(async move {
            // Keeps the recorder's histogram buffers from growing.
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                metrics.run_upkeep();
                if let Some(age) = key_set.as_ref().and_then(|events| events.key_set_age()) {
                    metrics::gauge!("kakao_jwks_key_set_age_seconds").set(age.as_secs_f64());
                }
            }
        });
        let server = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.clone().cancelled_owned())
            .into_future();
        tokio::pin!(server);
        tokio::select! {
            result = &mut server => result.context("server failed")?,
            () = shutdown.cancelled() => {
                tracing::info!(grace_ms = grace.as_millis() as u64, "shutting down: draining requests");
                if tokio::time::timeout(grace, &mut server).await.is_err() {
                    tracing::warn!("requests still running after the grace period; closing them");
                }
            }
        }
        tasks.close();
        if tokio::time::timeout(grace, tasks.wait()).await.is_err() {
            tracing::warn!("skill callbacks still pending after the grace period; dropping them");
        }
        upkeep.abort();
        storage.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// A token cancelled on SIGINT or SIGTERM.
pub fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        #[cfg(unix)]
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            () = ctrl_c => {},
            () = terminate => {},
        }
        cancel.cancel();
    });
    token
}
