//! A real ACME CA for the HTTPS tests: Debian's `pebble`, with its
//! `pebble-challtestsrv` as the DNS that resolves every test domain to
//! 127.0.0.1. Pebble validates challenges on the ports it is told (our
//! HTTPS and plain HTTP listeners' random ports), and its own ACME listener
//! gets a certificate made here (what `ACME_CA_FILE` trusts).

use std::{
    path::PathBuf,
    process::{Command, Stdio},
    time::Duration,
};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use tempfile::TempDir;

use crate::helpers::{ChildProcess, free_addr};

pub struct Pebble {
    /// The ACME directory (`ACME_DIRECTORY_URL`).
    pub directory: String,
    /// The root of pebble's own HTTPS listener (`ACME_CA_FILE`).
    pub ca_file: PathBuf,
    /// The root pebble issues certificates under, as PEM, and its file.
    pub issuing_root: String,
    pub issuing_root_file: PathBuf,
    _dir: TempDir,
    _processes: Vec<ChildProcess>,
}

/// The ports a test's server listens on, which pebble validates on.
pub struct Ports {
    pub https: u16,
    pub http: u16,
}

impl Ports {
    pub fn pick() -> Self {
        let port = |addr: String| addr.rsplit_once(':').unwrap().1.parse().unwrap();
        Self {
            https: port(free_addr()),
            http: port(free_addr()),
        }
    }
}

fn binary(name: &str) -> String {
    let path = format!("/usr/bin/{name}");
    assert!(
        std::path::Path::new(&path).exists(),
        "{path} is missing: install Debian's pebble package (apt-get install pebble); .ci/run does"
    );
    path
}

impl Pebble {
    /// Starts pebble and its DNS, validating on `ports`; with
    /// `validity_seconds`, certificates live that long (renewal inside a test).
    pub async fn start(ports: &Ports, validity_seconds: Option<u64>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        // pebble's own listener: a certificate for 127.0.0.1 under a root made here.
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.distinguished_name
            .push(DnType::CommonName, "Pebble Listener Test Root");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let root = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap()
            .signed_by(&key, &root)
            .unwrap();
        let ca_file = dir.path().join("listener-root.pem");
        std::fs::write(&ca_file, root.pem()).unwrap();
        std::fs::write(dir.path().join("cert.pem"), leaf.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), key.serialize_pem()).unwrap();

        let listen = free_addr();
        let management = free_addr();
        let dns = free_addr();
        let mut config = serde_json::json!({"pebble": {
            "listenAddress": listen,
            "managementListenAddress": management,
            "certificate": dir.path().join("cert.pem"),
            "privateKey": dir.path().join("key.pem"),
            "httpPort": ports.http,
            "tlsPort": ports.https,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
        }});
        if let Some(seconds) = validity_seconds {
            config["pebble"]["certificateValidityPeriod"] = seconds.into();
        }
        let config_file = dir.path().join("pebble.json");
        std::fs::write(&config_file, config.to_string()).unwrap();

        let challtestsrv = Command::new(binary("pebble-challtestsrv"))
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .args([
                "-dns01",
                &dns,
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
            ])
            .args(["-management", &free_addr()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let pebble = Command::new(binary("pebble"))
            .arg("-config")
            .arg(&config_file)
            .args(["-dnsserver", &dns])
            // No random sleeps before validating, no nonces refused at random.
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let processes = vec![ChildProcess(challtestsrv), ChildProcess(pebble)];

        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(root.pem().as_bytes()).unwrap()])
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let directory = format!("https://{listen}/dir");
        let mut issuing_root = None;
        for _ in 0..200 {
            let up = client
                .get(&directory)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if up {
                let answer = client
                    .get(format!("https://{management}/roots/0"))
                    .send()
                    .await;
                if let Ok(answer) = answer
                    && answer.status().is_success()
                {
                    issuing_root = Some(answer.text().await.unwrap());
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let issuing_root = issuing_root.expect("pebble did not start within 10 s");
        let issuing_root_file = dir.path().join("issuing-root.pem");
        std::fs::write(&issuing_root_file, &issuing_root).unwrap();
        Self {
            directory,
            ca_file,
            issuing_root,
            issuing_root_file,
            _dir: dir,
            _processes: processes,
        }
    }

    /// A client that trusts only pebble's issuing root and reaches `domain` at `addr`.
    pub fn client(&self, domain: &str, addr: std::net::SocketAddr) -> reqwest::Client {
        reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(self.issuing_root.as_bytes()).unwrap()])
            .resolve(domain, addr)
            .tls_info(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap()
    }
}
