//! `--tls` (issue 37): GET /kakao/skill over HTTPS, keep-alive, against the
//! same over plain HTTP, in one run and on the same pinned core; then new
//! TLS connections a second, each timed from connect to the end of its
//! handshake (its p99). The certificate is made here with rcgen (a root and
//! a leaf for `localhost`, ECDSA P-256, rcgen's default) and served from
//! `TLS_CERT_FILE`, as a team's own certificate is.

use std::{path::Path, sync::Arc};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use tokio_rustls::{
    TlsConnector,
    rustls::{ClientConfig, RootCertStore, crypto::aws_lc_rs},
};

use crate::{
    Options, Server,
    drive::{drive_server, print, rate},
    free_addr, get, pinning,
};

/// New connections opened in the handshake workload: few enough that the
/// client's ephemeral ports (TIME_WAIT) never run out.
const NEW_CONNECTIONS: usize = 8_000;

pub async fn run(options: &Options, dir: &Path) -> anyhow::Result<()> {
    let connector = write_certificate(dir)?;
    let addr = free_addr()?;
    let shot = || Arc::new(vec![get(&addr, "/kakao/skill")]);
    let name = "GET /kakao/skill";

    let server = Server::start(dir, "tls.db", &addr, !options.unpinned, &[]).await?;
    pinning::pin_self(1, !options.unpinned);
    let plain = drive_server(&server, shot(), 200, options).await;
    let plain_rate = rate(&plain);
    print(&format!("{name}, HTTP"), plain, server.peak_rss_kib());
    drop(server);

    let vars = [
        ("TLS_CERT_FILE", dir.join("cert.pem").display().to_string()),
        ("TLS_KEY_FILE", dir.join("key.pem").display().to_string()),
        ("HTTP_BIND_ADDR", String::new()),
    ];
    let server = Server::start(dir, "tls.db", &addr, !options.unpinned, &vars).await?;
    let over_tls = Options {
        tls_connector: Some(connector),
        ..options.clone()
    };
    let tls = drive_server(&server, shot(), 200, &over_tls).await;
    let tls_rate = rate(&tls);
    print(&format!("{name}, HTTPS"), tls, server.peak_rss_kib());

    let handshakes = Options {
        fresh_connections: true,
        ..over_tls
    };
    let shots = Arc::new(vec![get(&addr, "/kakao/skill"); NEW_CONNECTIONS]);
    let fresh = drive_server(&server, shots, 200, &handshakes).await;
    let connections = rate(&fresh);
    let p99 = print(
        "new TLS connections (time: connect + handshake)",
        fresh,
        server.peak_rss_kib(),
    );
    println!(
        "\nHTTPS ÷ HTTP, keep-alive: {tls_rate:.0} / {plain_rate:.0} req/s = {:.2} (issue 37 asks ≥ 0.8)",
        tls_rate / plain_rate
    );
    println!("new TLS connections: {connections:.0} a second, handshake p99 {p99:.2} ms");
    Ok(())
}

/// Writes `cert.pem` (the leaf, then the root) and `key.pem` to `dir`, and
/// returns a connector that trusts the root.
fn write_certificate(dir: &Path) -> anyhow::Result<TlsConnector> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(DnType::CommonName, "loadtest root");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let root = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
    let key = KeyPair::generate()?;
    let leaf = CertificateParams::new(vec!["localhost".to_owned()])?.signed_by(&key, &root)?;
    std::fs::write(dir.join("key.pem"), key.serialize_pem())?;
    std::fs::write(
        dir.join("cert.pem"),
        format!("{}{}", leaf.pem(), root.pem()),
    )?;
    let mut roots = RootCertStore::empty();
    roots.add(root.der().clone())?;
    let config = ClientConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}
