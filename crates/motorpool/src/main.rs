//! `motorpool`: the one binary. Serves the API and pages, runs background
//! jobs, migrates databases and administers the instance.

mod admin;
mod bench;
mod bench_feed;
mod bench_history;
mod bench_reevaluate;
mod config;
mod demo;
mod demo_history;
mod export;
mod import;
mod ingest;
mod serve;

use clap::{Parser, Subcommand};
use config::{Common, CommonArgs, LogFormat, ServeArgs};

/// Vehicle maintenance and fleet health: one binary, on embedded SQLite or PostgreSQL.
#[derive(Debug, Parser)]
#[command(name = "motorpool", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: API, pages and background jobs (migrates SQLite at start).
    Serve {
        /// Create (or refresh) a demo tenant with sample vehicles and print its login.
        #[arg(long)]
        demo: bool,
        #[command(flatten)]
        args: ServeArgs,
    },
    /// Apply pending schema migrations (run with the database owner's URL on PostgreSQL).
    Migrate {
        /// PostgreSQL: create or update this login role for the server, with
        /// data access only (no ownership, no superuser, no BYPASSRLS).
        #[arg(long)]
        app_role: Option<String>,
        /// Name of an environment variable holding the app role's password.
        #[arg(long, requires = "app_role")]
        app_password_env: Option<String>,
    },
    /// Import a Fuelly, Fuelio, Drivvo, LubeLogger or generic CSV into a vehicle, or a Motorpool JSON export.
    Import(import::ImportArgs),
    /// Ingest telemetry from files (J1939 logs).
    #[command(subcommand)]
    Ingest(ingest::IngestCommand),
    /// Export a tenant's vehicles and everything recorded about them as JSON.
    Export(export::ExportArgs),
    /// Manage tenants, users, memberships and API tokens.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Benchmark tools: generate a synthetic fleet.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Print the version and the schema version this binary needs.
    Version,
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MOTORPOOL_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
}

/// mimalloc instead of glibc's allocator: under load (`GET` one vehicle at
/// 64 connections) glibc's malloc and free were a sixth of the server's CPU,
/// contended between the runtime's worker threads.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` prints the whole context chain on one line, without a backtrace.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let common = Common::resolve(&cli.common)?;
    init_logging(common.log_format);
    match cli.command {
        Command::Serve { demo, args } => serve::serve(&common, &common.serve(&args)?, demo).await,
        Command::Migrate {
            app_role,
            app_password_env,
        } => serve::migrate(&common, app_role.as_deref(), app_password_env.as_deref()).await,
        Command::Admin(command) => admin::run(&common, command).await,
        Command::Import(args) => import::run(&common, args).await,
        Command::Export(args) => export::run(&common, args).await,
        Command::Ingest(command) => ingest::run(&common, command).await,
        Command::Bench(command) => bench::run(&common, command).await,
        Command::Version => {
            println!("motorpool {}", env!("CARGO_PKG_VERSION"));
            println!(
                "schema: sqlite {} / postgres {}",
                store::SQLITE_SCHEMA_VERSION,
                store::POSTGRES_SCHEMA_VERSION
            );
            Ok(())
        }
    }
}
