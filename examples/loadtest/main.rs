//! The load harness: `cargo build --release && cargo run --release --example loadtest`.
//!
//! Starts the release binary (`serve --dev`: a fresh SQLite file and its own
//! JWKS) pinned to core 0, pre-signs RS256 SETs with distinct `jti` (on every
//! core, before anything is measured), pins itself to core 1, then drives
//! each workload at 64 connections and prints req/s, p50, p99, errors and the
//! server's peak RSS. Then the same skill workloads against the ceiling
//! (ceiling.rs: `cargo build --release --example ceiling` first), each
//! printed as a ratio to it. Options: `-- --help` (`--growth` is growth.rs,
//! `--postgres URL` scratch_postgres.rs, `--compare-postgres URL`
//! backends.rs, `--tls` tls.rs, `--unpinned` pinning.rs, `--soak MINUTES`
//! soak.rs).
//! `LOADTEST_SERVER_LOG=FILE` keeps the server's log (warnings and errors);
//! `LOADTEST_BINARY=PATH` runs another build (one with frame pointers, to
//! profile it: BENCHMARKS.md).

mod backends;
mod ceiling;
mod drive;
mod growth;
mod pinning;
mod raw_client;
mod scratch_postgres;
mod soak;
mod tls;

use std::{
    path::PathBuf,
    process::{Child, Stdio},
    sync::Arc,
    time::Duration,
};

use drive::{Report, drive, drive_server, print, rate};
use kakao_webhooks::dev::{self, DevKey};
use serde_json::{Value, json};

/// Drives the release binary and prints req/s, p50, p99, errors and peak RSS
/// per workload (BENCHMARKS.md).
#[derive(clap::Parser, Clone)]
struct Options {
    /// Seconds per workload.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Keep-alive connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// SETs to sign; the SET workload ends early when they run out.
    #[arg(long, default_value_t = 60_000)]
    sets: usize,
    /// Run only the workloads whose name contains this text.
    #[arg(long)]
    only: Option<String>,
    /// Compare the SET workload on an empty and on a grown database.
    #[arg(long)]
    growth: bool,
    /// Skip the ceiling (examples/ceiling) the skill workloads are compared with.
    #[arg(long)]
    no_ceiling: bool,
    /// Run the server on a fresh database on this PostgreSQL server.
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
    /// Pin neither the server nor this generator (pinning.rs).
    #[arg(long)]
    unpinned: bool,
    /// A mixed workload for this many minutes, with notifications on,
    /// sampling RSS, descriptors, the outbox and p99 every 10 s (soak.rs).
    #[arg(long, value_name = "MINUTES")]
    soak: Option<u64>,
    /// The durable workloads on SQLite, then on a fresh database on this
    /// PostgreSQL server, in one run, with ratios and pgbench's ceiling
    /// (backends.rs).
    #[arg(long, value_name = "URL")]
    compare_postgres: Option<String>,
    /// GET /kakao/skill over HTTPS against plain HTTP, and new TLS
    /// connections a second with their handshake time (tls.rs).
    #[arg(long)]
    tls: bool,
    /// Set by `--tls`: how the generator speaks TLS.
    #[arg(skip)]
    tls_connector: Option<tokio_rustls::TlsConnector>,
    /// Set by `--tls`: a new connection for each request.
    #[arg(skip)]
    fresh_connections: bool,
    /// Requests a second during `--soak`.
    #[arg(long, default_value_t = 300)]
    soak_rate: u32,
}

struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts the server on `database` (a file name in `dir`, or a
    /// `postgres://` URL) at `addr`, with its dev files in `dir/dev`, and
    /// waits until it is ready.
    async fn start(
        dir: &std::path::Path,
        database: &str,
        addr: &str,
        pinned: bool,
        vars: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        let binary = std::env::var_os("LOADTEST_BINARY").map_or_else(
            || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/kakao-webhooks"),
            PathBuf::from,
        );
        anyhow::ensure!(binary.exists(), "build it first: cargo build --release");
        let (mut command, placement) = pinning::server_command(&binary, pinned);
        command
            .args(["serve", "--dev"])
            .env_clear()
            .env("BIND_ADDR", addr)
            .env("DEV_DIR", dir.join("dev"))
            // Set, so that the shots can be encoded before the server writes
            // its generated dev credentials.
            .env("KAKAO_ADMIN_KEY", ADMIN_KEY)
            .env("KAKAO_REST_API_KEY", REST_API_KEY)
            .env(
                "DATABASE_URL",
                if database.starts_with("postgres") {
                    database.to_owned()
                } else {
                    format!("sqlite://{}/{database}", dir.display())
                },
            )
            .env("RUST_LOG", "warn")
            .envs(vars.iter().map(|(k, v)| (k, v)))
            .stdout(match std::env::var_os("LOADTEST_SERVER_LOG") {
                Some(path) => Stdio::from(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)?,
                ),
                None => Stdio::null(),
            })
            .stderr(Stdio::null());
        let child = command.spawn()?;
        println!(
            "server: {addr} on {} ({})",
            database.split('@').next_back().unwrap_or(database),
            placement
        );
        let server = Self {
            child,
            addr: addr.to_owned(),
        };
        // The --tls server's certificate is the harness's own. Its /ready
        // stays 503: dev mode's key set is fetched over plain HTTP from the
        // server itself. Only the skill is driven there, so /health will do.
        let https = vars.iter().any(|(name, _)| *name == "TLS_CERT_FILE");
        let client = reqwest::Client::builder()
            .tls_danger_accept_invalid_certs(https)
            .build()?;
        let ready = match https {
            true => format!("https://{addr}/health"),
            false => format!("http://{addr}/ready"),
        };
        for _ in 0..100 {
            if client
                .get(&ready)
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                return Ok(server);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!("the server at {addr} did not become ready")
    }

    /// The server's CPU time so far, all threads (`/proc/PID/stat` utime and
    /// stime, in USER_HZ ticks of 10 ms). Per request, it does not depend on
    /// how fast the generator or a noisy neighbour let the server run.
    fn cpu_time(&self) -> Option<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        let (_, rest) = stat.rsplit_once(')')?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // Fields 14 and 15; `rest` starts at field 3.
        let ticks: u64 =
            fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        Some(Duration::from_millis(ticks * 10))
    }

    fn peak_rss_kib(&self) -> Option<u64> {
        // With taskset in front, the server is taskset's exec'd process: same pid.
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }
}

/// One request of a workload, encoded.
type Shot = Vec<u8>;

fn get(addr: &str, path: &str) -> Shot {
    raw_client::encode("GET", path, addr, &admin_key(), None)
}

fn post(addr: &str, path: &str, content_type: &str, body: &[u8]) -> Shot {
    raw_client::encode("POST", path, addr, &admin_key(), Some((content_type, body)))
}

/// The keys the load test gives its server.
const ADMIN_KEY: &str = "loadtest-admin-key";
const REST_API_KEY: &str = "loadtest-rest-api-key";

fn admin_key() -> String {
    format!("KakaoAK {ADMIN_KEY}")
}

/// A realistic OpenBuilder payload of about 1.7 KB with Korean text.
fn skill_payload() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/skill_requests/system_entities.json"
    );
    let mut payload: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    payload["userRequest"]["utterance"] = json!(
        "이번 주 금요일 저녁 7시에 판교점으로 세 명 예약하고 싶어요. 창가 자리로 부탁드려요!"
    );
    serde_json::to_vec(&payload).unwrap()
}

fn sets(
    addr: &str,
    key: &DevKey,
    issuer: &str,
    range: std::ops::Range<usize>,
) -> anyhow::Result<Vec<Shot>> {
    range
        .map(|i| {
            let user = format!("{}", 1_000_000 + i);
            let claims = json!({
                "iss": issuer, "aud": REST_API_KEY, "sub": user,
                "txm": "load", "iat": time::OffsetDateTime::now_utc().unix_timestamp(),
                "jti": format!("load-{i}"),
                "events": {"https://schemas.openid.net/secevent/oauth/event-type/user-linked":
                    {"subject": {"sub": user, "subject_type": "iss-sub", "iss": issuer}}},
            });
            Ok(post(
                addr,
                "/kakao/events",
                "application/secevent+jwt",
                key.sign_set(&claims)?.as_bytes(),
            ))
        })
        .collect()
}

/// Signs `count` SETs for the dev server at `addr` (its key is in
/// `dir/dev`), on every core, before anything is pinned or measured.
fn sign_sets(addr: &str, dir: &std::path::Path, count: usize) -> anyhow::Result<Vec<Shot>> {
    let key = &DevKey::load(&dir.join("dev"))?;
    let issuer = &dev::dev_issuer(addr.parse()?);
    println!("pre-signing {count} SETs (RS256, RSA-2048)…");
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = count.div_ceil(threads);
    std::thread::scope(|scope| {
        let parts: Vec<_> = (0..threads)
            .map(|t| {
                let range = t * per_thread..((t + 1) * per_thread).min(count);
                scope.spawn(move || sets(addr, key, issuer, range))
            })
            .collect();
        let mut all = Vec::with_capacity(count);
        for part in parts {
            all.extend(part.join().expect("signing thread panicked")?);
        }
        Ok(all)
    })
}

fn unlinks(addr: &str, count: usize) -> Vec<Shot> {
    (0..count)
        .map(|i| {
            get(
                addr,
                &format!(
                    "/kakao/unlink?app_id={}&user_id={}&referrer_type=UNLINK_FROM_APPS",
                    dev::DEV_APP_ID,
                    5_000_000 + i
                ),
            )
        })
        .collect()
}

/// Distinct MESSAGE_CREATE frames (ids above 2^53, one callback token each):
/// each is stored with its reply job, and the dev server's outbox sends the
/// demo bot's echo to its local Bot API platform meanwhile.
fn bot_messages(addr: &str, count: usize) -> Vec<Shot> {
    bot_messages_from(addr, 0, count)
}

/// [`bot_messages`] numbered from `first`.
fn bot_messages_from(addr: &str, first: usize, count: usize) -> Vec<Shot> {
    (first..first + count)
        .map(|i| {
            let frame = json!({"op": 0, "t": "MESSAGE_CREATE", "d": {
                "id": (1u64 << 59) + i as u64, "content": "부하 시험", "isChannelChatroom": false,
                "botGroupKey": format!("load-room-{}", i % 100), "botUserKey": "load-user",
                "timestamp": "2026-07-27T09:20:22.512392989Z",
                "callbackToken": format!("load-token-{i}"), "type": "MESSAGE_CREATE"}});
            post(
                addr,
                "/kakao/bot",
                "application/json",
                frame.to_string().as_bytes(),
            )
        })
        .collect()
}

const WORKLOADS: [(&str, u16); 5] = [
    ("GET /kakao/skill", 200),
    ("POST /kakao/skill (1.7 KB payload)", 200),
    ("POST /kakao/events (distinct SETs)", 202),
    ("GET /kakao/unlink (distinct users)", 200),
    ("POST /kakao/bot (distinct messages, replies sent)", 204),
];

fn free_addr() -> anyhow::Result<String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    Ok(format!("127.0.0.1:{port}"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let options = <Options as clap::Parser>::parse();
    let dir = tempfile::tempdir()?;
    if let Some(url) = &options.compare_postgres {
        return backends::run(&options, dir.path(), url).await;
    }
    if options.tls {
        return tls::run(&options, dir.path()).await;
    }
    let addr = free_addr()?;
    let postgres = match &options.postgres {
        Some(url) => Some(scratch_postgres::ScratchPostgres::create(url).await?),
        None => None,
    };
    let database = postgres.as_ref().map_or("load.db", |p| p.url.as_str());
    let vars = match options.soak {
        Some(_) => soak::server_vars(&soak::notified_app().await?),
        None => Vec::new(),
    };
    let server = Server::start(dir.path(), database, &addr, !options.unpinned, &vars).await?;
    if let Some(minutes) = options.soak {
        return soak::run(&options, dir.path(), server, minutes).await;
    }
    if options.growth {
        return growth_run(&options, dir.path(), server).await;
    }
    let wanted = |name: &str| {
        options
            .only
            .as_ref()
            .is_none_or(|only| name.contains(only.as_str()))
    };
    let signed = if wanted(WORKLOADS[2].0) {
        sign_sets(&addr, dir.path(), options.sets)?
    } else {
        Vec::new()
    };
    pinning::pin_self(1, !options.unpinned);
    println!(
        "{} s per workload, {} connections\n",
        options.seconds, options.connections
    );
    let mut signed = Some(signed);
    let addr = addr.as_str();
    let mut skill_workloads = Vec::new();
    for (index, (name, expected)) in WORKLOADS.into_iter().enumerate() {
        if index == 2 {
            compare_to_ceiling(&options, addr, &mut skill_workloads).await?;
        }
        if !wanted(name) {
            continue;
        }
        let shots = match index {
            0 => vec![get(addr, "/kakao/skill")],
            1 => vec![post(
                addr,
                "/kakao/skill",
                "application/json",
                &skill_payload(),
            )],
            2 => signed.take().unwrap_or_default(),
            3 => unlinks(addr, 400_000),
            _ => bot_messages(addr, 400_000),
        };
        let report = drive_server(&server, Arc::new(shots), expected, &options).await;
        if index < 2 {
            skill_workloads.push(index);
        }
        print(name, report, server.peak_rss_kib());
    }
    compare_to_ceiling(&options, addr, &mut skill_workloads).await?;
    drop(server);
    if let Some(postgres) = postgres {
        postgres.drop().await?;
    }
    Ok(())
}

/// The skill workloads run so far against the ceiling (once: `workloads` is
/// emptied). Run before the durable workloads, whose outboxes (bot replies,
/// notifications) keep the service busy on the ceiling's core for a while.
async fn compare_to_ceiling(
    options: &Options,
    addr: &str,
    workloads: &mut Vec<usize>,
) -> anyhow::Result<()> {
    if !options.no_ceiling && !workloads.is_empty() {
        ceiling::compare(options, addr, workloads).await?;
        println!();
    }
    workloads.clear();
    Ok(())
}

/// The SET workload on the empty database, then again (the same SETs: same
/// address, same dev key) on a second database grown first.
async fn growth_run(
    options: &Options,
    dir: &std::path::Path,
    server: Server,
) -> anyhow::Result<()> {
    let addr = server.addr.clone();
    let signed = Arc::new(sign_sets(&addr, dir, options.sets)?);
    pinning::pin_self(1, !options.unpinned);
    let (name, expected) = WORKLOADS[2];
    let empty = drive_server(&server, signed.clone(), expected, options).await;
    let empty_p99 = print(&format!("{name}, empty"), empty, server.peak_rss_kib());
    drop(server);

    let grown = dir.join("grown.db");
    // Started once to create and migrate the file, then grown while idle.
    let server = Server::start(dir, "grown.db", &addr, !options.unpinned, &[]).await?;
    growth::prefill(&grown)?;
    let report = drive_server(&server, signed, expected, options).await;
    let grown_p99 = print(
        &format!("{name}, {} users, {} events", growth::USERS, growth::EVENTS),
        report,
        server.peak_rss_kib(),
    );
    println!(
        "\np99 grown / p99 empty = {:.2} (issue 6 asks at most 1.5)",
        grown_p99 / empty_p99
    );
    Ok(())
}
