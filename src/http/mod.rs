//! HTTP plumbing every router of the service shares: the error every
//! handler returns ([`error`]), routers that know their route templates
//! ([`routes`]), and small helpers (JSON answers, the one outbound client,
//! constant-time secret checks, URL policy).

pub mod auth_limit;
pub mod client_addr;
pub mod error;
pub mod routes;
pub mod source_filter;

use subtle::ConstantTimeEq;

/// `body` as an `application/json` response, built with its one header: a
/// `(headers, body)` tuple sets the body's own content type first, then
/// inserts the JSON one over it, a second header insert on every answer.
pub fn json_response(body: impl Into<axum::body::Body>) -> axum::response::Response {
    let mut response = axum::response::Response::new(body.into());
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    response
}

/// The one client for every outbound call of the service (skill callbacks,
/// Kakao's key set and user API): pooled connections, redirects never
/// followed (a redirect is an answer, not an instruction: a callback URL's
/// host could otherwise send our POST anywhere). Each call sets its own
/// timeout; this bounds connecting.
/// Marks a request that came over the service's own TLS listener.
#[derive(Debug, Clone, Copy)]
pub struct OverTls;

pub fn outbound_client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(std::time::Duration::from_secs(5))
        .user_agent(concat!("kakao-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// `path` under `base`, keeping the base's own path (a stand-in for Kakao
/// may serve its API under a prefix, as `serve --dev` does at `/dev/bot`).
pub fn api_url(base: &url::Url, path: &str) -> url::Url {
    let mut url = base.clone();
    let joined = format!("{}{path}", base.path().trim_end_matches('/'));
    url.set_path(&joined);
    url.set_query(None);
    url
}

/// Kakao's endpoints are reached over https only: a key set or a user
/// profile fetched over plain http could be swapped on the way. Loopback
/// hosts (tests, `serve --dev`, a stand-in on the same machine) may use http.
pub fn https_or_loopback(url: &url::Url) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        scheme => Err(format!(
            "{scheme}:// is allowed only for loopback hosts; use https"
        )),
    }
}

/// Whether `url` names this machine (localhost or a loopback address).
pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// An answer's body, at most `max` bytes: a peer cannot make us buffer more.
pub async fn read_limited(mut response: reqwest::Response, max: usize) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|err| format!("reading the answer failed: {}", err.without_url()))?
    {
        if body.len() + chunk.len() > max {
            return Err(format!("the answer is larger than {max} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Compares a presented secret with the expected one in constant time (for
/// equal lengths; a length mismatch fails at once, revealing only the length).
pub fn secret_matches(presented: &[u8], expected: &str) -> bool {
    presented.ct_eq(expected.as_bytes()).into()
}

/// Whether `presented` is one of `secrets` (a current and a previous one,
/// during a rotation). Every one is compared, so timing does not tell which
/// matched.
pub fn matches_any<'a>(presented: &[u8], secrets: impl IntoIterator<Item = &'a str>) -> bool {
    secrets.into_iter().fold(false, |found, secret| {
        secret_matches(presented, secret) | found
    })
}

#[cfg(test)]
mod tests {
    use super::secret_matches;

    #[test]
    fn secrets_match_only_exactly() {
        assert!(secret_matches(b"s3cret", "s3cret"));
        assert!(!secret_matches(b"s3creT", "s3cret"));
        assert!(!secret_matches(b"s3cre", "s3cret"));
        assert!(!secret_matches(b"", "s3cret"));
    }
}
