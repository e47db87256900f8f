//! Only Kakao let in (`KAKAO_SOURCE_IPS`): skill and Bot API requests carry
//! no signature, only an optional shared header, so a listed set of
//! addresses is their other guard. A request to Kakao's routes from any
//! other address gets `403`, counted as refused. The address is the peer's,
//! or the one a trusted proxy (`TRUSTED_PROXIES`) forwards. With `auto` the
//! list is replaced in place when Kakao's published one changes.

use std::{
    net::IpAddr,
    sync::{Arc, RwLock},
};

use axum::{
    extract::{Request, State},
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
};
use ipnet::IpNet;

use crate::http::{
    auth_limit::peer,
    client_addr::{client_ip, is_trusted},
    error::ApiError,
};

/// The addresses Kakao calls from, and the proxies whose word is taken.
#[derive(Debug)]
pub struct SourceFilter {
    allowed: RwLock<Arc<Vec<IpNet>>>,
    trusted_proxies: Vec<IpNet>,
    /// With `auto`: since when (ms) Kakao's list cannot be fetched, and why.
    refresh_error: RwLock<Option<(i64, String)>>,
}

impl SourceFilter {
    pub fn new(allowed: Vec<IpNet>, trusted_proxies: Vec<IpNet>) -> Self {
        Self {
            allowed: RwLock::new(Arc::new(allowed)),
            trusted_proxies,
            refresh_error: RwLock::new(None),
        }
    }

    /// Records a failed refresh of Kakao's list (the first failure's time is kept).
    pub fn refresh_failed(&self, at: i64, why: String) {
        let mut error = self.refresh_error.write().expect("never poisoned");
        let since = error.as_ref().map_or(at, |(since, _)| *since);
        *error = Some((since, why));
    }

    /// Since when (ms) Kakao's list cannot be refreshed, and why.
    pub fn refresh_error(&self) -> Option<(i64, String)> {
        self.refresh_error.read().expect("never poisoned").clone()
    }

    /// Serves `allowed` from the next request on.
    pub fn replace(&self, allowed: Vec<IpNet>) {
        *self.allowed.write().expect("never poisoned") = Arc::new(allowed);
        *self.refresh_error.write().expect("never poisoned") = None;
    }

    pub fn allowed(&self) -> Arc<Vec<IpNet>> {
        Arc::clone(&self.allowed.read().expect("never poisoned"))
    }

    fn allows(&self, ip: IpAddr) -> bool {
        is_trusted(ip, &self.allowed.read().expect("never poisoned"))
    }
}

pub async fn only_from_kakao(
    State(filter): State<Arc<SourceFilter>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(peer) = peer(request.extensions()) else {
        return next.run(request).await; // made in process, not over a socket
    };
    let ip = client_ip(peer, request.headers(), &filter.trusted_proxies);
    if filter.allows(ip) {
        return next.run(request).await;
    }
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden_source",
        format!("{ip} is not one of Kakao's addresses (KAKAO_SOURCE_IPS)"),
    )
    .into_response()
}
