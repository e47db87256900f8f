//! Kakao's signing keys: discovered from `{issuer}/.well-known/sse-configuration`
//! (or `KAKAO_JWKS_URL`), cached, refreshed in the background.
//!
//! A known `kid` is answered from memory: the verify path only reads an
//! `Arc` under a lock that no fetch holds. An unknown `kid` forces at most one
//! fetch, single-flight, and at most once per cooldown, so a flood of random
//! `kid`s costs a bounded number of fetches. The last good set is kept when a
//! refresh fails.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::Duration,
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{
    DecodingKey,
    jwk::{AlgorithmParameters, JwkSet, KeyAlgorithm, PublicKeyUse},
};
use tokio::{sync::Mutex, time::Instant};
use tokio_util::sync::CancellationToken;
use url::Url;

/// Refresh bounds around the key set's `Cache-Control: max-age`.
const MIN_MAX_AGE: Duration = Duration::from_secs(5 * 60);
const MAX_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(60 * 60);
/// Retry delays of the background loop while no fetch succeeds.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(60);
/// Bounds on what a key-set host may send.
const MAX_BODY_BYTES: usize = 256 * 1024;
const MAX_KEYS: usize = 64;
const MIN_RSA_BITS: usize = 2048;

/// Where the key set comes from.
#[derive(Debug, Clone)]
pub enum KeySource {
    Jwks(Url),
    /// `jwks_uri` of `{issuer}/.well-known/sse-configuration`.
    Discover(Url),
}

/// The answer for one `kid`.
#[derive(Clone)]
pub enum Lookup {
    Found(Arc<DecodingKey>),
    /// Not in a key set fetched just now (or within the cooldown).
    Unknown,
    /// Not in the current key set, which was fetched before the SET arrived,
    /// and no refetch is allowed for this long yet (the cooldown): perhaps a
    /// key rotated in since, so the sender is asked to retry, not refused.
    RetryLater(Duration),
    /// Present, but not a key we verify with (weak, not RSA, not for signing).
    Refused(String),
    /// No key set could be had: not the sender's fault.
    Unavailable(String),
}

enum Key {
    Usable(Arc<DecodingKey>),
    Refused(String),
}

struct KeySet {
    keys: HashMap<String, Key>,
    fetched_at: Instant,
    /// Its `Cache-Control: max-age`, clamped: past it, it is stale.
    lifetime: Duration,
}

/// The state of forced fetches, behind the single-flight lock.
#[derive(Default)]
struct Forced {
    last: Option<Instant>,
    last_ok: bool,
}

pub struct KeyStore {
    source: KeySource,
    client: reqwest::Client,
    timeout: Duration,
    cooldown: Duration,
    current: RwLock<Option<Arc<KeySet>>>,
    forced: Mutex<Forced>,
    discovered: Mutex<Option<Url>>,
    last_fetch: RwLock<Option<LastFetch>>,
}

/// The last fetch of the key set, whatever its outcome (for the console).
#[derive(Debug, Clone)]
pub struct LastFetch {
    pub at: std::time::SystemTime,
    pub trigger: &'static str,
    /// `ok`, or `failed: why` (no URL in it).
    pub outcome: String,
}

impl KeyStore {
    /// `client` never follows redirects: a key set that moved is configured
    /// anew (`KAKAO_JWKS_URL`), not followed to wherever a redirect points.
    pub fn new(
        source: KeySource,
        client: reqwest::Client,
        timeout: Duration,
        cooldown: Duration,
    ) -> Self {
        Self {
            source,
            client,
            timeout,
            cooldown,
            current: RwLock::new(None),
            forced: Mutex::new(Forced::default()),
            discovered: Mutex::new(None),
            last_fetch: RwLock::new(None),
        }
    }

    /// True once a key set has been loaded.
    pub fn is_loaded(&self) -> bool {
        self.current.read().expect("not poisoned").is_some()
    }

    /// Seconds since the current key set was fetched.
    pub fn age(&self) -> Option<Duration> {
        let current = self.current.read().expect("not poisoned");
        current.as_ref().map(|set| set.fetched_at.elapsed())
    }

    /// The key set could not be refreshed and is past its lifetime (or
    /// none was ever loaded, though a fetch was tried): an alert.
    pub fn is_stale(&self) -> bool {
        let failing = self.last_fetch().is_some_and(|last| last.outcome != "ok");
        let current = self.current.read().expect("not poisoned");
        let expired = current
            .as_ref()
            .is_none_or(|set| set.fetched_at.elapsed() > set.lifetime);
        failing && expired
    }

    pub fn last_fetch(&self) -> Option<LastFetch> {
        self.last_fetch.read().expect("not poisoned").clone()
    }

    /// The `kid`s of the current key set, sorted (for the console).
    pub fn kids(&self) -> Vec<String> {
        let current = self.current.read().expect("not poisoned");
        let mut kids: Vec<String> = current
            .as_ref()
            .map(|set| set.keys.keys().cloned().collect())
            .unwrap_or_default();
        kids.sort();
        kids
    }

    /// The key for `kid`, fetching the key set at most once if it is unknown.
    pub async fn key(&self, kid: &str) -> Lookup {
        let asked = Instant::now();
        if let Some(found) = self.cached(kid) {
            return found;
        }
        let mut forced = self.forced.lock().await;
        // A fetch that finished while we waited may have brought it.
        if let Some(found) = self.cached(kid) {
            return found;
        }
        if let Some(since) = forced.last.map(|at| at.elapsed())
            && since < self.cooldown
        {
            if !(forced.last_ok && self.is_loaded()) {
                return Lookup::Unavailable("the key set could not be fetched".into());
            }
            // Unknown only to a key set fetched after the SET arrived.
            let fetched_since = self
                .current
                .read()
                .expect("not poisoned")
                .as_ref()
                .is_some_and(|set| set.fetched_at >= asked);
            return if fetched_since {
                Lookup::Unknown
            } else {
                Lookup::RetryLater(self.cooldown - since)
            };
        }
        forced.last = Some(Instant::now());
        match self.refresh("unknown_kid").await {
            Ok(_) => {
                forced.last_ok = true;
                self.cached(kid).unwrap_or(Lookup::Unknown)
            }
            Err(reason) => {
                forced.last_ok = false;
                Lookup::Unavailable(reason)
            }
        }
    }

    fn cached(&self, kid: &str) -> Option<Lookup> {
        let current = self.current.read().expect("not poisoned");
        match current.as_ref()?.keys.get(kid)? {
            Key::Usable(key) => Some(Lookup::Found(Arc::clone(key))),
            Key::Refused(why) => Some(Lookup::Refused(why.clone())),
        }
    }

    /// Keeps the key set fresh until `shutdown`: loads it at once, then
    /// refreshes on its max-age, retrying with backoff while fetches fail.
    pub async fn refresh_in_background(self: Arc<Self>, shutdown: CancellationToken) {
        let mut retry = RETRY_FIRST;
        loop {
            let wait = match self.refresh("scheduled").await {
                Ok(max_age) => {
                    retry = RETRY_FIRST;
                    max_age
                }
                Err(reason) => {
                    tracing::warn!(%reason, retry_s = retry.as_secs(), "JWKS refresh failed; keeping the last key set");
                    let wait = retry;
                    retry = (retry * 2).min(RETRY_MAX);
                    wait
                }
            };
            if shutdown
                .run_until_cancelled(tokio::time::sleep(wait))
                .await
                .is_none()
            {
                return;
            }
        }
    }

    /// Fetches and installs the key set; returns its max-age.
    async fn refresh(&self, trigger: &'static str) -> Result<Duration, String> {
        let outcome = tokio::time::timeout(self.timeout, self.fetch()).await;
        let result = match outcome {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {} ms", self.timeout.as_millis())),
        };
        let label = if result.is_ok() { "ok" } else { "failed" };
        *self.last_fetch.write().expect("not poisoned") = Some(LastFetch {
            at: std::time::SystemTime::now(),
            trigger,
            outcome: match &result {
                Ok(_) => "ok".to_owned(),
                Err(why) => format!("failed: {why}"),
            },
        });
        metrics::counter!("kakao_jwks_fetches_total", "trigger" => trigger, "outcome" => label)
            .increment(1);
        let (set, max_age) = result?;
        tracing::info!(
            keys = set.keys.len(),
            trigger,
            max_age_s = max_age.as_secs(),
            "JWKS loaded"
        );
        *self.current.write().expect("not poisoned") = Some(Arc::new(set));
        Ok(max_age)
    }

    async fn fetch(&self) -> Result<(KeySet, Duration), String> {
        let url = self.jwks_url().await?;
        let response = self
            .client
            .get(url.clone())
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|err| {
                format!(
                    "JWKS request to {} failed: {}",
                    url.host_str().unwrap_or("?"),
                    err.without_url()
                )
            })?;
        if !response.status().is_success() {
            return Err(format!("JWKS answered {}", response.status()));
        }
        let max_age = max_age(response.headers());
        let body = bounded_body(response).await?;
        let set: JwkSet =
            serde_json::from_slice(&body).map_err(|err| format!("JWKS is not a key set: {err}"))?;
        if set.keys.len() > MAX_KEYS {
            return Err(format!(
                "JWKS has {} keys; at most {MAX_KEYS}",
                set.keys.len()
            ));
        }
        let keys = set
            .keys
            .iter()
            .filter_map(|jwk| Some((jwk.common.key_id.clone()?, usable_key(jwk))))
            .collect();
        Ok((
            KeySet {
                keys,
                fetched_at: Instant::now(),
                lifetime: max_age,
            },
            max_age,
        ))
    }

    async fn jwks_url(&self) -> Result<Url, String> {
        let issuer = match &self.source {
            KeySource::Jwks(url) => return Ok(url.clone()),
            KeySource::Discover(issuer) => issuer,
        };
        let mut discovered = self.discovered.lock().await;
        if let Some(url) = discovered.as_ref() {
            return Ok(url.clone());
        }
        let config_url = format!(
            "{}/.well-known/sse-configuration",
            issuer.as_str().trim_end_matches('/')
        );
        // Errors name the issuer's host, never a URL (logs stay free of URLs).
        let host = issuer.host_str().unwrap_or("?");
        let response = self
            .client
            .get(&config_url)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|err| format!("discovery at {host} failed: {}", err.without_url()))?;
        if !response.status().is_success() {
            return Err(format!(
                "discovery at {host} answered {}",
                response.status()
            ));
        }
        let body = bounded_body(response).await?;
        #[derive(serde::Deserialize)]
        struct Configuration {
            jwks_uri: String,
        }
        let config: Configuration = serde_json::from_slice(&body)
            .map_err(|err| format!("discovery at {host} gave no jwks_uri: {err}"))?;
        let url = discovered_jwks_uri(issuer, &config.jwks_uri)?;
        *discovered = Some(url.clone());
        Ok(url)
    }
}

/// The `jwks_uri` a discovery document names, if we may fetch keys there:
/// https (http only on loopback) and on the issuer's own host, so whoever
/// can answer the discovery call cannot point us at keys elsewhere.
fn discovered_jwks_uri(issuer: &Url, jwks_uri: &str) -> Result<Url, String> {
    let url =
        Url::parse(jwks_uri).map_err(|_| "the discovered jwks_uri is not a URL".to_owned())?;
    crate::http::https_or_loopback(&url)
        .map_err(|why| format!("the discovered jwks_uri: {why}"))?;
    if url.host_str().is_none() || url.host_str() != issuer.host_str() {
        return Err(format!(
            "the discovered jwks_uri is not on the issuer's host {}",
            issuer.host_str().unwrap_or("?")
        ));
    }
    Ok(url)
}

/// `Cache-Control: max-age`, clamped; a default when absent.
fn max_age(headers: &reqwest::header::HeaderMap) -> Duration {
    headers
        .get_all(reqwest::header::CACHE_CONTROL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(|directive| {
            directive
                .trim()
                .strip_prefix("max-age=")?
                .parse::<u64>()
                .ok()
        })
        .map_or(DEFAULT_MAX_AGE, |secs| {
            Duration::from_secs(secs).clamp(MIN_MAX_AGE, MAX_MAX_AGE)
        })
}

async fn bounded_body(response: reqwest::Response) -> Result<Vec<u8>, String> {
    if response
        .content_length()
        .is_some_and(|len| len > MAX_BODY_BYTES as u64)
    {
        return Err("JWKS body too large".into());
    }
    crate::http::read_limited(response, MAX_BODY_BYTES)
        .await
        .map_err(|why| format!("JWKS body: {why}"))
}

/// An RSA signing key of at least 2048 bits for RS256, or why not.
fn usable_key(jwk: &jsonwebtoken::jwk::Jwk) -> Key {
    let AlgorithmParameters::RSA(rsa) = &jwk.algorithm else {
        return Key::Refused("not an RSA key".into());
    };
    if jwk
        .common
        .key_algorithm
        .is_some_and(|alg| alg != KeyAlgorithm::RS256)
    {
        return Key::Refused("key is not for RS256".into());
    }
    if jwk
        .common
        .public_key_use
        .as_ref()
        .is_some_and(|key_use| *key_use != PublicKeyUse::Signature)
    {
        return Key::Refused("key is not for signatures".into());
    }
    let Ok(modulus) = URL_SAFE_NO_PAD.decode(rsa.n.trim_end_matches('=')) else {
        return Key::Refused("key modulus is not base64url".into());
    };
    let bits = modulus_bits(&modulus);
    if bits < MIN_RSA_BITS {
        return Key::Refused(format!("weak key: {bits}-bit RSA; at least {MIN_RSA_BITS}"));
    }
    match DecodingKey::from_jwk(jwk) {
        Ok(key) => Key::Usable(Arc::new(key)),
        Err(err) => Key::Refused(format!("unusable key: {err}")),
    }
}

fn modulus_bits(modulus: &[u8]) -> usize {
    let start = modulus
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(modulus.len());
    match modulus.get(start) {
        None => 0,
        Some(first) => (modulus.len() - start) * 8 - first.leading_zeros() as usize,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modulus_bits_count_from_the_first_set_bit() {
        assert_eq!(modulus_bits(&[0x80; 256]), 2048);
        assert_eq!(modulus_bits(&[0x00, 0x01, 0xff]), 9);
        assert_eq!(modulus_bits(&[]), 0);
    }

    #[test]
    fn a_discovered_jwks_uri_must_be_https_on_the_issuers_host() {
        let kakao: Url = "https://kauth.kakao.com".parse().unwrap();
        let ok = discovered_jwks_uri(&kakao, "https://kauth.kakao.com/.well-known/jwks.json");
        assert_eq!(ok.unwrap().path(), "/.well-known/jwks.json");
        for (uri, says) in [
            ("http://kauth.kakao.com/jwks.json", "https"),
            ("https://evil.example/jwks.json", "issuer's host"),
            (
                "https://kauth.kakao.com.evil.example/jwks.json",
                "issuer's host",
            ),
            ("file:///etc/passwd", "https"),
            ("not a url", "not a URL"),
        ] {
            let err = discovered_jwks_uri(&kakao, uri).unwrap_err();
            assert!(err.contains(says), "{uri}: {err}");
        }
        let local: Url = "http://127.0.0.1:8080".parse().unwrap();
        assert!(discovered_jwks_uri(&local, "http://127.0.0.1:9090/jwks").is_ok());
    }

    #[test]
    fn max_age_is_clamped_and_defaulted() {
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(max_age(&headers), DEFAULT_MAX_AGE);
        headers.insert("cache-control", "public, max-age=7200".parse().unwrap());
        assert_eq!(max_age(&headers), Duration::from_secs(7200));
        headers.insert("cache-control", "max-age=3".parse().unwrap());
        assert_eq!(max_age(&headers), MIN_MAX_AGE);
        headers.insert("cache-control", "max-age=99999999".parse().unwrap());
        assert_eq!(max_age(&headers), MAX_MAX_AGE);
    }
}
