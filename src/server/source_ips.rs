//! Only Kakao let in (`KAKAO_SOURCE_IPS`): skill and Bot API requests carry
//! no signature, only an optional shared header, so a listed set of
//! addresses is their other guard. A request to Kakao's routes from any
//! other address gets `403`, counted as refused. The address is the peer's,
//! or the one a trusted proxy (`TRUSTED_PROXIES`) forwards.

use std::{net::IpAddr, sync::Arc};

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
pub struct SourceFilter {
    pub allowed: Vec<IpNet>,
    pub trusted_proxies: Vec<IpNet>,
}

impl SourceFilter {
    fn allows(&self, ip: IpAddr) -> bool {
        is_trusted(ip, &self.allowed)
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
