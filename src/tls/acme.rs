//! Certificates from an ACME CA (`TLS_DOMAINS`), with the `instant-acme`
//! client. Every instance runs [`Renewer::run`]: each round it serves the
//! certificate stored in the database if that is new, and when none is
//! stored or the stored one is due, takes the `acme` lease and orders one.
//! So among instances sharing PostgreSQL one orders, under the lease, and
//! the others pick the result up within `TLS_RELOAD_SECONDS`, without a
//! restart and without dropping a connection.
//!
//! A certificate is due at two thirds of its lifetime, or earlier when the
//! CA's renewal information (ARI, RFC 9773) says so. A failed attempt is
//! retried with backoff, and recorded for the `tls_certificate` alert.

use std::{sync::Arc, time::Duration};

use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, CertificateIdentifier, ChallengeType, Error,
    Identifier, NewAccount, NewOrder, OrderStatus, RetryPolicy,
};
use rustls::pki_types::{CertificateDer, pem::PemObject};
use tokio_util::sync::CancellationToken;

use super::{ServedCertificate, certs::Certificate};
use crate::{
    clock::{now_millis, rfc3339},
    config::{AcmeChallenge, Settings},
    storage::{Storage, certificates::StoredChallenge},
    telemetry::Chain,
};

/// The lease one instance orders under.
const LEASE: &str = "acme";
/// How long an order may take before its lease lapses for another instance.
const LEASE_FOR: Duration = Duration::from_secs(600);
/// Bounds one whole attempt (every request to the CA and the checks).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(300);
/// The first retry after a failure; doubled each time, up to an hour.
const FIRST_RETRY: Duration = Duration::from_secs(30);
/// How often the CA's renewal window is asked for again.
const ARI_EVERY: Duration = Duration::from_secs(6 * 3600);

/// Obtains and renews the certificate for `TLS_DOMAINS`.
pub struct Renewer {
    storage: Storage,
    served: Arc<ServedCertificate>,
    domains: Vec<String>,
    /// The row's key: the domains, sorted, comma-joined.
    key: String,
    directory_url: String,
    email: Option<String>,
    ca_file: Option<std::path::PathBuf>,
    challenge: AcmeChallenge,
    every: Duration,
    holder: String,
}

impl Renewer {
    pub fn new(settings: &Settings, storage: Storage, served: Arc<ServedCertificate>) -> Self {
        Self {
            storage,
            served,
            key: domains_key(&settings.tls_domains),
            domains: settings.tls_domains.clone(),
            directory_url: settings.acme_directory_url.to_string(),
            email: settings.acme_email.clone(),
            ca_file: settings.acme_ca_file.clone(),
            challenge: settings.acme_challenge,
            every: Duration::from_secs(settings.tls_reload_seconds),
            holder: holder_id(),
        }
    }

    /// Serves the stored certificate, if there is one (at start, before the first round).
    pub async fn load(&self) {
        self.pick_up().await;
    }

    pub async fn run(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut retry = FIRST_RETRY;
        let mut next_attempt = 0;
        let mut next_ari = now_millis() + ARI_EVERY.as_millis() as i64;
        while shutdown.run_until_cancelled(tick.tick()).await.is_some() {
            let stored = self.pick_up().await;
            let now = now_millis();
            let due = match &stored {
                Some(row) if row.cert_pem.is_some() => row.renew_at.is_none_or(|at| now >= at),
                _ => true,
            };
            if !due {
                retry = FIRST_RETRY;
                if now >= next_ari {
                    next_ari = now + ARI_EVERY.as_millis() as i64;
                    self.ask_renewal_window().await;
                }
                continue;
            }
            if now < next_attempt {
                continue;
            }
            match self
                .storage
                .take_lease(LEASE, &self.holder, now, now + LEASE_FOR.as_millis() as i64)
                .await
            {
                Ok(true) => {}
                Ok(false) => continue, // another instance orders; its result is picked up
                Err(err) => {
                    tracing::warn!(error = %Chain(&err), "acme: cannot take the lease");
                    continue;
                }
            }
            let attempt = tokio::time::timeout(ATTEMPT_TIMEOUT, self.order(stored.as_ref())).await;
            let outcome = match attempt {
                Ok(outcome) => outcome,
                Err(_) => Err(format!(
                    "no certificate within {} s",
                    ATTEMPT_TIMEOUT.as_secs()
                )),
            };
            match outcome {
                Ok(()) => {
                    retry = FIRST_RETRY;
                    metrics::counter!("kakao_tls_certificates_issued_total").increment(1);
                    self.pick_up().await;
                }
                Err(err) => {
                    metrics::counter!("kakao_tls_renewal_failures_total").increment(1);
                    tracing::error!(
                        domains = %self.key,
                        error = %err,
                        retry_in_s = retry.as_secs(),
                        "acme: cannot obtain a certificate"
                    );
                    if let Err(store) = self
                        .storage
                        .certificate_failed(&self.key, &err, now_millis())
                        .await
                    {
                        tracing::warn!(error = %Chain(&store), "acme: cannot record the failure");
                    }
                    next_attempt = now_millis() + retry.as_millis() as i64;
                    retry = (retry * 2).min(Duration::from_secs(3600));
                }
            }
            if let Err(err) = self.storage.release_lease(LEASE, &self.holder).await {
                tracing::warn!(error = %Chain(&err), "acme: cannot release the lease; it lapses by itself");
            }
        }
    }

    /// Serves the stored certificate when it differs from the one served.
    async fn pick_up(&self) -> Option<crate::storage::certificates::StoredCertificate> {
        let row = match self.storage.certificate(&self.key).await {
            Ok(row) => row?,
            Err(err) => {
                tracing::warn!(error = %Chain(&err), "acme: cannot read the stored certificate");
                return None;
            }
        };
        if let (Some(chain), Some(key)) = (&row.cert_pem, &row.key_pem) {
            match Certificate::from_pem(chain.as_bytes(), key.as_bytes()) {
                Ok(certificate) if self.served.fingerprint() != Some(certificate.fingerprint) => {
                    tracing::info!(
                        domains = %self.key,
                        not_after = %rfc3339(certificate.not_after),
                        "serving the certificate from the database"
                    );
                    self.served.replace(certificate);
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::error!(error = %err, "acme: the stored certificate cannot be served")
                }
            }
        }
        Some(row)
    }

    async fn account(&self) -> Result<Account, String> {
        let builder = || match &self.ca_file {
            Some(path) => Account::builder_with_root(path)
                .map_err(|err| format!("ACME_CA_FILE {}: {err}", path.display())),
            None => Account::builder().map_err(|err| err.to_string()),
        };
        let stored = self
            .storage
            .acme_account(&self.directory_url)
            .await
            .map_err(|err| Chain(&err).to_string())?;
        if let Some(stored) = stored {
            let credentials: AccountCredentials = serde_json::from_str(&stored)
                .map_err(|err| format!("the stored ACME account cannot be read: {err}"))?;
            return builder()?
                .from_credentials(credentials)
                .await
                .map_err(|err| describe(&err));
        }
        let contact = self.email.as_ref().map(|email| format!("mailto:{email}"));
        let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
        let (account, credentials) = builder()?
            .create(
                &NewAccount {
                    contact: &contacts,
                    terms_of_service_agreed: true,
                    only_return_existing: false,
                },
                self.directory_url.clone(),
                None,
            )
            .await
            .map_err(|err| describe(&err))?;
        let text = serde_json::to_string(&credentials).map_err(|err| err.to_string())?;
        self.storage
            .save_acme_account(&self.directory_url, &text, now_millis())
            .await
            .map_err(|err| Chain(&err).to_string())?;
        tracing::info!(directory = %self.directory_url, "acme: account created");
        Ok(account)
    }

    /// One order, from the account to the stored certificate.
    async fn order(
        &self,
        previous: Option<&crate::storage::certificates::StoredCertificate>,
    ) -> Result<(), String> {
        let account = self.account().await?;
        let identifiers: Vec<Identifier> = self
            .domains
            .iter()
            .map(|d| Identifier::Dns(d.clone()))
            .collect();
        let replaces = previous
            .and_then(|row| row.cert_pem.as_deref())
            .and_then(identify);
        let mut order = match replaces.clone() {
            Some(id) => match account
                .new_order(&NewOrder::new(&identifiers).replaces(id))
                .await
            {
                Err(Error::Unsupported(_)) => account.new_order(&NewOrder::new(&identifiers)).await,
                other => other,
            },
            None => account.new_order(&NewOrder::new(&identifiers)).await,
        }
        .map_err(|err| describe(&err))?;
        let (kind, challenge_type) = match self.challenge {
            AcmeChallenge::TlsAlpn01 => ("tls-alpn-01", ChallengeType::TlsAlpn01),
            AcmeChallenge::Http01 => ("http-01", ChallengeType::Http01),
        };
        let mut tokens = Vec::new();
        let mut authorizations = order.authorizations();
        while let Some(authorization) = authorizations.next().await {
            let mut authorization = authorization.map_err(|err| describe(&err))?;
            match authorization.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                other => return Err(format!("an authorization is {other:?}")),
            }
            let domain = authorization.identifier().to_string();
            let mut challenge = authorization
                .challenge(challenge_type.clone())
                .ok_or_else(|| format!("the CA offers no {kind} challenge for {domain}"))?;
            let stored = StoredChallenge {
                token: challenge.token.clone(),
                kind: kind.to_owned(),
                domain,
                key_authorization: challenge.key_authorization().as_str().to_owned(),
                expires_at: now_millis() + LEASE_FOR.as_millis() as i64,
            };
            self.storage
                .save_challenge(&stored)
                .await
                .map_err(|err| Chain(&err).to_string())?;
            tokens.push(stored.token);
            challenge.set_ready().await.map_err(|err| describe(&err))?;
        }
        let polling = RetryPolicy::new()
            .initial_delay(Duration::from_millis(500))
            .timeout(Duration::from_secs(120));
        let status = order
            .poll_ready(&polling)
            .await
            .map_err(|err| describe(&err))?;
        if status != OrderStatus::Ready {
            let why = order
                .state()
                .error
                .as_ref()
                .map(|problem| problem.to_string())
                .unwrap_or_else(|| "the CA gave no reason".into());
            return Err(format!(
                "the CA did not validate the domains ({status:?}): {why}"
            ));
        }
        let key_pem = order.finalize().await.map_err(|err| describe(&err))?;
        let chain = order
            .poll_certificate(&polling)
            .await
            .map_err(|err| describe(&err))?;
        let _ = self.storage.delete_challenges(&tokens, now_millis()).await;
        let certificate = Certificate::from_pem(chain.as_bytes(), key_pem.as_bytes())
            .map_err(|err| format!("the CA's certificate cannot be served: {err}"))?;
        // Not sooner than a third of what is left: a CA that backdates its
        // certificates must not have us ordering again at once.
        let now = now_millis();
        let mut renew_at = two_thirds(&certificate).max(now + (certificate.not_after - now) / 3);
        if let Some(window) = renewal_window(&account, &chain).await {
            renew_at = renew_at.min(window);
        }
        self.storage
            .save_certificate(
                &self.key,
                (&chain, &key_pem),
                (certificate.not_after, renew_at),
                now_millis(),
            )
            .await
            .map_err(|err| Chain(&err).to_string())?;
        tracing::info!(
            domains = %self.key,
            not_after = %rfc3339(certificate.not_after),
            renew_at = %rfc3339(renew_at),
            "acme: certificate obtained"
        );
        Ok(())
    }

    /// Asks the CA whether the served certificate should be renewed early.
    async fn ask_renewal_window(&self) {
        let Ok(Some(row)) = self.storage.certificate(&self.key).await else {
            return;
        };
        let Some(chain) = row.cert_pem else { return };
        let Ok(account) = self.account().await else {
            return;
        };
        if let Some(at) = renewal_window(&account, &chain).await
            && let Err(err) = self.storage.renew_certificate_by(&self.key, at).await
        {
            tracing::warn!(error = %Chain(&err), "acme: cannot record the renewal window");
        }
    }
}

/// The certificate row's key for `domains`: sorted, comma-joined.
pub fn domains_key(domains: &[String]) -> String {
    let mut sorted = domains.to_vec();
    sorted.sort();
    sorted.dedup();
    sorted.join(",")
}

/// When two thirds of the certificate's lifetime have passed, ms.
fn two_thirds(certificate: &Certificate) -> i64 {
    certificate.not_before + (certificate.not_after - certificate.not_before) * 2 / 3
}

/// The certificate's ARI identifier (its issuer's key id and serial).
fn identify(chain: &str) -> Option<CertificateIdentifier<'static>> {
    let leaf = CertificateDer::pem_slice_iter(chain.as_bytes())
        .next()?
        .ok()?;
    CertificateIdentifier::try_from(&leaf)
        .ok()
        .map(|id| id.into_owned())
}

/// A time in the CA's suggested renewal window, if it offers one (ms).
async fn renewal_window(account: &Account, chain: &str) -> Option<i64> {
    let id = identify(chain)?;
    match account.renewal_info(&id).await {
        Ok((info, _)) => {
            let start = info.suggested_window.start.unix_timestamp() * 1000;
            let end = info.suggested_window.end.unix_timestamp() * 1000;
            // A random point in the window, as RFC 9773 asks, so that
            // instances and CAs' clients do not all come at once.
            let mut bytes = [0u8; 8];
            let _ = getrandom::fill(&mut bytes);
            let spread = (end - start).max(1);
            Some(start + (u64::from_le_bytes(bytes) % spread as u64) as i64)
        }
        Err(Error::Unsupported(_)) => None,
        Err(err) => {
            tracing::debug!(error = %describe(&err), "acme: no renewal information");
            None
        }
    }
}

/// An ACME error in one line, with the CA's problem document when it sent one.
fn describe(err: &Error) -> String {
    match err {
        Error::Api(problem) => format!("the CA refused: {problem}"),
        other => format!("{other}"),
    }
}

/// This instance's name as a lease holder.
fn holder_id() -> String {
    let mut bytes = [0u8; 8];
    let _ = getrandom::fill(&mut bytes);
    format!("{}-{:016x}", std::process::id(), u64::from_le_bytes(bytes))
}
