//! `feegate-bench create`: feegate's `POST /v1/payments` against a bare durable-insert
//! ceiling, on SQLite and PostgreSQL, with both servers run as child processes.
//!
//! Modules: `proc` (children, scratch dirs, ports), `load` (the client), `cpu` (where
//! the CPU went), `ceiling` (the hidden `ceiling-server` subcommand), `pg` (throw-away
//! databases), `report` (the tables).

mod callback;
mod ceiling;
mod cpu;
mod load;
mod pg;
mod proc;
mod recon;
mod report;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use load::{Plan, Target};
use proc::{ChildGuard, ScratchDir};
use report::{DbReport, Measured};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

/// Pool size of both servers (feegate's `max_db_connections` default).
const POOL: u32 = 16;
/// How long a server may take to answer `/readyz` (migrations included).
const READY_WITHIN: Duration = Duration::from_secs(60);

#[derive(Parser)]
#[command(name = "feegate-bench", about = "Measures feegate against what its database allows")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Benchmark `POST /v1/payments` against the one-insert ceiling.
    Create(CreateArgs),
    /// feegate itself, from the same build (`feegate-bench feegate serve|keys ...`).
    #[command(hide = true, disable_help_flag = true)]
    Feegate {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Benchmark signed VNPay IPNs (distinct payments) against the one-insert ceiling.
    Callback(CreateArgs),
    /// Import and match a day's settlement file of N payments (default 100k, then 1M) with
    /// planted discrepancies, in-process; compare with DuckDB.
    Reconcile(recon::ReconArgs),
    /// The ceiling server (started by `create` as a child process).
    #[command(hide = true)]
    CeilingServer {
        #[arg(long)]
        db_url: String,
        #[arg(long)]
        listen: String,
        #[arg(long, default_value_t = POOL)]
        pool: u32,
        #[arg(long, default_value_t = 1)]
        rows: u32,
    },
}

#[derive(Args)]
struct CreateArgs {
    /// Measured seconds per server (after the warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent clients.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Which database(s).
    #[arg(long, value_enum, default_value_t = Db::Both)]
    db: Db,
    /// A PostgreSQL server where the bench may create and drop a database.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pg_url: String,
    /// Warm-up seconds before measuring.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Diagnostic: INSERTs per ceiling transaction (1 = the real ceiling); shows what
    /// each extra statement in a write transaction costs.
    #[arg(long, default_value_t = 1, hide_short_help = true)]
    ceiling_rows: u32,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Db {
    Sqlite,
    Postgres,
    Both,
}

/// What every run needs.
struct Ctx {
    /// `callback` mode: drive VNPay IPNs instead of creates.
    callback: bool,
    bench: PathBuf,
    feegate: PathBuf,
    plan: Plan,
    ceiling_rows: u32,
}

impl Ctx {
    /// Marks a diagnostic ceiling in titles.
    fn note(&self) -> String {
        match self.ceiling_rows {
            1 => String::new(),
            n => format!(" [DIAGNOSTIC: ceiling does {n} inserts per transaction]"),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Cmd::Feegate { args } = cli.command {
        return feegate::cli::main_from(std::iter::once("feegate".to_owned()).chain(args));
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("feegate-bench: starting the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Cmd::CeilingServer { db_url, listen, pool, rows } => {
            rt.block_on(ceiling::serve(&db_url, &listen, pool, rows)).map(|()| ExitCode::SUCCESS)
        }
        Cmd::Create(args) => rt.block_on(create_or_interrupt(args, false)),
        Cmd::Callback(args) => rt.block_on(create_or_interrupt(args, true)),
        Cmd::Reconcile(args) => rt.block_on(recon::run_or_interrupt(args)),
        Cmd::Feegate { .. } => Ok(ExitCode::SUCCESS),
    };
    result.unwrap_or_else(|e| {
        eprintln!("feegate-bench: {e:#}");
        ExitCode::FAILURE
    })
}

/// Runs `create`; on Ctrl-C or SIGTERM the run is dropped (its guards kill the children and remove
/// the scratch folders), then the databases it left are dropped.
async fn create_or_interrupt(args: CreateArgs, callback: bool) -> Result<ExitCode> {
    let finished = {
        let run = create(args, callback);
        tokio::pin!(run);
        tokio::select! {
            r = &mut run => Some(r),
            () = interrupted() => None,
        }
    };
    match finished {
        Some(r) => r,
        None => {
            eprintln!("feegate-bench: interrupted; servers stopped");
            pg::drop_open().await;
            Ok(ExitCode::from(130))
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn interrupted() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = term => {},
    }
}

async fn create(args: CreateArgs, callback: bool) -> Result<ExitCode> {
    let bench = std::env::current_exe().context("locating the bench binary")?;
    // feegate runs as `feegate-bench feegate ...`: the same build, so what is measured is
    // always the code that was compiled, with one command.
    let feegate = bench.clone();
    let plan = Plan {
        clients: args.clients.max(1),
        warmup: Duration::from_secs(args.warmup),
        measure: Duration::from_secs(args.seconds.max(1)),
    };
    if callback {
        println!(
            "feegate-bench callback: signed VNPay IPNs (GET /callbacks/vnpay, distinct payments) vs one durable insert"
        );
        println!("         feegate's payments and attempts are created before the measured window (not timed);");
        println!("         each IPN is sent once; the window ends at the time limit or when all are sent");
    } else {
        println!("feegate-bench create: POST /v1/payments (one line) vs one durable insert");
    }
    println!("command: {}", std::env::args().collect::<Vec<_>>().join(" "));
    println!("machine: {}", report::machine());
    println!("feegate: {} ({})", feegate.display(), age(&feegate));
    println!(
        "load:    {} clients on one keep-alive HTTP/1.1 client, {} s warm-up + {} s measured per server; \
         client and server share the machine",
        plan.clients,
        args.warmup,
        plan.measure.as_secs()
    );
    if let Some(idle) = cpu::background(Duration::from_secs(1)).await {
        let verdict = if idle.busy > 0.2 { "WARNING: other work competes with the benchmark" } else { "quiet" };
        println!("before:  machine {:.0}% busy with no server running ({verdict})", idle.busy * 100.0);
    }
    let ceiling_rows = args.ceiling_rows.max(1);
    if ceiling_rows > 1 {
        println!("NOTE:    diagnostic run: the ceiling does {ceiling_rows} inserts per transaction, not 1");
    }
    let ctx = Ctx { callback, bench, feegate, plan, ceiling_rows };
    let (mut ran, mut clean) = (0, true);
    for name in ["sqlite", "postgres"] {
        let r = match (name, args.db) {
            ("sqlite", Db::Sqlite | Db::Both) => bench_sqlite(&ctx).await.map(Some),
            ("postgres", Db::Postgres | Db::Both) => bench_postgres(&ctx, &args.pg_url).await,
            _ => continue,
        };
        match r {
            Ok(Some(report)) => {
                report.print();
                ran += 1;
                clean &= report.clean();
            }
            Ok(None) => println!("\n== {name}: skipped"),
            Err(e) => {
                println!("\n== {name}: FAILED: {e:#}");
                clean = false;
            }
        }
    }
    Ok(if ran > 0 && clean { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn age(path: &Path) -> String {
    match std::fs::metadata(path).and_then(|m| m.modified()).map(|t| t.elapsed()) {
        Ok(Ok(d)) => format!("built {} min ago", d.as_secs() / 60),
        _ => "build time unknown".into(),
    }
}

async fn bench_sqlite(ctx: &Ctx) -> Result<DbReport> {
    let scratch = ScratchDir::new()?;
    let dir = scratch.path().display().to_string();
    let feegate_url = format!("sqlite://{dir}/feegate.db?mode=rwc");
    println!("\nsqlite: feegate on {feegate_url} ...");
    let feegate = run_feegate(ctx, &feegate_url, scratch.path(), "sqlite").await?;
    let ceiling_url = format!("sqlite://{dir}/ceiling.db?mode=rwc");
    println!("sqlite: ceiling on {ceiling_url} ...");
    let ceiling = run_ceiling(ctx, &ceiling_url, scratch.path()).await?;
    Ok(DbReport {
        title: format!(
            "sqlite: {dir} (WAL, synchronous=FULL; feegate: pool {POOL} readers and one writer with group \
             commit; ceiling: pool {POOL}, each insert its own commit, writers serialised by one async mutex)"
        ),
        feegate,
        ceiling,
        targets: report::Targets::for_mode(ctx.callback),
    })
}

async fn bench_postgres(ctx: &Ctx, admin_url: &str) -> Result<Option<DbReport>> {
    let Some(db) = pg::BenchDb::create(admin_url).await? else {
        return Ok(None);
    };
    let runs = async {
        let scratch = ScratchDir::new()?;
        println!("\npostgres: feegate on {} ...", pg::redact(&db.url));
        let feegate = run_feegate(ctx, &db.url, scratch.path(), "postgres").await?;
        println!("postgres: ceiling on {} ...", pg::redact(&db.url));
        let ceiling = run_ceiling(ctx, &db.url, scratch.path()).await?;
        anyhow::Ok((feegate, ceiling))
    }
    .await;
    let title = format!("postgres: {} ({}, pool {POOL}){}", pg::redact(&db.url), db.settings, ctx.note());
    let dropped = db.drop_now().await;
    let (feegate, ceiling) = runs?;
    dropped?;
    Ok(Some(DbReport { title, feegate, ceiling, targets: report::Targets::for_mode(ctx.callback) }))
}

/// Starts `feegate serve` on a fresh port with `db_url`, drives it, reads its peak RSS.
async fn run_feegate(ctx: &Ctx, db_url: &str, scratch: &Path, tag: &str) -> Result<Measured> {
    let listen = format!("127.0.0.1:{}", proc::free_port()?);
    let base = format!("http://{listen}");
    let env = [
        ("FEEGATE_DATABASE_URL", db_url.to_owned()),
        ("FEEGATE_LISTEN", listen),
        ("FEEGATE_PUBLIC_URL", base.clone()),
        // One key at full speed is what rate limits exist to stop; measure without them.
        ("FEEGATE_RATE_LIMITS_ENABLED", "false".to_owned()),
        // The benchmark pays through the demo's simulated gateways.
        ("FEEGATE_DEMO", "true".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ];
    let key = proc::create_portal_key(&ctx.feegate, &env).await?;
    let mut cmd = Command::new(&ctx.feegate);
    cmd.args(["feegate", "serve"]).env_remove("FEEGATE_CONFIG").envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    let mut child = ChildGuard::spawn("feegate serve", cmd, &scratch.join("feegate.log"))?;
    child.wait_ready(&format!("{base}/readyz"), READY_WITHIN).await?;
    let stats = if ctx.callback {
        // Enough distinct payments for the window at up to ~1000 callbacks/s.
        let n = (ctx.plan.measure.as_secs() as usize * 1000).clamp(2000, 20_000);
        println!("{tag}: preparing {n} payments with a VNPay attempt (not timed) ...");
        let urls = callback::prepare(&base, &key, n, ctx.plan.clients).await?;
        let cpu_before = cpu::snapshot(Some(child.id()));
        let mut stats = callback::drive(urls, ctx.plan.clients, ctx.plan.measure).await?;
        if let (Some(a), Some(b)) = (cpu_before, cpu::snapshot(Some(child.id()))) {
            stats.cpu = cpu::between(a, b);
        }
        stats
    } else {
        let target = Target {
            url: format!("{base}/v1/payments"),
            bearer: key,
            key_prefix: format!("bench-{}-{tag}", std::process::id()),
        };
        load::drive(target, ctx.plan, Some(child.id())).await?
    };
    let rss = child.peak_rss_mb().with_context(|| format!("feegate is gone; its log:\n{}", child.log_tail()))?;
    Ok(Measured { stats, rss_mb: Some(rss) })
}

/// Starts `feegate-bench ceiling-server` on a fresh port with `db_url` and drives it.
async fn run_ceiling(ctx: &Ctx, db_url: &str, scratch: &Path) -> Result<Measured> {
    let listen = format!("127.0.0.1:{}", proc::free_port()?);
    let base = format!("http://{listen}");
    let mut cmd = Command::new(&ctx.bench);
    let rows = ctx.ceiling_rows.to_string();
    cmd.args(["ceiling-server", "--db-url", db_url, "--listen", &listen, "--pool", &POOL.to_string(), "--rows", &rows])
        .env("RUST_LOG", "warn");
    let mut child = ChildGuard::spawn("ceiling server", cmd, &scratch.join("ceiling.log"))?;
    child.wait_ready(&format!("{base}/readyz"), READY_WITHIN).await?;
    let target = Target {
        url: format!("{base}{}", ceiling::PATH),
        bearer: "unused".into(),
        key_prefix: format!("ceiling-{}", std::process::id()),
    };
    let stats = load::drive(target, ctx.plan, Some(child.id())).await?;
    Ok(Measured { stats, rss_mb: None })
}
