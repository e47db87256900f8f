//! A certificate as served: its chain and key read from PEM, and what is
//! known about it (when it expires, which names it covers). Also the watch
//! on `TLS_CERT_FILE` and `TLS_KEY_FILE`.

use std::{path::PathBuf, sync::Arc, time::Duration};

use rustls::{
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    sign::CertifiedKey,
};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use super::ServedCertificate;

/// A chain and its key, ready to serve.
#[derive(Clone)]
pub struct Certificate {
    pub key: Arc<CertifiedKey>,
    /// ms since the epoch.
    pub not_before: i64,
    pub not_after: i64,
    /// The leaf's DNS names.
    pub names: Vec<String>,
    /// SHA-256 of the chain's PEM: a new certificate has a new one (a new
    /// key always comes with a new certificate).
    pub fingerprint: [u8; 32],
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("names", &self.names)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// Why a certificate cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    #[error("no certificate in the PEM")]
    NoCertificate,
    #[error("the certificate is not PEM: {0}")]
    CertificatePem(String),
    #[error("no private key in the PEM (PKCS#8, PKCS#1 or SEC1): {0}")]
    KeyPem(String),
    #[error("the private key is not usable: {0}")]
    Key(String),
    #[error("the private key does not belong to the certificate")]
    KeyMismatch,
    #[error("the certificate cannot be read: {0}")]
    X509(String),
}

impl Certificate {
    /// The chain (leaf first) and its key, both PEM.
    pub fn from_pem(chain: &[u8], key: &[u8]) -> Result<Self, CertificateError> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain)
            .collect::<Result<_, _>>()
            .map_err(|err| CertificateError::CertificatePem(err.to_string()))?;
        let leaf = certs.first().ok_or(CertificateError::NoCertificate)?;
        let (not_before, not_after, names) = describe(leaf)?;
        let key = PrivateKeyDer::from_pem_slice(key)
            .map_err(|err| CertificateError::KeyPem(err.to_string()))?;
        let provider = super::provider();
        let signing = provider
            .key_provider
            .load_private_key(key)
            .map_err(|err| CertificateError::Key(err.to_string()))?;
        let certified = CertifiedKey::new(certs, signing);
        certified
            .keys_match()
            .map_err(|_| CertificateError::KeyMismatch)?;
        let mut hash = Sha256::new();
        hash.update(chain);
        Ok(Self {
            key: Arc::new(certified),
            not_before,
            not_after,
            names,
            fingerprint: hash.finalize().into(),
        })
    }
}

/// The leaf's validity (ms) and DNS names.
pub fn describe(leaf: &[u8]) -> Result<(i64, i64, Vec<String>), CertificateError> {
    let (_, parsed) = x509_parser::parse_x509_certificate(leaf)
        .map_err(|err| CertificateError::X509(err.to_string()))?;
    let validity = parsed.validity();
    let names = parsed
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    x509_parser::extensions::GeneralName::DNSName(dns) => Some(dns.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    Ok((
        validity.not_before.timestamp() * 1000,
        validity.not_after.timestamp() * 1000,
        names,
    ))
}

/// `TLS_CERT_FILE` and `TLS_KEY_FILE`.
#[derive(Debug, Clone)]
pub struct CertificateFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl CertificateFiles {
    pub fn load(&self) -> Result<Certificate, String> {
        let chain = std::fs::read(&self.cert)
            .map_err(|err| format!("cannot read TLS_CERT_FILE {}: {err}", self.cert.display()))?;
        let key = std::fs::read(&self.key)
            .map_err(|err| format!("cannot read TLS_KEY_FILE {}: {err}", self.key.display()))?;
        Certificate::from_pem(&chain, &key).map_err(|err| {
            format!(
                "TLS_CERT_FILE {} with TLS_KEY_FILE {}: {err}",
                self.cert.display(),
                self.key.display()
            )
        })
    }

    /// Every `every`: reads the files again and serves what they hold when
    /// it changed. A pair caught half-written, or broken, is logged and
    /// counted, and the certificate already served stays.
    pub async fn watch(
        self,
        served: Arc<ServedCertificate>,
        every: Duration,
        shutdown: CancellationToken,
    ) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_error = None;
        while shutdown.run_until_cancelled(tick.tick()).await.is_some() {
            match self.load() {
                Ok(certificate) => {
                    last_error = None;
                    if served.fingerprint() != Some(certificate.fingerprint) {
                        tracing::info!(
                            names = ?certificate.names,
                            not_after = %crate::clock::rfc3339(certificate.not_after),
                            "TLS_CERT_FILE changed: serving the new certificate"
                        );
                        served.replace(certificate);
                    }
                }
                Err(err) => {
                    if last_error.as_ref() != Some(&err) {
                        metrics::counter!("kakao_tls_reload_failures_total").increment(1);
                        tracing::error!(error = %err, "cannot reload the certificate; still serving the previous one");
                        last_error = Some(err);
                    }
                }
            }
        }
    }
}
