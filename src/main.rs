//! The `kakao-webhooks` binary: `serve` (the default) or `migrate`.

use std::{path::PathBuf, process::ExitCode, sync::Arc};

use clap::{Parser, Subcommand};
use kakao_webhooks::{
    Server, Settings, app::shutdown_on_signal, skill::demo::demo_bot, storage::Storage, telemetry,
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
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Ask a running server's /health at BIND_ADDR; exit 0 if healthy, 1 if not
    /// (for container HEALTHCHECKs: needs no curl).
    Healthcheck,
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
    let result = match cli.command.unwrap_or(Command::Serve) {
        // Quiet: a HEALTHCHECK runs it every few seconds.
        Command::Healthcheck => return healthcheck(&settings).await,
        Command::Serve => {
            telemetry::init_logging(settings.log_format);
            serve(settings).await
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

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let server = Server::build(settings, Arc::new(demo_bot())).await?;
    server.run(shutdown_on_signal()).await
}

async fn healthcheck(settings: &Settings) -> ExitCode {
    let mut addr = settings.bind_addr;
    // A server listening on every interface answers on loopback.
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()
        .expect("a reqwest client with static settings builds");
    match client.get(format!("http://{addr}/health")).send().await {
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
    let storage = Storage::connect(&settings.database_url).await?;
    storage.migrate().await?;
    tracing::info!(backend = ?storage.kind(), "migrations applied");
    storage.close().await;
    Ok(())
}
