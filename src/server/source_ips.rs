//! `KAKAO_SOURCE_IPS`: the filter on Kakao's routes, and with `auto` the
//! list Kakao publishes (`GET /v1/system/ips`), fetched at start and daily.
//! The last good list is kept in the database: a failed fetch keeps it (and
//! raises the `kakao_source_ips` alert), and start-up is refused only when
//! no list was ever fetched.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use tokio_util::sync::CancellationToken;

use crate::{
    clock::now_millis,
    config::{Settings, SourceIps},
    http::source_filter::SourceFilter,
    storage::Storage,
    telemetry::Chain,
};

/// How often Kakao's list is fetched again.
const REFRESH_EVERY: Duration = Duration::from_secs(24 * 3600);
/// After a failed refresh, the next try.
const RETRY_EVERY: Duration = Duration::from_secs(15 * 60);
/// A list of networks is a few KiB; anything far larger is not one.
const MAX_BODY: usize = 1 << 20;

/// Fetches Kakao's published list of callback addresses.
#[derive(Clone)]
pub struct KakaoList {
    http: reqwest::Client,
    url: url::Url,
    key: SecretString,
    storage: Storage,
}

/// The filter for `settings`, if one is on; with `auto` also the fetcher
/// that keeps it current.
pub async fn prepare(
    settings: &Settings,
    storage: &Storage,
    http: &reqwest::Client,
) -> anyhow::Result<Option<(Arc<SourceFilter>, Option<KakaoList>)>> {
    let trusted = settings.trusted_proxies.clone();
    match &settings.kakao_source_ips {
        SourceIps::Off => Ok(None),
        SourceIps::Listed(list) => Ok(Some((
            Arc::new(SourceFilter::new(list.clone(), trusted)),
            None,
        ))),
        SourceIps::Auto => {
            let key = settings
                .kakao_admin_key
                .clone()
                .or_else(|| settings.kakao_rest_api_key.clone())
                .context("KAKAO_SOURCE_IPS=auto needs KAKAO_ADMIN_KEY or KAKAO_REST_API_KEY")?;
            let list = KakaoList {
                http: http.clone(),
                url: crate::http::api_url(&settings.kakao_api_base_url, "/v1/system/ips"),
                key,
                storage: storage.clone(),
            };
            let networks = match list.fetch_and_keep().await {
                Ok(networks) => networks,
                Err(fetch) => match list.kept().await {
                    Some(kept) => {
                        tracing::warn!(error = %fetch, networks = kept.len(), "KAKAO_SOURCE_IPS=auto: cannot fetch Kakao's list; using the last good one from the database");
                        kept
                    }
                    None => anyhow::bail!(
                        "invalid setting KAKAO_SOURCE_IPS: \"auto\" needs Kakao's list of addresses, which was never fetched and cannot be now: {fetch}. Check the app key and that {} is reachable, or list the CIDRs in KAKAO_SOURCE_IPS",
                        list.url
                    ),
                },
            };
            tracing::info!(
                networks = networks.len(),
                "KAKAO_SOURCE_IPS=auto: only Kakao's published addresses may call /kakao/*"
            );
            Ok(Some((
                Arc::new(SourceFilter::new(networks, trusted)),
                Some(list),
            )))
        }
    }
}

impl KakaoList {
    /// Fetches the list and keeps it in the database.
    async fn fetch_and_keep(&self) -> Result<Vec<IpNet>, String> {
        let response = self
            .http
            .get(self.url.clone())
            .header(
                reqwest::header::AUTHORIZATION,
                format!("KakaoAK {}", self.key.expose_secret()),
            )
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|err| format!("GET /v1/system/ips failed: {}", Chain(&err)))?;
        let status = response.status();
        let body = crate::http::read_limited(response, MAX_BODY).await?;
        if !status.is_success() {
            return Err(format!(
                "GET /v1/system/ips answered {status}: {}",
                crate::telemetry::loggable(&String::from_utf8_lossy(&body[..body.len().min(200)]))
            ));
        }
        let texts =
            kakao_protocol::system_ips::inbound_callback_networks(&body, now_millis() / 1000)
                .map_err(|err| format!("Kakao's list cannot be used: {err}"))?;
        let networks = parse(&texts);
        let json = serde_json::to_string(&texts).expect("strings serialize");
        self.storage
            .save_kakao_source_ips(&json, now_millis())
            .await
            .map_err(|err| format!("cannot keep Kakao's list: {}", Chain(&err)))?;
        Ok(networks)
    }

    /// The last good list in the database.
    async fn kept(&self) -> Option<Vec<IpNet>> {
        let (json, _) = self.storage.kakao_source_ips().await.ok()??;
        let texts: Vec<String> = serde_json::from_str(&json).ok()?;
        let networks = parse(&texts);
        (!networks.is_empty()).then_some(networks)
    }

    /// Fetches the list daily until `shutdown`, serving each good one.
    pub async fn refresh(self, filter: Arc<SourceFilter>, shutdown: CancellationToken) {
        let mut wait = REFRESH_EVERY;
        while shutdown
            .run_until_cancelled(tokio::time::sleep(wait))
            .await
            .is_some()
        {
            match self.fetch_and_keep().await {
                Ok(networks) => {
                    tracing::info!(
                        networks = networks.len(),
                        "Kakao's list of addresses refreshed"
                    );
                    filter.replace(networks);
                    wait = REFRESH_EVERY;
                }
                Err(err) => {
                    metrics::counter!("kakao_source_ips_refresh_failures_total").increment(1);
                    tracing::error!(error = %err, "cannot refresh Kakao's list of addresses; keeping the last good one");
                    filter.refresh_failed(now_millis(), err);
                    wait = RETRY_EVERY;
                }
            }
        }
    }
}

fn parse(texts: &[String]) -> Vec<IpNet> {
    texts
        .iter()
        .filter_map(|text| {
            text.parse::<IpNet>()
                .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
                .ok()
        })
        .collect()
}
