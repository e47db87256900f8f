//! Who is calling: the peer's address, or, when the peer is one of
//! `TRUSTED_PROXIES`, the address it forwarded: in `Forwarded` (RFC 7239)
//! when the request has one, in `X-Forwarded-For` otherwise. Only a trusted
//! proxy's word is taken: anyone else could name any address and walk
//! around a per-address limit or `KAKAO_SOURCE_IPS`.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The client's address for `peer`: the rightmost forwarded address that is
/// not itself a trusted proxy, when `peer` is one; `peer` otherwise. A hop
/// a proxy could not name (`for=unknown`, an obfuscated `for=_hidden`) ends
/// the walk at the proxy that reported it.
pub fn client_ip(peer: SocketAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = peer.ip().to_canonical();
    if !is_trusted(peer, trusted) {
        return peer;
    }
    let hops: Vec<Option<IpAddr>> = if headers.contains_key(FORWARDED) {
        headers
            .get_all(FORWARDED)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(forwarded_for)
            .collect()
    } else {
        headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(|entry| entry.trim().parse::<IpAddr>().ok())
            .collect()
    };
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        match hop.map(|ip| ip.to_canonical()) {
            Some(ip) if is_trusted(ip, trusted) => client = ip,
            Some(ip) => return ip,
            None => return client,
        }
    }
    client
}

const FORWARDED: &str = "forwarded";

/// The `for=` address of one `Forwarded` element: `for=192.0.2.60`,
/// `for="[2001:db8::1]:4711"`, `For="192.0.2.60:80"`.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    let value = element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then_some(value.trim())
    })?;
    let value = value.trim_matches('"');
    if let Some(rest) = value.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    value
        .parse()
        .ok()
        .or_else(|| value.rsplit_once(':')?.0.parse().ok())
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

    #[test]
    fn a_trusted_proxys_forwarded_header_names_the_client() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer: SocketAddr = "10.1.2.3:5000".parse().unwrap();
        let stranger: SocketAddr = "198.51.100.9:5000".parse().unwrap();
        let mut forwarded = HeaderMap::new();
        forwarded.insert(
            "forwarded",
            r#"for=203.0.113.7, For="[2001:db8::1]:4711";proto=https, for="10.0.0.2:80""#
                .parse()
                .unwrap(),
        );
        // Believed over X-Forwarded-For when both are sent.
        forwarded.insert("x-forwarded-for", "192.0.2.99".parse().unwrap());
        assert_eq!(
            client_ip(peer, &forwarded, &trusted),
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(stranger, &forwarded, &trusted), stranger.ip());
        // A hop the proxy could not name stops the walk at that proxy.
        let mut hidden = HeaderMap::new();
        hidden.insert(
            "forwarded",
            "for=203.0.113.7, for=_hidden, for=10.0.0.2"
                .parse()
                .unwrap(),
        );
        assert_eq!(
            client_ip(peer, &hidden, &trusted),
            "10.0.0.2".parse::<IpAddr>().unwrap()
        );
    }
}
