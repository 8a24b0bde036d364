//! The command line: `serve` (default), `migrate`, `keys`, `staff`, `agencies`, `reconcile`, `audit`.

use crate::api::auth::Role;
use crate::app::{launch, AppState};
use crate::config::Config;
use crate::store::Store;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

pub mod reconcile;

#[derive(Parser)]
#[command(name = "feegate", version, about = "Fee payment integration middleware for government service portals")]
pub struct Cli {
    /// Config file layered over the built-in defaults (also FEEGATE_CONFIG).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Log format: text or json (also FEEGATE_LOG_FORMAT).
    #[arg(long, global = true)]
    log_format: Option<String>,
    /// Demo mode (also FEEGATE_DEMO=true): demo agencies and portal, and every gateway
    /// pointed at its simulator under /sim/{id}. Never for real money.
    #[arg(long, global = true)]
    demo: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API, pages, callbacks and workers (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Manage the console's staff users.
    Staff {
        #[command(subcommand)]
        command: StaffCommand,
    },
    /// Manage agencies and their accounts.
    Agencies {
        #[command(subcommand)]
        command: AgenciesCommand,
    },
    /// The audit journal.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Reconciliation: import a settlement file or statement, print the reports.
    Reconcile {
        #[command(subcommand)]
        command: ReconcileCommand,
    },
}

#[derive(Subcommand)]
enum ReconcileCommand {
    /// Import one file of a source for a business day and reconcile it; prints the run's counts.
    Import {
        /// A connector account id (its settlement file) or a configured statement source.
        #[arg(long)]
        source: String,
        /// If given, must be the source's format (settlement, camt053, mt940, csv).
        #[arg(long)]
        format: Option<String>,
        /// The GMT+7 business day, YYYY-MM-DD (a statement's defaults to its closing day).
        #[arg(long)]
        date: Option<String>,
        /// Reconcile the same file again as a new version.
        #[arg(long)]
        rerun: bool,
        file: PathBuf,
    },
    /// Print the settlement report of a day (--date) or the monthly summary (--month).
    Report {
        #[arg(long, required_unless_present = "month", conflicts_with = "month")]
        date: Option<String>,
        /// YYYY-MM.
        #[arg(long)]
        month: Option<String>,
        /// Only this agency code.
        #[arg(long)]
        agency: Option<String>,
        /// CSV (UTF-8 with BOM) instead of an aligned table.
        #[arg(long)]
        csv: bool,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key; prints it alone on the last line.
    Create {
        #[arg(long)]
        role: String,
        #[arg(long)]
        portal: Option<String>,
        /// Bind a finance key to an agency (repeat for several); none: every agency.
        #[arg(long = "agency")]
        agencies: Vec<String>,
        #[arg(long, default_value = "")]
        name: String,
    },
    /// Revoke a key by id.
    Revoke { id: String },
}

#[derive(Subcommand)]
enum StaffCommand {
    /// Create a staff user; prints a one-time password unless --password-stdin.
    Create {
        /// admin, finance or viewer.
        #[arg(long)]
        role: String,
        /// Bind the user to this agency (repeat for several); none: every agency.
        #[arg(long = "agency")]
        agencies: Vec<String>,
        /// The name shown in the console and the journal (the username if not given).
        #[arg(long)]
        name: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        username: String,
    },
}

#[derive(Subcommand)]
enum AgenciesCommand {
    /// Import agencies and accounts from a TOML or CSV file (all or nothing).
    Import { file: PathBuf },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Re-compute every hash chain; exits 1 naming the first broken entry.
    Verify,
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    run_cli(Cli::parse())
}

/// Runs feegate with these arguments (the first is the program name); the benchmark
/// uses it to run the very feegate it was built with.
pub fn main_from(args: impl IntoIterator<Item = String>) -> ExitCode {
    run_cli(Cli::parse_from(args))
}

fn run_cli(cli: Cli) -> ExitCode {
    let mut env: Vec<(String, String)> = std::env::vars().collect();
    if cli.demo {
        env.push((crate::config::DEMO_ENV.into(), "true".into()));
    }
    let config = match Config::load_with(cli.config.as_deref(), &env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("feegate: {e:#}");
            return ExitCode::from(2);
        }
    };
    let format = cli.log_format.clone().unwrap_or_else(|| config.log_format.clone());
    crate::telemetry::init(&format);
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("feegate: starting the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(run(cli.command.unwrap_or(Command::Serve), config)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("feegate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn store(config: &Config) -> anyhow::Result<Store> {
    let store = Store::connect(&config.database_url, 2).await?;
    store.migrate().await?;
    Ok(store)
}

async fn run(command: Command, config: Config) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve => {
            if let Err(offending) = config.check_production() {
                eprintln!("feegate: refusing to start: {offending}");
                return Ok(ExitCode::from(2));
            }
            if config.demo_mode {
                tracing::warn!(
                    "DEMO MODE: gateway simulators under /sim, published demo secrets and demo data; \
                     no payment here is real. Never use demo mode for real money"
                );
            }
            let listener = tokio::net::TcpListener::bind(&config.listen).await?;
            let state = AppState::build(config).await?;
            launch(state, listener, shutdown_signal()).await?;
        }
        Command::Migrate => {
            store(&config).await?;
            println!("migrations applied");
        }
        Command::Keys { command: KeysCommand::Create { role, portal, agencies, name } } => {
            let store = store(&config).await?;
            if config.seed_demo {
                crate::service::admin::seed_demo(&store, &config).await?;
            }
            let role = Role::parse(&role).ok_or_else(|| anyhow::anyhow!("--role is portal, finance or admin"))?;
            let (id, key) = crate::service::admin::create_key(&store, role, portal, &agencies, &name, "cli")
                .await
                .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))?;
            println!("created {} key {id}; store it now, it is not shown again:", role.as_str());
            println!("{key}");
        }
        Command::Keys { command: KeysCommand::Revoke { id } } => {
            let store = store(&config).await?;
            crate::service::admin::revoke_key(&store, &id, "cli")
                .await
                .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))?;
            println!("revoked {id}");
        }
        Command::Staff { command: StaffCommand::Create { role, agencies, name, password_stdin, username } } => {
            let store = store(&config).await?;
            if config.seed_demo {
                crate::service::admin::seed_demo(&store, &config).await?;
            }
            let role = crate::service::staff::parse_role(&role)
                .ok_or_else(|| anyhow::anyhow!("--role is admin, finance or viewer"))?;
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                line.trim_end_matches(['\r', '\n']).to_owned()
            } else {
                crate::service::staff::new_password()
            };
            let display_name = name.unwrap_or_else(|| username.clone());
            let n = crate::service::staff::NewStaff { username, display_name, role, agencies };
            let s = crate::service::staff::create(&store, &n, &password, "cli").await.map_err(|e| {
                anyhow::anyhow!("{}{}: {}", e.code, e.field.map(|f| format!(" ({f})")).unwrap_or_default(), e.message)
            })?;
            let scope = if s.agencies.is_empty() { "every agency".to_owned() } else { s.agencies.join(", ") };
            println!("created {} user {} ({scope})", s.role, s.username);
            if !password_stdin {
                println!("one-time password; give it to the user now, it is not shown again:");
                println!("{password}");
            }
        }
        Command::Agencies { command: AgenciesCommand::Import { file } } => {
            let store = store(&config).await?;
            let text = std::fs::read_to_string(&file)?;
            let agencies = crate::service::admin::parse_import(&file.to_string_lossy(), &text)?;
            let (a, n) = crate::service::admin::import(&store, agencies, "cli").await.map_err(|e| {
                anyhow::anyhow!("{}{}: {}", e.code, e.field.map(|f| format!(" ({f})")).unwrap_or_default(), e.message)
            })?;
            println!("imported {a} agencies with {n} accounts");
        }
        Command::Reconcile { command } => reconcile::run(command, config).await?,
        Command::Audit { command: AuditCommand::Verify } => {
            let store = store(&config).await?;
            match store.verify_audit().await? {
                Ok(n) => println!("audit journal intact: {n} entries verified"),
                Err(b) => {
                    println!("audit journal BROKEN at entry {} (scope {}, seq {}): {}", b.id, b.scope, b.seq, b.reason);
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
