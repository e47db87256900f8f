//! The one place the service is assembled: the state, the routes of every
//! webhook family, the middleware stack, the background tasks, and the serve
//! loop with graceful shutdown.

use std::{convert::Infallible, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use axum::{
    extract::{DefaultBodyLimit, Request},
    response::Response,
};
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::{Layer, Service};

use crate::{
    admin_key, api,
    bot::{self, BotHandler, BotOutbox, gateway::Gateway, kakao_api::BotApi},
    config::Settings,
    delivery::log::DeliveryLog,
    http::auth_limit::AuthLimiter,
    http::routes::{RouteMetrics, Routes},
    http::source_filter::only_from_kakao,
    security_events::{self, SecurityEvents},
    server::{
        connections::{self, ConnectionLimits},
        edge::Edge,
        health,
        https::{self, Https},
        source_ips::KakaoList,
    },
    skill::{self, SkillHandler, SkillService},
    state::{AppParts, AppState},
    storage::{Storage, gateway::GatewayLease},
    telemetry,
    telemetry::Chain,
};

/// What Kakao calls, and the probes: the routes of the public listener.
/// With `KAKAO_SOURCE_IPS`, Kakao's routes answer only Kakao's addresses
/// (the layer is added only then: a route layer costs every request).
fn public_routes(state: &AppState) -> Routes<AppState> {
    let mut kakao = Routes::new()
        .merge(skill::router())
        .merge(admin_key::router())
        .merge(security_events::router())
        .merge(bot::router());
    if let Some(filter) = state.source_filter.clone() {
        kakao = kakao.route_layer(axum::middleware::from_fn_with_state(
            filter,
            only_from_kakao,
        ));
    }
    Routes::new().merge(health::router()).merge(kakao)
}

/// What only the team's own app and monitoring call.
fn internal_routes(state: &AppState) -> Routes<AppState> {
    Routes::new()
        .merge(health::metrics_router())
        .merge(api::router(state.clone()))
        .merge(crate::console::router(state.clone()))
}

/// What a listener serves: a router wrapped in the [`Edge`].
pub trait App:
    Service<Request, Response = Response, Error = Infallible, Future: Send> + Clone + Send + 'static
{
}

impl<T> App for T where
    T: Service<Request, Response = Response, Error = Infallible, Future: Send>
        + Clone
        + Send
        + 'static
{
}

/// `routes` as a listener serves them: a JSON 404 for any other path,
/// `extra` routes beside them (dev mode's local Kakao), the body limit, and
/// the [`Edge`] around all of it, counting requests by route template. Each
/// layer is applied once, around the whole router: a layer on the router
/// instead wraps every route, a boxed service cloned per request.
fn serving(routes: Routes<AppState>, state: AppState, extra: Option<Routes>) -> impl App {
    let limit = DefaultBodyLimit::max(state.settings.request_body_limit_bytes);
    let (router, mut templates) = routes.into_parts();
    let mut router = router
        .fallback(crate::server::edge::unmatched)
        .with_state(state.clone());
    if let Some(extra) = extra {
        let (extra, extra_templates) = extra.into_parts();
        router = router.merge(extra);
        templates.extend(extra_templates);
    }
    Edge::new(limit.layer(router), RouteMetrics::new(&templates), state)
}

/// A bound server, ready to run. Binding in `build` lets callers (and tests,
/// with port 0) learn the address before serving.
pub struct Server {
    listener: TcpListener,
    /// `INTERNAL_BIND_ADDR`'s listener, when set.
    internal: Option<TcpListener>,
    state: AppState,
    extra_routes: Option<Routes>,
    /// The gateway client and, when this instance holds it, its lease.
    gateway: Option<(Gateway, Option<GatewayLease>)>,
    /// With HTTPS on: the certificate and what keeps it current.
    https: Option<Https>,
    /// `HTTP_BIND_ADDR`'s listener, with HTTPS on.
    plain_http: Option<TcpListener>,
    /// `KAKAO_SOURCE_IPS=auto`: refreshes Kakao's list daily.
    kakao_list: Option<KakaoList>,
}

impl Server {
    /// Opens storage (applying migrations if `auto_migrate`), builds the state
    /// and binds `bind_addr`.
    pub async fn build(
        settings: Settings,
        skill_handler: Arc<dyn SkillHandler>,
    ) -> anyhow::Result<Self> {
        Self::build_with_bot(settings, skill_handler, Arc::new(bot::demo::demo_bot())).await
    }

    /// [`Server::build`] with your own KakaoTalk bot instead of the demo bot.
    pub async fn build_with_bot(
        settings: Settings,
        skill_handler: Arc<dyn SkillHandler>,
        bot_handler: Arc<dyn BotHandler>,
    ) -> anyhow::Result<Self> {
        settings.check_families()?;
        for warning in settings.check_exposure()? {
            tracing::warn!(setting.opt_out = %warning, "an entry point is open by choice");
        }
        let tasks = TaskTracker::new();
        let mut storage = Storage::connect(&settings.database_url, &tasks).await?;
        if settings.app_notify_url.is_some() {
            storage = storage.notifying_app();
        }
        let stream = match &settings.event_stream_url {
            Some(url) => {
                storage = storage.notifying_stream();
                let publisher = crate::outbound::stream::Publisher::new(
                    url.clone(),
                    settings.event_stream_create,
                    settings.event_stream_maxlen,
                );
                publisher
                    .check()
                    .await
                    .map_err(|why| anyhow::anyhow!("invalid setting EVENT_STREAM_URL: {why}"))?;
                Some(Arc::new(publisher))
            }
            None => None,
        };
        if settings.auto_migrate {
            storage.migrate().await?;
        }
        let listener = TcpListener::bind(settings.bind_addr)
            .await
            .with_context(|| format!("cannot listen on BIND_ADDR {}", settings.bind_addr))?;
        let https = Https::prepare(&settings, &storage).await?;
        let plain_http = https::bind_plain_http(&settings).await?;
        let internal = match settings.internal_bind_addr {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on INTERNAL_BIND_ADDR {addr}"))?,
            ),
            None => None,
        };
        let http = crate::http::outbound_client().context("cannot build the HTTP client")?;
        let (source_filter, kakao_list) =
            match crate::server::source_ips::prepare(&settings, &storage, &http).await? {
                Some((filter, list)) => (Some(filter), list),
                None => (None, None),
            };
        let (skill_handler, bot_handler) =
            crate::server::handlers::app_handlers(&settings, &http, skill_handler, bot_handler);
        let skill = Arc::new(SkillService::new(
            &settings,
            skill_handler,
            http.clone(),
            tasks.clone(),
        ));
        let security_events = SecurityEvents::from_settings(&settings, http.clone()).map(Arc::new);
        for warning in &settings.environment_warnings {
            tracing::warn!("{warning}");
        }
        for warning in health::warnings(&settings) {
            tracing::warn!(setting = warning.setting, "{}", warning.message);
        }
        let bot = settings.kakao_bot_token.clone().map(|token| {
            let api = BotApi::new(http.clone(), settings.kakao_api_base_url.clone(), token);
            Arc::new(BotOutbox::new(
                storage.clone(),
                api,
                bot_handler,
                settings.skill_fallback_text.clone(),
                settings.kakao_bot_handler_deadline_ms,
            ))
        });
        let deliveries = Arc::new(DeliveryLog::new(settings.tally_bucket()));
        let gateway =
            crate::bot::gateway::prepare(&settings, &storage, bot.as_ref(), &deliveries).await?;
        let spool = Arc::new(crate::delivery::spool::Spool::new(
            settings.spool_dir.clone(),
            settings.spool_max_bytes,
        ));
        spool
            .check()
            .map_err(|err| anyhow::anyhow!("invalid setting SPOOL_DIR: {}", Chain(&err)))?;
        let auth_limiter = Arc::new(AuthLimiter::new(
            settings.auth_failures_per_minute,
            Duration::from_secs(settings.auth_lockout_seconds),
            settings.trusted_proxies.clone(),
        ));
        let state = AppState(Arc::new(AppParts {
            settings: Arc::new(settings),
            storage,
            skill,
            security_events,
            bot,
            gateway: gateway.as_ref().map(|(gateway, _)| gateway.status()),
            metrics: telemetry::metrics_handle(),
            deliveries,
            http,
            tasks,
            auth_limiter,
            spool,
            tls: https.as_ref().map(|https| Arc::clone(&https.tls.served)),
            stream,
            source_filter,
        }));
        Ok(Self {
            listener,
            internal,
            state,
            extra_routes: None,
            gateway,
            https,
            plain_http,
            kakao_list,
        })
    }

    /// The server's storage (dev mode's local Kakao reads it).
    pub fn storage(&self) -> &Storage {
        &self.state.storage
    }

    /// Serves `routes` too (dev mode's local Kakao).
    pub fn with_routes(mut self, routes: Routes) -> Self {
        self.extra_routes = Some(routes);
        self
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Where plain HTTP is served (challenges, `/health`, redirects), with HTTPS on.
    pub fn plain_http_addr(&self) -> Option<SocketAddr> {
        self.plain_http.as_ref().map(|listener| {
            listener
                .local_addr()
                .expect("a bound listener has an address")
        })
    }

    /// Where `/api` and `/metrics` are served, when `INTERNAL_BIND_ADDR` is set.
    pub fn internal_addr(&self) -> Option<SocketAddr> {
        self.internal.as_ref().map(|listener| {
            listener
                .local_addr()
                .expect("a bound listener has an address")
        })
    }

    /// Serves until `shutdown` fires, then lets in-flight requests finish
    /// within `shutdown_grace_ms`, and background tasks (pending skill
    /// callbacks, queued events) within another.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Self {
            listener,
            internal,
            state,
            extra_routes,
            gateway,
            https,
            plain_http,
            kakao_list,
        } = self;
        let grace = state.settings.shutdown_grace_ms;
        let limits = ConnectionLimits::from_settings(&state.settings);
        crate::server::background::start(&state, &shutdown);
        if let Some((gateway, lease)) = gateway {
            state.tasks.spawn(gateway.run(lease, shutdown.clone()));
        }
        let tls = https.map(|https| https.start(&state.settings, &state.tasks, shutdown.clone()));
        if let (Some(list), Some(filter)) = (kakao_list, &state.source_filter) {
            state
                .tasks
                .spawn(list.refresh(Arc::clone(filter), shutdown.clone()));
        }
        let storage = state.storage.clone();
        let tasks = state.tasks.clone();
        let deliveries = Arc::clone(&state.deliveries);
        let (public_app, internal_app) = match &internal {
            Some(_) => (
                serving(public_routes(&state), state.clone(), extra_routes),
                Some(serving(internal_routes(&state), state.clone(), None)),
            ),
            None => (
                serving(
                    public_routes(&state).merge(internal_routes(&state)),
                    state.clone(),
                    extra_routes,
                ),
                None,
            ),
        };
        let connections = TaskTracker::new();
        let scheme = if tls.is_some() { "https" } else { "http" };
        tracing::info!(addr = %listener.local_addr()?, scheme, "kakao-webhooks listening");
        let mut listeners = vec![tokio::spawn(connections::serve(
            listener,
            public_app,
            limits,
            shutdown.clone(),
            connections.clone(),
            Arc::clone(&deliveries),
            tls.clone(),
        ))];
        if let (Some(listener), Some(tls)) = (plain_http, &tls) {
            tracing::info!(addr = %listener.local_addr()?, "plain HTTP listening: ACME challenges, /health, redirects to https");
            listeners.push(tokio::spawn(connections::serve(
                listener,
                https::plain_http_app(tls, state.clone()),
                limits,
                shutdown.clone(),
                connections.clone(),
                Arc::clone(&deliveries),
                None,
            )));
        }
        if let (Some(listener), Some(app)) = (internal, internal_app) {
            tracing::info!(addr = %listener.local_addr()?, "internal API and /metrics listening");
            listeners.push(tokio::spawn(connections::serve(
                listener,
                app,
                limits,
                shutdown.clone(),
                connections.clone(),
                Arc::clone(&deliveries),
                None,
            )));
        }
        shutdown.cancelled().await;
        for listener in listeners {
            let _ = listener.await;
        }
        connections.close();
        tracing::info!(
            grace_ms = grace.as_millis() as u64,
            "shutting down: draining requests"
        );
        if tokio::time::timeout(grace, connections.wait())
            .await
            .is_err()
        {
            tracing::warn!("requests still running after the grace period; closing them");
        }
        tasks.close();
        let drained = tokio::time::timeout(grace, async {
            // The event writer stores what requests handed it, then ends.
            storage.close().await;
            tasks.wait().await;
        });
        if drained.await.is_err() {
            tracing::warn!(
                tasks = tasks.len(),
                "background tasks still running after the grace period; dropping them"
            );
        }
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
