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
    telemetry::init_logging(settings.log_format);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Migrate => migrate(settings).await,
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

async fn migrate(settings: Settings) -> anyhow::Result<()> {
    let storage = Storage::connect(&settings.database_url).await?;
    storage.migrate().await?;
    tracing::info!(backend = ?storage.kind(), "migrations applied");
    storage.close().await;
    Ok(())
}
