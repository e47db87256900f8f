//! HTTPS as the server runs it: where the certificate comes from (ACME or
//! the team's files), and the plain HTTP listener (`HTTP_BIND_ADDR`) that
//! answers ACME's HTTP-01 checks and `/health`, and sends everything else
//! to `https://` with `308` (Kakao follows no redirect, so its URLs must be
//! `https://` from the start).

use std::sync::Arc;

use anyhow::Context;
use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode, Uri, header},
    response::{IntoResponse, Response},
    routing::get,
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    config::Settings,
    http::routes::Routes,
    server::app::App,
    state::AppState,
    storage::Storage,
    tls::{Tls, acme::Renewer, certs::CertificateFiles, challenge::Challenges},
};

/// The HTTPS listener's certificate and what keeps it current.
pub struct Https {
    pub tls: Tls,
    source: Source,
}

enum Source {
    Acme(Renewer),
    Files(CertificateFiles),
}

impl Https {
    /// With HTTPS on: the team's files read (start-up fails on a bad pair),
    /// or the certificate stored for `TLS_DOMAINS` loaded if there is one.
    pub async fn prepare(settings: &Settings, storage: &Storage) -> anyhow::Result<Option<Self>> {
        if !settings.tls_enabled() {
            return Ok(None);
        }
        let tls = Tls::new(storage.clone());
        let source = match (&settings.tls_cert_file, &settings.tls_key_file) {
            (Some(cert), Some(key)) => {
                let files = CertificateFiles {
                    cert: cert.clone(),
                    key: key.clone(),
                };
                let certificate = files.load().map_err(anyhow::Error::msg)?;
                tracing::info!(names = ?certificate.names, not_after = %crate::clock::rfc3339(certificate.not_after), "serving HTTPS with TLS_CERT_FILE");
                tls.served.replace(certificate);
                Source::Files(files)
            }
            _ => {
                let renewer = Renewer::new(settings, storage.clone(), Arc::clone(&tls.served));
                renewer.load().await;
                if tls.served.get().is_none() {
                    tracing::info!(domains = ?settings.tls_domains, directory = %settings.acme_directory_url, "no certificate yet: ordering one from the ACME CA");
                }
                Source::Acme(renewer)
            }
        };
        Ok(Some(Self { tls, source }))
    }

    /// Keeps the certificate current until `shutdown`.
    pub fn start(
        self,
        settings: &Settings,
        tasks: &TaskTracker,
        shutdown: CancellationToken,
    ) -> Tls {
        let every = std::time::Duration::from_secs(settings.tls_reload_seconds);
        match self.source {
            Source::Acme(renewer) => {
                tasks.spawn(renewer.run(shutdown));
            }
            Source::Files(files) => {
                tasks.spawn(files.watch(std::sync::Arc::clone(&self.tls.served), every, shutdown));
            }
        }
        self.tls
    }
}

/// What the plain HTTP listener needs to answer.
#[derive(Clone)]
pub struct PlainHttp {
    challenges: Arc<Challenges>,
    /// The HTTPS listener's port, for the redirect.
    https_port: u16,
}

/// What `HTTP_BIND_ADDR` serves: challenges and `/health`, then a redirect
/// for the rest, in the same [`crate::server::edge::Edge`] as every listener.
pub fn plain_http_app(tls: &Tls, state: AppState) -> impl App {
    let plain = PlainHttp {
        challenges: Arc::clone(&tls.challenges),
        https_port: state.settings.bind_addr.port(),
    };
    let challenges: Routes<AppState> = Routes::new()
        .route("/.well-known/acme-challenge/{token}", get(http_challenge))
        .with_state(plain.clone());
    let (router, templates) = challenges
        .merge(crate::server::health::router())
        .into_parts();
    let router = router
        .fallback_service(axum::Router::new().fallback(redirect).with_state(plain))
        .with_state(state.clone());
    let limit = axum::extract::DefaultBodyLimit::max(state.settings.request_body_limit_bytes);
    crate::server::edge::Edge::new(
        tower::Layer::layer(&limit, router),
        crate::http::routes::RouteMetrics::new(&templates),
        state,
    )
}

async fn http_challenge(State(plain): State<PlainHttp>, Path(token): Path<String>) -> Response {
    match plain.challenges.http_answer(&token).await {
        Some(answer) => {
            ([(header::CONTENT_TYPE, "application/octet-stream")], answer).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `308` to the same path on `https://`; a request without a usable host
/// gets `400` (there is nowhere to send it).
async fn redirect(State(plain): State<PlainHttp>, headers: HeaderMap, uri: Uri) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .map(|host| {
            host.rsplit_once(':').map_or(host, |(name, port)| {
                if port.bytes().all(|b| b.is_ascii_digit()) {
                    name
                } else {
                    host
                }
            })
        })
        .filter(|name| {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b))
        });
    let Some(host) = host else {
        return (
            StatusCode::BAD_REQUEST,
            "a Host header is needed to redirect to https://",
        )
            .into_response();
    };
    let port = match plain.https_port {
        443 => String::new(),
        port => format!(":{port}"),
    };
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let location = format!("https://{host}{port}{path}");
    (
        StatusCode::PERMANENT_REDIRECT,
        [(header::LOCATION, location)],
    )
        .into_response()
}

/// Opens `HTTP_BIND_ADDR` when HTTPS is on.
pub async fn bind_plain_http(
    settings: &Settings,
) -> anyhow::Result<Option<tokio::net::TcpListener>> {
    match (settings.tls_enabled(), settings.http_bind_addr) {
        (true, Some(addr)) => Ok(Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on HTTP_BIND_ADDR {addr}"))?,
        )),
        _ => Ok(None),
    }
}
