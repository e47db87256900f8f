//! Answering the CA's checks (RFC 8555 HTTP-01, RFC 8737 TLS-ALPN-01).
//! The instance that orders a certificate keeps each challenge in the
//! database, so whichever instance the CA reaches can answer it; a
//! challenge is looked up in memory first, then there.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use rustls::ServerConfig;
use sha2::{Digest, Sha256};

use crate::{clock::now_millis, storage::Storage, telemetry::Chain};

/// The challenges answered by this instance, and where others keep theirs.
#[derive(Debug)]
pub struct Challenges {
    storage: Storage,
    /// domain → the TLS-ALPN-01 answer made for its key authorization.
    tls_alpn: Mutex<HashMap<String, (String, Arc<ServerConfig>)>>,
}

impl Challenges {
    pub fn new(storage: Storage) -> Self {
        Self {
            storage,
            tls_alpn: Mutex::new(HashMap::new()),
        }
    }

    /// The key authorization to answer `GET /.well-known/acme-challenge/{token}` with.
    pub async fn http_answer(&self, token: &str) -> Option<String> {
        if token.is_empty() || token.len() > 128 {
            return None;
        }
        match self.storage.http_challenge(token, now_millis()).await {
            Ok(answer) => answer,
            Err(err) => {
                tracing::warn!(error = %Chain(&err), "cannot read an ACME challenge");
                None
            }
        }
    }

    /// The TLS config that answers the TLS-ALPN-01 check for `domain`, if a
    /// check for it is in progress.
    pub async fn tls_alpn_config(&self, domain: &str) -> Option<Arc<ServerConfig>> {
        let key_authorization = match self.storage.tls_alpn_challenge(domain, now_millis()).await {
            Ok(found) => found?,
            Err(err) => {
                tracing::warn!(error = %Chain(&err), "cannot read an ACME challenge");
                return None;
            }
        };
        if let Some((made_for, config)) = self.tls_alpn.lock().expect("never poisoned").get(domain)
            && *made_for == key_authorization
        {
            return Some(Arc::clone(config));
        }
        let config = match tls_alpn_config(domain, &key_authorization) {
            Ok(config) => Arc::new(config),
            Err(err) => {
                tracing::error!(error = %err, domain, "cannot make the TLS-ALPN-01 certificate");
                return None;
            }
        };
        let mut made = self.tls_alpn.lock().expect("never poisoned");
        if made.len() >= 64 {
            made.clear(); // bounded: a certificate names a few domains
        }
        made.insert(domain.to_owned(), (key_authorization, Arc::clone(&config)));
        Some(config)
    }
}

/// A self-signed certificate for `domain` carrying the SHA-256 of the key
/// authorization in the critical acmeIdentifier extension, offered only to
/// `acme-tls/1`.
fn tls_alpn_config(domain: &str, key_authorization: &str) -> Result<ServerConfig, String> {
    let digest = Sha256::digest(key_authorization.as_bytes());
    let mut params =
        rcgen::CertificateParams::new(vec![domain.to_owned()]).map_err(|err| err.to_string())?;
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(&digest)];
    let key = rcgen::KeyPair::generate().map_err(|err| err.to_string())?;
    let cert = params.self_signed(&key).map_err(|err| err.to_string())?;
    let private = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der())
        .map_err(|err| err.to_string())?;
    let provider = super::provider();
    let signing = provider
        .key_provider
        .load_private_key(private)
        .map_err(|err| err.to_string())?;
    // Not `with_single_cert`: it checks the certificate with webpki, which
    // refuses the critical acmeIdentifier extension the CA looks for.
    let resolver = rustls::sign::SingleCertAndKey::from(rustls::sign::CertifiedKey::new(
        vec![cert.der().clone()],
        signing,
    ));
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|err| err.to_string())?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![super::ACME_TLS_ALPN.to_vec()];
    Ok(config)
}
