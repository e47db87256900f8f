//! What every handler and background task of one server may use, built once
//! at start-up (by the server's `Server::build`). It sits above the
//! families: it holds each family's service, and hands each family's router
//! only its own part ([`FromRef`]), so no family imports it.

use std::{ops::Deref, sync::Arc};

use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::task::TaskTracker;

use axum::extract::FromRef;

use crate::{
    admin_key::AdminKeyState,
    bot::{BotOutbox, webhook::BotWebhookState},
    config::Settings,
    security_events::{SecurityEvents, SetState},
    skill::SkillService,
    storage::Storage,
};

/// The parts behind one `Arc`: axum clones the state for each request, and
/// one reference count is cheaper than one per part.
#[derive(Clone)]
pub struct AppState(pub(crate) Arc<AppParts>);

impl Deref for AppState {
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
    /// Present when `KAKAO_BOT_TOKEN` is set.
    pub bot: Option<Arc<BotOutbox>>,
    /// Present when `KAKAO_BOT_GATEWAY` is on.
    pub gateway: Option<Arc<crate::bot::gateway::GatewayStatus>>,
    pub metrics: PrometheusHandle,
    /// The last deliveries from Kakao, for the console's live page.
    /// How each delivery from Kakao was answered: counted, tallied for the
    /// alerts, the last ones kept for the console's live page.
    pub deliveries: Arc<crate::delivery::log::DeliveryLog>,
    /// The one outbound HTTP client ([`crate::http::outbound_client`]).
    pub http: reqwest::Client,
    /// Every background task (event writer, key refresh, jobs, metrics
    /// upkeep, skill callbacks): drained at shutdown within the grace.
    pub tasks: TaskTracker,
    /// Failed token checks per client address (`/api`, console sign-in).
    pub auth_limiter: Arc<crate::http::auth_limit::AuthLimiter>,
    /// The admin-key webhooks' spool (`SPOOL_DIR`).
    pub spool: Arc<crate::delivery::spool::Spool>,
    /// With HTTPS on: the certificate served.
    pub tls: Option<Arc<crate::tls::ServedCertificate>>,
    /// With `EVENT_STREAM_URL`: the broker notifications are published to.
    pub stream: Option<Arc<crate::outbound::stream::Publisher>>,
    /// With `KAKAO_SOURCE_IPS`: who may call Kakao's routes.
    pub source_filter: Option<Arc<crate::http::source_filter::SourceFilter>>,
}

// Each family's router takes only its own part of the state (axum's
// substates), so the families never import this module.

impl FromRef<AppState> for Arc<SkillService> {
    fn from_ref(state: &AppState) -> Self {
        state.skill.clone()
    }
}

impl FromRef<AppState> for AdminKeyState {
    fn from_ref(state: &AppState) -> Self {
        Self {
            settings: state.settings.clone(),
            storage: state.storage.clone(),
            spool: state.spool.clone(),
        }
    }
}

impl FromRef<AppState> for SetState {
    fn from_ref(state: &AppState) -> Self {
        Self {
            service: state.security_events.clone(),
            storage: state.storage.clone(),
        }
    }
}

impl FromRef<AppState> for BotWebhookState {
    fn from_ref(state: &AppState) -> Self {
        Self {
            settings: state.settings.clone(),
            storage: state.storage.clone(),
            outbox: state.bot.clone(),
        }
    }
}
