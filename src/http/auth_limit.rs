//! Guessing a token cannot go on: failed bearer checks and console sign-ins
//! are counted per client address, and an address past the limit gets `429`
//! for a while, whatever token it sends. A loopback client that is not a
//! trusted proxy is never limited, so a local tool or test is never locked
//! out (a proxy on the same host belongs in `TRUSTED_PROXIES`).

use std::{
    net::{IpAddr, SocketAddr},
    sync::Mutex,
    time::{Duration, Instant},
};

use axum::{http::HeaderMap, response::IntoResponse};
use ipnet::IpNet;
use rustc_hash::FxHashMap;

use super::client_addr::{client_ip, is_trusted};

/// Most addresses tracked at once; past it, entries whose window and lockout
/// are over go first, then the oldest.
const MAX_TRACKED: usize = 10_000;
const WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy)]
struct Entry {
    window_start: Instant,
    failures: u32,
    locked_until: Option<Instant>,
}

/// Where a guess was made, for the metrics.
#[derive(Debug, Clone, Copy)]
pub enum Surface {
    Api,
    Console,
}

impl Surface {
    fn label(self) -> &'static str {
        match self {
            Surface::Api => "api",
            Surface::Console => "console",
        }
    }
}

pub struct AuthLimiter {
    failures_per_minute: u32,
    lockout: Duration,
    trusted_proxies: Vec<IpNet>,
    entries: Mutex<FxHashMap<IpAddr, Entry>>,
}

/// The client a request is counted under; `None` when it is never limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client(Option<IpAddr>);

impl AuthLimiter {
    pub fn new(failures_per_minute: u32, lockout: Duration, trusted_proxies: Vec<IpNet>) -> Self {
        Self {
            failures_per_minute,
            lockout,
            trusted_proxies,
            entries: Mutex::default(),
        }
    }

    /// The client of a request from `peer` (no peer: a request made in
    /// process, never limited).
    pub fn client(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> Client {
        let Some(peer) = peer else {
            return Client(None);
        };
        let local = peer.ip().to_canonical().is_loopback()
            && !is_trusted(peer.ip().to_canonical(), &self.trusted_proxies);
        if local {
            return Client(None);
        }
        Client(Some(client_ip(peer, headers, &self.trusted_proxies)))
    }

    /// How long `client` must still wait, if it is locked out.
    pub fn locked_out(&self, client: Client, surface: Surface) -> Option<Duration> {
        let ip = client.0?;
        let now = Instant::now();
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let wait = entries
            .get(&ip)?
            .locked_until
            .and_then(|until| until.checked_duration_since(now))
            .filter(|wait| !wait.is_zero())?;
        metrics::counter!("kakao_auth_rate_limited_total", "surface" => surface.label())
            .increment(1);
        Some(wait)
    }

    /// Counts a failed check; the address is locked out once it reaches the
    /// limit within a minute.
    pub fn failed(&self, client: Client, surface: Surface) {
        metrics::counter!("kakao_auth_failures_total", "surface" => surface.label()).increment(1);
        let Some(ip) = client.0 else {
            return;
        };
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_TRACKED && !entries.contains_key(&ip) {
            make_room(&mut entries, now);
        }
        let entry = entries.entry(ip).or_insert(Entry {
            window_start: now,
            failures: 0,
            locked_until: None,
        });
        if now.duration_since(entry.window_start) > WINDOW {
            entry.window_start = now;
            entry.failures = 0;
        }
        entry.failures += 1;
        if entry.failures >= self.failures_per_minute && entry.locked_until.is_none_or(|t| t <= now)
        {
            entry.locked_until = Some(now + self.lockout);
            tracing::warn!(client.ip = %ip, surface = surface.label(), "too many failed token checks; locked out");
        }
    }
}

fn make_room(entries: &mut FxHashMap<IpAddr, Entry>, now: Instant) {
    entries.retain(|_, entry| {
        now.duration_since(entry.window_start) <= WINDOW
            || entry.locked_until.is_some_and(|until| until > now)
    });
    if entries.len() >= MAX_TRACKED
        && let Some(oldest) = entries
            .iter()
            .min_by_key(|(_, entry)| entry.window_start)
            .map(|(ip, _)| *ip)
    {
        entries.remove(&oldest);
    }
}

/// The peer a request came from, as the listener recorded it.
pub fn peer(extensions: &axum::http::Extensions) -> Option<SocketAddr> {
    extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|info| info.0)
}

/// `429` to an address locked out after too many failed token checks.
pub fn too_many_guesses(wait: Duration) -> axum::response::Response {
    let seconds = wait.as_secs().max(1);
    let mut response = super::error::ApiError::new(
        axum::http::StatusCode::TOO_MANY_REQUESTS,
        "too_many_failed_attempts",
        format!("too many failed token checks from this address; try again in {seconds} s"),
    )
    .into_response();
    response.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from(seconds),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(ip: &str) -> Option<SocketAddr> {
        Some(SocketAddr::new(ip.parse().unwrap(), 40000))
    }

    #[test]
    fn an_address_past_the_limit_is_locked_out_and_others_are_not() {
        let limiter = AuthLimiter::new(3, Duration::from_secs(60), Vec::new());
        let guesser = limiter.client(peer("203.0.113.7"), &HeaderMap::new());
        let other = limiter.client(peer("203.0.113.8"), &HeaderMap::new());
        for _ in 0..2 {
            limiter.failed(guesser, Surface::Api);
            assert_eq!(limiter.locked_out(guesser, Surface::Api), None);
        }
        limiter.failed(guesser, Surface::Console);
        assert!(limiter.locked_out(guesser, Surface::Api).is_some());
        assert_eq!(limiter.locked_out(other, Surface::Api), None);
    }

    #[test]
    fn a_local_client_is_never_limited_unless_it_is_a_trusted_proxy() {
        let limiter = AuthLimiter::new(1, Duration::from_secs(60), Vec::new());
        let local = limiter.client(peer("127.0.0.1"), &HeaderMap::new());
        limiter.failed(local, Surface::Api);
        assert_eq!(limiter.locked_out(local, Surface::Api), None);

        let proxied = AuthLimiter::new(
            1,
            Duration::from_secs(60),
            vec!["127.0.0.1/32".parse().unwrap()],
        );
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "198.51.100.4".parse().unwrap());
        let client = proxied.client(peer("127.0.0.1"), &headers);
        assert_eq!(client, Client(Some("198.51.100.4".parse().unwrap())));
        proxied.failed(client, Surface::Console);
        assert!(proxied.locked_out(client, Surface::Console).is_some());
    }

    #[test]
    fn the_table_is_bounded() {
        let limiter = AuthLimiter::new(100, Duration::from_secs(60), Vec::new());
        for n in 0..(MAX_TRACKED as u32 + 50) {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + n));
            limiter.failed(Client(Some(ip)), Surface::Api);
        }
        assert!(limiter.entries.lock().unwrap().len() <= MAX_TRACKED);
    }
}
