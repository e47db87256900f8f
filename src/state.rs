//! What every handler and background task of one server may use, built once
//! at start-up ([`crate::app::Server::build`]). It sits below the families:
//! they import it, it imports none of their routers.

use std::{ops::Deref, sync::Arc};

use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::task::TaskTracker;

use crate::{
    bot::BotOutbox, config::Settings, security_events::SecurityEvents, skill::SkillService,
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
}
