//! `kakao-webhooks doctor URL`: checks a deployed service from the outside,
//! the way Kakao's servers will call it, and says how to fix what fails.
//!
//! The usual reasons OpenBuilder and Kakao Developers refuse a URL: a
//! certificate chain without its intermediate, a certificate for another
//! name, an expired one, a redirect, a wrong verification body, a trailing
//! slash, a slow answer. One line per check, `✓` or `✗` with the fix; the
//! command exits 1 when any check fails.

mod tls;

use std::{path::Path, time::Duration};

use anyhow::Context;
use rustls::pki_types::{CertificateDer, pem::PemObject};
use url::Url;

use crate::skill::VERIFICATION_BODY;

/// How long a certificate must still be valid.
const EXPIRY_MARGIN_DAYS: i64 = 14;
/// Bound on every connection and request doctor makes.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Kakao's deadlines, per family.
const SKILL_DEADLINE: Duration = Duration::from_secs(5);
const LOGIN_DEADLINE: Duration = Duration::from_secs(3);
const BOT_DEADLINE: Duration = Duration::from_secs(1);

/// One verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
    pub fix: Option<String>,
}

impl Check {
    fn pass(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ok: true,
            detail: detail.into(),
            fix: None,
        }
    }

    fn fail(name: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ok: false,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mark = if self.ok { '✓' } else { '✗' };
        write!(f, "{mark} {}: {}", self.name, self.detail)?;
        if let Some(fix) = &self.fix {
            write!(f, "\n    fix: {fix}")?;
        }
        Ok(())
    }
}

/// Runs every check against `base`; `ca_file` adds trusted roots (PEM);
/// `resolve` is where to connect instead of the host's DNS answer (a server
/// checked before DNS points at it).
pub async fn examine(
    base: &Url,
    ca_file: Option<&Path>,
    resolve: Option<std::net::SocketAddr>,
) -> anyhow::Result<Vec<Check>> {
    let extra = match ca_file {
        Some(path) => CertificateDer::pem_file_iter(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("{} holds no PEM certificates", path.display()))?,
        None => Vec::new(),
    };
    let mut checks = Vec::new();
    let host = base.host_str().context("the URL has no host")?.to_owned();
    if base.scheme() == "https" {
        let port = base.port_or_known_default().unwrap_or(443);
        let roots = tls::roots(&extra);
        match tls::inspect(&host, port, resolve, roots, TIMEOUT).await {
            Ok(findings) => checks.extend(tls_checks(&host, &findings)),
            Err(err) => checks.push(Check::fail(
                "TLS",
                format!("{err:#}"),
                "make the host answer TLS on this port",
            )),
        }
    } else {
        checks.push(Check::fail(
            "https",
            format!("{base} is {}", base.scheme()),
            "Kakao calls https URLs only: serve the service behind TLS",
        ));
    }
    let mut client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .tls_certs_only(native_and_extra(&extra));
    if let Some(address) = resolve {
        client = client.resolve(&host, address);
    }
    let client = client.build().context("cannot build the HTTP client")?;
    for path in ["/kakao/skill", "/kakao/skill/"] {
        checks.push(verification(&client, base, path).await);
    }
    checks.push(admin_key_required(&client, base).await);
    checks.push(bot_header_required(&client, base).await);
    checks.push(api_not_reachable(&client, base).await);
    Ok(checks)
}

/// reqwest's roots: the system's and `extra`, nothing built in besides.
fn native_and_extra(extra: &[CertificateDer<'static>]) -> Vec<reqwest::Certificate> {
    rustls_native_certs::load_native_certs()
        .certs
        .iter()
        .chain(extra)
        .filter_map(|der| reqwest::Certificate::from_der(der).ok())
        .collect()
}

fn tls_checks(host: &str, found: &tls::TlsFindings) -> Vec<Check> {
    let leaf = &found.chain[0];
    let sent = found.chain.len();
    let chain = match &found.chain_result {
        Ok(()) => Check::pass(
            "certificate chain",
            format!("{sent} certificate(s) sent; they lead to a trusted root"),
        ),
        Err(rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)) => {
            let last = found.chain.last().and_then(tls::describe);
            let issuer = last.map_or_else(|| "?".into(), |(_, issuer, _)| issuer);
            Check::fail(
                "certificate chain",
                format!(
                    "{sent} certificate(s) sent and the last is issued by {issuer}, which is neither sent nor a trusted root: the intermediate certificate is missing"
                ),
                "serve the full chain (the certificate, then its intermediates: fullchain.pem, not cert.pem)",
            )
        }
        Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::Expired | rustls::CertificateError::ExpiredContext { .. },
        )) => Check::fail(
            "certificate chain",
            "a certificate in the chain has expired",
            "renew the certificate and reload the server",
        ),
        Err(other) => Check::fail(
            "certificate chain",
            format!("refused: {other}"),
            "serve a certificate from a public CA with its full chain",
        ),
    };
    let name = match &found.name_result {
        Ok(()) => Check::pass("host name", format!("the certificate names {host}")),
        Err(detail) => Check::fail(
            "host name",
            format!("{detail}, not {host}"),
            format!("serve a certificate whose subject alternative names include {host}"),
        ),
    };
    let expiry = match tls::describe(leaf) {
        Some((_, _, left)) if left <= 0 => Check::fail(
            "expiry",
            "the certificate has expired",
            "renew the certificate and reload the server",
        ),
        Some((_, _, left)) if left < EXPIRY_MARGIN_DAYS * 86_400 => Check::fail(
            "expiry",
            format!("the certificate expires in {} day(s)", left / 86_400),
            "renew it now (automate renewal: certbot, cert-manager)",
        ),
        Some((_, _, left)) => {
            Check::pass("expiry", format!("valid for {} more days", left / 86_400))
        }
        None => Check::fail(
            "expiry",
            "the certificate cannot be read",
            "serve an X.509 certificate",
        ),
    };
    vec![chain, name, expiry]
}

fn url(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let prefix = base.path().trim_end_matches('/');
    url.set_path(&format!("{prefix}{path}"));
    url.set_query(None);
    url
}

/// A GET with its timing; a redirect is an answer, never followed.
async fn get(
    client: &reqwest::Client,
    url: Url,
) -> Result<(reqwest::Response, Duration), reqwest::Error> {
    let started = std::time::Instant::now();
    let response = client.get(url).send().await?;
    Ok((response, started.elapsed()))
}

fn redirect(name: &str, response: &reqwest::Response) -> Option<Check> {
    response.status().is_redirection().then(|| {
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("?");
        Check::fail(
            name,
            format!("answers {} to {location}", response.status()),
            "Kakao does not follow redirects: register the final https URL (and the exact path)",
        )
    })
}

fn unreachable(name: &str, err: &reqwest::Error) -> Check {
    Check::fail(
        name,
        format!("no answer: {}", crate::telemetry::Chain(err)),
        "make the URL reachable from the internet over https",
    )
}

fn slow(name: &str, took: Duration, deadline: Duration) -> Option<Check> {
    (took > deadline / 2).then(|| {
        Check::fail(
            name,
            format!(
                "answered in {} ms; Kakao gives up at {} s",
                took.as_millis(),
                deadline.as_secs()
            ),
            "answer well inside Kakao's deadline: check the network path and the server's load",
        )
    })
}

/// `GET /kakao/skill` answers exactly the verification body as JSON.
async fn verification(client: &reqwest::Client, base: &Url, path: &str) -> Check {
    let name = format!("GET {path}");
    let (response, took) = match get(client, url(base, path)).await {
        Ok(answer) => answer,
        Err(err) => return unreachable(&name, &err),
    };
    if let Some(check) = redirect(&name, &response) {
        return check;
    }
    let status = response.status();
    let json = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    let body = response.text().await.unwrap_or_default();
    if !status.is_success() || body != VERIFICATION_BODY || !json {
        return Check::fail(
            name,
            format!("answered {status} {:?}", truncate(&body)),
            format!(
                "answer 200 application/json {VERIFICATION_BODY} (is the path right, and is it kakao-webhooks?)"
            ),
        );
    }
    slow(&name, took, SKILL_DEADLINE).unwrap_or_else(|| {
        Check::pass(
            name,
            format!("{VERIFICATION_BODY} in {} ms", took.as_millis()),
        )
    })
}

/// `/kakao/unlink` without Kakao's admin key must be refused.
async fn admin_key_required(client: &reqwest::Client, base: &Url) -> Check {
    let name = "admin key required".to_owned();
    let (response, took) = match get(client, url(base, "/kakao/unlink")).await {
        Ok(answer) => answer,
        Err(err) => return unreachable(&name, &err),
    };
    if let Some(check) = redirect(&name, &response) {
        return check;
    }
    let status = response.status();
    match status.as_u16() {
        401 => slow(&name, took, LOGIN_DEADLINE).unwrap_or_else(|| {
            Check::pass(
                name,
                format!(
                    "/kakao/unlink without a key: 401 in {} ms",
                    took.as_millis()
                ),
            )
        }),
        503 => Check::fail(
            name,
            "/kakao/unlink answers 503: the Kakao Login webhooks are not configured",
            "set KAKAO_ADMIN_KEY and KAKAO_APP_ID",
        ),
        _ => Check::fail(
            name,
            format!("/kakao/unlink without a key answered {status}"),
            "the admin-key webhooks must refuse unauthenticated calls: is this kakao-webhooks?",
        ),
    }
}

/// `/kakao/bot` without the custom header must be refused, within 1 s.
async fn bot_header_required(client: &reqwest::Client, base: &Url) -> Check {
    let name = "bot webhook".to_owned();
    let started = std::time::Instant::now();
    let sent = client
        .post(url(base, "/kakao/bot"))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body("{}")
        .send()
        .await;
    let took = started.elapsed();
    let response = match sent {
        Ok(response) => response,
        Err(err) => return unreachable(&name, &err),
    };
    if let Some(check) = redirect(&name, &response) {
        return check;
    }
    match response.status().as_u16() {
        401 => slow(&name, took, BOT_DEADLINE).unwrap_or_else(|| {
            Check::pass(
                name,
                format!(
                    "/kakao/bot without the custom header: 401 in {} ms",
                    took.as_millis()
                ),
            )
        }),
        503 => Check::pass(
            name,
            "not configured (KAKAO_BOT_TOKEN unset); nothing to check",
        ),
        status => Check::fail(
            name,
            format!(
                "/kakao/bot without the custom header answered {status}: anyone can post bot events"
            ),
            "register a custom header with the webhook URL and set KAKAO_BOT_WEBHOOK_SECRET to its value",
        ),
    }
}

/// The application's API should not answer from where Kakao calls.
async fn api_not_reachable(client: &reqwest::Client, base: &Url) -> Check {
    let name = "application API hidden".to_owned();
    match get(client, url(base, "/api/events")).await {
        Err(_) => Check::pass(name, "/api does not answer from here"),
        Ok((response, _)) if response.status() == reqwest::StatusCode::NOT_FOUND => {
            Check::pass(name, "/api answers 404 from here")
        }
        Ok((response, _)) => Check::fail(
            name,
            format!("/api/events answers {} from here", response.status()),
            "serve /api on an internal listener only, or block /api at the proxy",
        ),
    }
}

fn truncate(body: &str) -> String {
    body.chars().take(80).collect()
}

/// Prints every check; true when all passed.
pub fn print(base: &Url, checks: &[Check]) -> bool {
    println!("kakao-webhooks doctor {base}");
    for check in checks {
        println!("{check}");
    }
    let failed = checks.iter().filter(|check| !check.ok).count();
    if failed == 0 {
        println!("all {} checks passed", checks.len());
    } else {
        println!("{failed} of {} checks failed", checks.len());
    }
    failed == 0
}
