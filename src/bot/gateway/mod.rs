//! The KakaoTalk Bot API gateway (`KAKAO_BOT_GATEWAY`): chatroom events over
//! an outbound WebSocket instead of the webhook, for a bot with no public URL.
//!
//! Kakao allows one connection per bot token, so only the instance holding
//! the gateway lease (`storage::gateway`) connects; the others wait to take
//! over. The connection (`connection.rs`) stores each DISPATCH exactly as a
//! webhook delivery; this loop reconnects with backoff and RESUMEs with the
//! stored session, IDENTIFIES afresh after 4009 or a failed RESUME, and
//! stops for good on 4001, 4003 and 4004 (`/ready` then shows why).

mod connection;
// The gateway's frames, as pure types, live in `kakao_protocol`.
pub use kakao_protocol::bot::gateway as protocol;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use secrecy::SecretString;
use tokio_util::sync::CancellationToken;
use url::Url;

use self::connection::End;
use super::BotOutbox;
use crate::{
    config::Settings,
    delivery::log::DeliveryLog,
    storage::{
        Storage,
        gateway::{GatewayLease, LeaseError},
    },
    telemetry::Chain,
};

const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);
/// How often a standby instance asks for the lease, and the holder checks it.
const LEASE_CHECK: Duration = Duration::from_secs(2);

/// Where the gateway client is, for `/ready`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayState {
    /// Another instance holds the connection.
    Standby,
    Connecting,
    Connected,
    /// Reconnecting cannot help; why.
    Stopped(String),
}

/// The state, and since when this instance (holding the lease) has been
/// without a connection.
#[derive(Debug)]
pub struct GatewayStatus(Mutex<(GatewayState, Option<std::time::Instant>)>);

impl Default for GatewayStatus {
    fn default() -> Self {
        Self(Mutex::new((
            GatewayState::Connecting,
            Some(std::time::Instant::now()),
        )))
    }
}

impl GatewayStatus {
    pub fn get(&self) -> GatewayState {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).0.clone()
    }

    /// How long this instance has held the lease without a connection;
    /// `None` while connected, or while another instance holds it.
    pub fn disconnected_for(&self) -> Option<Duration> {
        let state = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match state.0 {
            GatewayState::Connected | GatewayState::Standby => None,
            _ => state.1.map(|since| since.elapsed()),
        }
    }

    fn set(&self, state: GatewayState) {
        let connected = state == GatewayState::Connected;
        metrics::gauge!("kakao_bot_gateway_connected").set(if connected { 1.0 } else { 0.0 });
        let mut current = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let since = match (&state, current.1) {
            (GatewayState::Connected | GatewayState::Standby, _) => None,
            (_, Some(since)) if current.0 != GatewayState::Standby => Some(since),
            _ => Some(std::time::Instant::now()),
        };
        *current = (state, since);
    }

    fn connected(&self) {
        self.set(GatewayState::Connected);
    }
}

pub struct Gateway {
    url: Url,
    token: SecretString,
    storage: Storage,
    outbox: Arc<BotOutbox>,
    status: Arc<GatewayStatus>,
    /// Where each event is counted, as the webhook's are.
    deliveries: Arc<DeliveryLog>,
}

impl Gateway {
    pub fn new(
        url: Url,
        token: SecretString,
        storage: Storage,
        outbox: Arc<BotOutbox>,
        status: Arc<GatewayStatus>,
        deliveries: Arc<DeliveryLog>,
    ) -> Self {
        Self {
            url,
            token,
            storage,
            outbox,
            status,
            deliveries,
        }
    }

    pub fn status(&self) -> Arc<GatewayStatus> {
        Arc::clone(&self.status)
    }

    /// Holds the lease (`first`, taken at start-up, or waits for one) and
    /// runs the client while it holds, until `shutdown` or a fatal close.
    pub async fn run(self, mut first: Option<GatewayLease>, shutdown: CancellationToken) {
        loop {
            let lease = match first.take() {
                Some(lease) => lease,
                None => match shutdown.run_until_cancelled(self.wait_for_lease()).await {
                    Some(Some(lease)) => lease,
                    _ => return,
                },
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = lost(lease) => {
                    tracing::warn!("bot gateway: lost the lease (the database connection); another instance takes over");
                    self.status.set(GatewayState::Standby);
                }
                () = self.connect_until_fatal() => return,
            }
        }
    }

    async fn wait_for_lease(&self) -> Option<GatewayLease> {
        loop {
            match self.storage.try_gateway_lease().await {
                Ok(Some(lease)) => return Some(lease),
                Ok(None) => self.status.set(GatewayState::Standby),
                Err(err @ LeaseError::SqliteTaken(_)) => {
                    self.stop(err.to_string());
                    return None;
                }
                Err(err) => {
                    tracing::warn!(error = %Chain(&err), "bot gateway: cannot ask for the lease")
                }
            }
            tokio::time::sleep(LEASE_CHECK).await;
        }
    }

    /// Connects again and again; returns only when reconnecting cannot help.
    async fn connect_until_fatal(&self) {
        let mut failures: i64 = 0;
        loop {
            self.status.set(GatewayState::Connecting);
            let session = match self.storage.gateway_session().await {
                Ok(session) => session,
                Err(err) => {
                    tracing::warn!(error = %Chain(&err), "bot gateway: cannot read the session");
                    tokio::time::sleep(RETRY_FIRST).await;
                    continue;
                }
            };
            let end = connection::run(self, session).await;
            let reason = match end {
                End::Fatal { code, cause } => {
                    metrics::counter!("kakao_bot_gateway_reconnects_total", "reason" => format!("stopped_{code}")).increment(1);
                    tracing::error!(
                        close_code = code,
                        "bot gateway stopped: {cause}; not reconnecting"
                    );
                    self.stop(format!("closed with {code}: {cause}"));
                    return;
                }
                End::SessionExpired | End::ResumeFailed => {
                    if let Err(err) = self.storage.clear_gateway_session().await {
                        tracing::warn!(error = %Chain(&err), "bot gateway: cannot forget the session");
                    }
                    failures += 1;
                    if end == End::SessionExpired {
                        "session_expired"
                    } else {
                        "resume_failed"
                    }
                }
                End::Retry { reason, ready } => {
                    failures = if ready { 1 } else { failures + 1 };
                    reason
                }
            };
            metrics::counter!("kakao_bot_gateway_reconnects_total", "reason" => reason)
                .increment(1);
            let wait = jittered(crate::clock::doubling_backoff(
                failures,
                RETRY_FIRST,
                RETRY_MAX,
            ));
            tracing::info!(
                reason,
                wait_ms = wait.as_millis() as u64,
                "bot gateway: reconnecting"
            );
            tokio::time::sleep(wait).await;
        }
    }

    fn stop(&self, reason: String) {
        self.status.set(GatewayState::Stopped(reason));
    }
}

/// The gateway client, when `KAKAO_BOT_GATEWAY` is on, with the lease if
/// this instance got it. On SQLite a second process is refused here, at
/// start-up, naming the cause.
pub async fn prepare(
    settings: &Settings,
    storage: &Storage,
    outbox: Option<&Arc<BotOutbox>>,
    deliveries: &Arc<DeliveryLog>,
) -> anyhow::Result<Option<(Gateway, Option<GatewayLease>)>> {
    if !settings.kakao_bot_gateway {
        return Ok(None);
    }
    // Checked here, not with the settings: `serve --dev` fills the token in.
    let (Some(token), Some(outbox)) = (&settings.kakao_bot_token, outbox) else {
        anyhow::bail!(
            "invalid setting KAKAO_BOT_GATEWAY: needs KAKAO_BOT_TOKEN, the gateway is entered with the bot token"
        );
    };
    let lease = storage.try_gateway_lease().await?;
    let status = Arc::new(GatewayStatus::default());
    if lease.is_none() {
        status.set(GatewayState::Standby);
    }
    let gateway = Gateway::new(
        settings.kakao_bot_gateway_url.clone(),
        token.clone(),
        storage.clone(),
        Arc::clone(outbox),
        status,
        Arc::clone(deliveries),
    );
    Ok(Some((gateway, lease)))
}

/// Resolves when the lease no longer holds.
async fn lost(mut lease: GatewayLease) {
    loop {
        tokio::time::sleep(LEASE_CHECK).await;
        if !lease.holds().await {
            return;
        }
    }
}

/// `wait` less up to a fifth: never past the 30 s cap.
fn jittered(wait: Duration) -> Duration {
    crate::clock::jittered(wait, 0.8, 1.0)
}
