//! Who is calling: the peer's address, or, when the peer is one of
//! `TRUSTED_PROXIES`, the address it forwarded. Only a trusted proxy's
//! `X-Forwarded-For` is believed: anyone else could name any address and
//! walk around a per-address limit.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The client's address for `peer`: the rightmost `X-Forwarded-For` entry
/// that is not itself a trusted proxy, when `peer` is one; `peer` otherwise.
pub fn client_ip(peer: SocketAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = peer.ip().to_canonical();
    if !is_trusted(peer, trusted) {
        return peer;
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|entry| entry.trim().parse::<IpAddr>().ok())
        .map(|ip| ip.to_canonical())
        .collect::<Vec<_>>();
    forwarded
        .into_iter()
        .rev()
        .find(|ip| !is_trusted(*ip, trusted))
        .unwrap_or(peer)
}

pub fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|net| net.contains(&ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(forwarded: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", forwarded.parse().unwrap());
        headers
    }

    #[test]
    fn only_a_trusted_proxy_names_the_client() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer: SocketAddr = "10.1.2.3:5000".parse().unwrap();
        let stranger: SocketAddr = "198.51.100.9:5000".parse().unwrap();
        let forged = headers("203.0.113.7, 192.0.2.1, 10.0.0.2");
        assert_eq!(
            client_ip(peer, &forged, &trusted),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(stranger, &forged, &trusted), stranger.ip());
        assert_eq!(client_ip(peer, &HeaderMap::new(), &trusted), peer.ip());
        assert_eq!(
            client_ip(peer, &headers("not an address"), &trusted),
            peer.ip()
        );
    }
}
