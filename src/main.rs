//! The `kakao-webhooks` binary: `serve` (the default) or `migrate`.

use std::{path::PathBuf, process::ExitCode, sync::Arc};

use clap::{Parser, Subcommand};
use tokio_util::task::TaskTracker;

/// mimalloc: request handling allocates many small short-lived buffers, and
/// glibc's malloc took a fifth of the CPU serving skill requests (perf, in
/// BENCHMARKS.md). Built `no_thp`: its arena is not marked for transparent
/// huge pages, each of which is resident whole once touched (an idle server
/// held 36 MiB instead of 20).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use kakao_webhooks::{
    Server, Settings,
    dev::simulate::{Simulation, Simulator},
    server::app::shutdown_on_signal,
    skill::demo::demo_bot,
    storage::Storage,
    telemetry,
};

#[derive(Parser)]
#[command(version, about = "One backend for every webhook Kakao sends")]
struct Cli {
    /// An extra TOML file of settings (over the defaults, under environment variables).
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve every webhook (what a bare `kakao-webhooks` does).
    Serve {
        /// Local Kakao built in: a generated dev key trusted as Kakao's, dev
        /// values for unset keys and tokens. Loopback only. Never in production.
        #[arg(long)]
        dev: bool,
        /// With --dev, listen on a non-loopback BIND_ADDR anyway.
        #[arg(long, requires = "dev")]
        dev_allow_remote: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Ask a running server's /health at BIND_ADDR; exit 0 if healthy, 1 if not
    /// (for container HEALTHCHECKs: needs no curl).
    Healthcheck,
    /// Check a deployed URL from the outside as Kakao will (TLS chain, host
    /// name, expiry, redirects, the verification body, the admin-key check,
    /// deadlines); exit 1 if any check fails.
    Doctor {
        /// The service's public base URL, e.g. https://bot.example.com
        url: url::Url,
        /// Trust the CA certificates in this PEM file too (a private CA).
        #[arg(long, value_name = "PEM")]
        ca_file: Option<PathBuf>,
        /// Connect to this address instead of the host's DNS answer (check a
        /// server before DNS points at it), e.g. 203.0.113.7:443.
        #[arg(long, value_name = "IP:PORT")]
        resolve: Option<std::net::SocketAddr>,
    },
    /// Send a running server what Kakao sends, and judge its answer.
    Simulate {
        /// The server: a URL, or host:port for http://host:port (default:
        /// http://BIND_ADDR).
        #[arg(long, global = true, value_parser = kakao_webhooks::dev::simulate::server_url)]
        server: Option<url::Url>,
        #[command(subcommand)]
        simulation: Simulation,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("kakao-webhooks: {err}");
            return ExitCode::from(2);
        }
    };
    let command = cli.command.unwrap_or(Command::Serve {
        dev: false,
        dev_allow_remote: false,
    });
    let result = match command {
        // Quiet: a HEALTHCHECK runs it every few seconds.
        Command::Healthcheck => return healthcheck(&settings).await,
        Command::Doctor {
            url,
            ca_file,
            resolve,
        } => {
            return match kakao_webhooks::doctor::examine(&url, ca_file.as_deref(), resolve).await {
                Ok(checks) if kakao_webhooks::doctor::print(&url, &checks) => ExitCode::SUCCESS,
                Ok(_) => ExitCode::FAILURE,
                Err(err) => {
                    eprintln!("kakao-webhooks: {err:#}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Simulate { server, simulation } => {
            return simulate(settings, server, simulation).await;
        }
        Command::Serve {
            dev,
            dev_allow_remote,
        } => {
            telemetry::init_logging(settings.log_format);
            serve(settings, dev, dev_allow_remote).await
        }
        Command::Migrate => {
            telemetry::init_logging(settings.log_format);
            migrate(settings).await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "kakao-webhooks failed");
            eprintln!("kakao-webhooks: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(mut settings: Settings, dev: bool, allow_remote: bool) -> anyhow::Result<()> {
    if !dev {
        let server = Server::build(settings, Arc::new(demo_bot())).await?;
        return server.run(shutdown_on_signal()).await;
    }
    let filled = kakao_webhooks::dev::apply(&mut settings, allow_remote)?;
    let key = Arc::new(kakao_webhooks::dev::DevKey::load_or_create(
        &settings.dev_dir,
    )?);
    let folder = settings.dev_dir.clone();
    let bot_token = settings
        .kakao_bot_token
        .as_ref()
        .map(|token| secrecy::ExposeSecret::expose_secret(token).to_owned())
        .unwrap_or_default();
    let server = Server::build(settings, Arc::new(demo_bot())).await?;
    let addr = server.local_addr();
    eprintln!("{}", kakao_webhooks::dev::banner(addr, &folder, &filled));
    let storage = server.storage().clone();
    let server = server.with_routes(kakao_webhooks::dev::router(key, addr, &bot_token, storage));
    server.run(shutdown_on_signal()).await
}

async fn simulate(
    settings: Settings,
    server: Option<url::Url>,
    simulation: Simulation,
) -> ExitCode {
    let server = server.unwrap_or_else(|| {
        let mut addr = settings.bind_addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        format!("http://{addr}")
            .parse()
            .expect("an address makes a URL")
    });
    let simulator = match Simulator::new(server, settings) {
        Ok(simulator) => simulator,
        Err(err) => {
            eprintln!("kakao-webhooks: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    match simulator.run(simulation).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("kakao-webhooks: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn healthcheck(settings: &Settings) -> ExitCode {
    let mut addr = settings.bind_addr;
    // A server listening on every interface answers on loopback.
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let client = match kakao_webhooks::http::outbound_client() {
        Ok(client) => client,
        Err(err) => {
            eprintln!("kakao-webhooks: cannot build the HTTP client: {err}");
            return ExitCode::FAILURE;
        }
    };
    let request = client
        .get(format!("http://{addr}/health"))
        .timeout(std::time::Duration::from_secs(3));
    match request.send().await {
        Ok(response) if response.status().is_success() => ExitCode::SUCCESS,
        Ok(response) => {
            eprintln!("kakao-webhooks: /health answered {}", response.status());
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("kakao-webhooks: /health at {addr} unreachable: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn migrate(settings: Settings) -> anyhow::Result<()> {
    let storage = Storage::connect(&settings.database_url, &TaskTracker::new()).await?;
    storage.migrate().await?;
    tracing::info!(backend = ?storage.kind(), "migrations applied");
    storage.close().await;
    Ok(())
}
