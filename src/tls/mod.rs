//! HTTPS built in. Kakao calls only `https://` URLs with a valid
//! certificate and follows no redirect, so the service serves TLS itself:
//! - with `TLS_DOMAINS`, a certificate from an ACME CA ([`acme`]), kept in
//!   the database and shared by every instance;
//! - with `TLS_CERT_FILE` and `TLS_KEY_FILE`, the team's own, re-read when
//!   the files change ([`certs`]).
//!
//! TLS 1.2 and 1.3 only, HTTP/2 and HTTP/1.1 by ALPN. A ClientHello asking
//! for `acme-tls/1` is the CA's TLS-ALPN-01 check and gets the challenge's
//! certificate instead ([`challenge`]).

pub mod acme;
pub mod certs;
pub mod challenge;

use std::sync::{Arc, RwLock};

use rustls::{
    ServerConfig,
    crypto::CryptoProvider,
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};
use tokio::net::TcpStream;
use tokio_rustls::{LazyConfigAcceptor, server::TlsStream};

use self::{certs::Certificate, challenge::Challenges};
use crate::storage::Storage;

/// The ALPN protocol of the TLS-ALPN-01 challenge (RFC 8737).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// The one crypto provider, whatever another crate installed as the default.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The certificate being served, swapped in place when a new one comes:
/// connections already open keep theirs, new ones get the new one.
#[derive(Debug, Default)]
pub struct ServedCertificate {
    current: RwLock<Option<Certificate>>,
}

impl ServedCertificate {
    pub fn replace(&self, certificate: Certificate) {
        metrics::gauge!("kakao_tls_certificate_expiry_timestamp_seconds")
            .set(certificate.not_after as f64 / 1000.0);
        *self.current.write().expect("never poisoned") = Some(certificate);
    }

    pub fn get(&self) -> Option<Certificate> {
        self.current.read().expect("never poisoned").clone()
    }

    pub fn fingerprint(&self) -> Option<[u8; 32]> {
        self.current
            .read()
            .expect("never poisoned")
            .as_ref()
            .map(|c| c.fingerprint)
    }

    /// When the served certificate expires, ms.
    pub fn not_after(&self) -> Option<i64> {
        self.current
            .read()
            .expect("never poisoned")
            .as_ref()
            .map(|c| c.not_after)
    }
}

impl ResolvesServerCert for ServedCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current
            .read()
            .expect("never poisoned")
            .as_ref()
            .map(|c| Arc::clone(&c.key))
    }
}

/// What an HTTPS listener needs: the served certificate, and the
/// challenges for the CA's TLS-ALPN-01 checks.
#[derive(Debug, Clone)]
pub struct Tls {
    pub served: Arc<ServedCertificate>,
    config: Arc<ServerConfig>,
    pub challenges: Arc<Challenges>,
}

/// Why a connection got no TLS session.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The CA's TLS-ALPN-01 check: answered, and the connection is over.
    #[error("an ACME TLS-ALPN-01 check")]
    Challenge,
}

impl Tls {
    pub fn new(storage: Storage) -> Self {
        let served = Arc::new(ServedCertificate::default());
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .expect("aws-lc-rs supports TLS 1.2 and 1.3")
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&served) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Self {
            served,
            config: Arc::new(config),
            challenges: Arc::new(Challenges::new(storage)),
        }
    }

    /// The TLS handshake on an accepted connection (the caller bounds its time).
    pub async fn accept(&self, stream: TcpStream) -> Result<TlsStream<TcpStream>, HandshakeError> {
        let start = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream).await?;
        let hello = start.client_hello();
        let wants_challenge = hello
            .alpn()
            .is_some_and(|mut protocols| protocols.any(|p| p == ACME_TLS_ALPN));
        if wants_challenge {
            let domain = hello.server_name().map(str::to_ascii_lowercase);
            let config = match domain {
                Some(domain) => self.challenges.tls_alpn_config(&domain).await,
                None => None,
            };
            if let Some(config) = config {
                // The handshake itself is the answer; nothing is read after it.
                let _ = start.into_stream(config).await;
            }
            return Err(HandshakeError::Challenge);
        }
        Ok(start.into_stream(Arc::clone(&self.config)).await?)
    }
}
