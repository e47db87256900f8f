//! The TLS half of `doctor`: one handshake with a verifier that records the
//! chain the server sends and how Kakao's side would judge it, without
//! stopping at the first problem, so each one is named on its own.

use std::{
    net::ToSocketAddrs,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::Context;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, Error as TlsError, RootCertStore,
    SignatureScheme,
    client::{
        WebPkiServerVerifier,
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    },
    pki_types::{CertificateDer, ServerName, UnixTime},
};
use tokio::net::TcpStream;
use x509_parser::prelude::{FromDer, X509Certificate};

/// What the handshake showed.
pub struct TlsFindings {
    /// The certificates the server sent, its own first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The verdict on the chain against the trusted roots, the name aside.
    pub chain_result: Result<(), TlsError>,
    /// Whether the server's certificate names the host.
    pub name_result: Result<(), String>,
}

/// The chain a server sent, and the verdict on it.
type Seen = (Vec<CertificateDer<'static>>, Result<(), TlsError>);

/// Records the chain and the verdict, then lets the handshake finish.
#[derive(Debug)]
struct Recorder {
    inner: Arc<WebPkiServerVerifier>,
    seen: Mutex<Option<Seen>>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        let verdict = self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
            .map(drop);
        let chain = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|cert| cert.clone().into_owned())
            .collect();
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some((chain, verdict));
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The system's roots plus `extra` (a private CA, given with `--ca-file`).
pub fn roots(extra: &[CertificateDer<'static>]) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    roots.add_parsable_certificates(extra.iter().cloned());
    roots
}

/// Connects to `host:port` (or to `resolve`, named `host`) and shakes
/// hands once, within `timeout`.
pub async fn inspect(
    host: &str,
    port: u16,
    resolve: Option<std::net::SocketAddr>,
    roots: RootCertStore,
    timeout: Duration,
) -> anyhow::Result<TlsFindings> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .context("no usable trusted roots")?;
    let recorder = Arc::new(Recorder {
        inner,
        seen: Mutex::new(None),
    });
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("no TLS versions")?
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_no_client_auth();
    let name = ServerName::try_from(host.to_owned()).context("not a TLS server name")?;
    let address = match resolve {
        Some(address) => address,
        None => (host, port)
            .to_socket_addrs()
            .with_context(|| format!("cannot resolve {host}"))?
            .next()
            .with_context(|| format!("{host} has no address"))?,
    };
    let handshake = async {
        let tcp = TcpStream::connect(address).await?;
        tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name.clone(), tcp)
            .await
    };
    tokio::time::timeout(timeout, handshake)
        .await
        .with_context(|| format!("no TLS handshake with {host}:{port} within {timeout:?}"))?
        .with_context(|| format!("TLS handshake with {host}:{port} failed"))?;
    let (chain, chain_result) = recorder
        .seen
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
        .context("the server sent no certificate")?;
    let name_result = names_host(&chain[0], &name);
    // The name is its own check: judge the chain as if the name matched.
    let chain_result = match chain_result {
        Err(TlsError::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        )) => Ok(()),
        other => other,
    };
    Ok(TlsFindings {
        chain,
        chain_result,
        name_result,
    })
}

fn names_host(leaf: &CertificateDer<'_>, name: &ServerName<'_>) -> Result<(), String> {
    let cert = webpki::EndEntityCert::try_from(leaf).map_err(|err| err.to_string())?;
    cert.verify_is_valid_for_subject_name(name)
        .map_err(|_| format!("the certificate is for {}", subject_names(leaf).join(", ")))
}

/// The names a certificate is for (its DNS and IP subject alternative names).
pub fn subject_names(cert: &CertificateDer<'_>) -> Vec<String> {
    let Ok((_, parsed)) = X509Certificate::from_der(cert) else {
        return vec!["(unreadable)".into()];
    };
    match parsed.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .map(|name| name.to_string())
            .collect(),
        _ => vec![parsed.subject().to_string()],
    }
}

/// (subject, issuer, seconds until not-after) of a certificate.
pub fn describe(cert: &CertificateDer<'_>) -> Option<(String, String, i64)> {
    let (_, parsed) = X509Certificate::from_der(cert).ok()?;
    let left = parsed.validity().not_after.timestamp() - crate::clock::now_millis() / 1000;
    Some((
        parsed.subject().to_string(),
        parsed.issuer().to_string(),
        left,
    ))
}
