//! `feegate-bench reconcile`: a business day of N succeeded sandbox payments written into a
//! fresh database by bulk SQL (setup, timed apart), an N-line settlement file with planted
//! discrepancies of every outcome, imported in-process through `import_file`; prints the
//! time, the peak RSS and the outcome counts (which must equal the planted ones), and times
//! DuckDB's full outer join of the same two sets exported as CSV.

use crate::pg::{self, BenchDb};
use crate::proc::ScratchDir;
use crate::Db;
use anyhow::{bail, ensure, Context, Result};
use feegate::app::AppState;
use feegate::config::Config;
use feegate::domain::recon::{Lines, Matcher, Outcome, Records};
use feegate::store::Backend;
use futures_lite::StreamExt;
use sqlx::Row;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The business day every generated payment succeeded on (GMT+7).
const DAY: &str = "2026-11-27";
/// Its start, unix ms (2026-11-27T00:00:00+07:00).
const DAY_START_MS: i64 = 1_795_712_400_000;
const SOURCE: &str = "sandbox";
/// Targets of issue 4.
const MAX_SECONDS: f64 = 15.0;
const MAX_RSS_MB: f64 = 512.0;
const MAX_DUCKDB_RATIO: f64 = 2.0;

#[derive(clap::Args)]
pub struct ReconArgs {
    /// Succeeded payments (and about as many settlement lines); default: 100000, then 1000000.
    #[arg(long)]
    rows: Option<usize>,
    /// Which database(s).
    #[arg(long, value_enum, default_value_t = Db::Both)]
    db: Db,
    /// A PostgreSQL server where the bench may create and drop a database.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pg_url: String,
}

/// How many of each discrepancy a run of `n` payments plants, and what it expects.
#[derive(Debug, Clone, Copy)]
struct Plan {
    /// Succeeded payments.
    n: i64,
    /// Planted lines of each discrepancy kind (status mismatches: twice, one per direction).
    k: i64,
    /// Succeeded refunds (all in the file, matched).
    refunds: i64,
}

impl Plan {
    fn new(n: usize) -> Plan {
        let n = n.max(100) as i64;
        Plan { n, k: (n / 1000).max(10), refunds: n / 100 }
    }

    /// Outcome counts in [`Outcome::ALL`] order.
    fn expected(&self) -> [i64; 6] {
        let k = self.k;
        [self.n - 3 * k + self.refunds, k, k, k, 2 * k, k]
    }

    /// Lines of the settlement file (header excluded).
    fn lines(&self) -> i64 {
        self.n + 2 * self.k + self.refunds
    }

    /// Payments `1..=k` are not in the file, `k+1..=2k` have another amount there, `2k+1..=3k`
    /// are failed there, `3k+1..=4k` are there twice; `4k+1..=4k+refunds` have a refund;
    /// `n+1..=n+k` are attempts we hold as failed that the file says succeeded.
    fn refunded(&self, i: i64) -> bool {
        i > 4 * self.k && i <= 4 * self.k + self.refunds
    }
}

fn amount(i: i64) -> i64 {
    10_000 + (i % 50) * 5_000
}

/// When payment `i` of `total` succeeded, unix ms, inside the day.
fn paid_at(i: i64, total: i64) -> i64 {
    DAY_START_MS + i * 86_000_000 / total
}

/// Our reference of payment `i`'s attempt: `FG` + 10 digits, scattered (a bijection mod 10^10).
fn reference(i: i64) -> String {
    format!("FG{:010}", (i * 9_576_890_767) % 10_000_000_000)
}

fn refund_reference(i: i64) -> String {
    format!("FGR{:09}", (i * 982_451_653) % 1_000_000_000)
}

/// Runs the benchmark; on Ctrl-C or SIGTERM the databases it made are dropped.
pub async fn run_or_interrupt(args: ReconArgs) -> Result<ExitCode> {
    let finished = {
        let run = run(args);
        tokio::pin!(run);
        tokio::select! {
            r = &mut run => Some(r),
            () = crate::interrupted() => None,
        }
    };
    match finished {
        Some(r) => r,
        None => {
            eprintln!("feegate-bench: interrupted");
            pg::drop_open().await;
            Ok(ExitCode::from(130))
        }
    }
}

async fn run(args: ReconArgs) -> Result<ExitCode> {
    let (start, _) = feegate::service::recon::day_bounds(
        feegate::service::recon::parse_date(DAY).map_err(|e| anyhow::anyhow!("{e:?}"))?,
    );
    ensure!(start == DAY_START_MS, "DAY_START_MS should be {start}");
    let sizes = match args.rows {
        Some(n) => vec![n],
        None => vec![100_000, 1_000_000],
    };
    println!("feegate-bench reconcile: import + match + store of a sandbox settlement file through import_file");
    println!("command: {}", std::env::args().collect::<Vec<_>>().join(" "));
    println!("machine: {}", crate::report::machine());
    println!(
        "targets: whole import <= {MAX_SECONDS} s, peak RSS <= {MAX_RSS_MB} MB, matching <= {MAX_DUCKDB_RATIO}x DuckDB"
    );
    let duckdb = duckdb_version();
    match &duckdb {
        Some(v) => println!("duckdb:  {v} (python3)"),
        None => println!("duckdb:  not found (pip install duckdb): the comparison is skipped"),
    }
    let mut ok = true;
    for name in ["sqlite", "postgres"] {
        for &n in &sizes {
            let r = match (name, args.db) {
                ("sqlite", Db::Sqlite | Db::Both) => on_sqlite(Plan::new(n), duckdb.is_some()).await.map(Some),
                ("postgres", Db::Postgres | Db::Both) => {
                    on_postgres(Plan::new(n), &args.pg_url, duckdb.is_some()).await
                }
                _ => continue,
            };
            match r {
                Ok(Some(good)) => ok &= good,
                Ok(None) => println!("\n== {name}: skipped"),
                Err(e) => {
                    println!("\n== {name}, {n} payments: FAILED: {e:#}");
                    ok = false;
                }
            }
        }
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

async fn on_sqlite(plan: Plan, duckdb: bool) -> Result<bool> {
    let scratch = ScratchDir::new()?;
    let url = format!("sqlite://{}/feegate.db?mode=rwc", scratch.path().display());
    println!("\n== sqlite (WAL, synchronous=FULL), {} payments: {url}", plan.n);
    one(plan, &url, scratch.path(), duckdb).await
}

async fn on_postgres(plan: Plan, admin_url: &str, duckdb: bool) -> Result<Option<bool>> {
    let Some(db) = BenchDb::create(admin_url).await? else { return Ok(None) };
    println!("\n== postgres ({}), {} payments: {}", db.settings, plan.n, pg::redact(&db.url));
    let scratch = ScratchDir::new();
    let r = match scratch {
        Ok(s) => one(plan, &db.url, s.path(), duckdb).await,
        Err(e) => Err(e),
    };
    let dropped = db.drop_now().await;
    let good = r?;
    dropped?;
    Ok(Some(good))
}

/// One database and size: setup, import, checks, DuckDB. `Ok(false)` when a count is wrong.
async fn one(plan: Plan, url: &str, dir: &Path, duckdb: bool) -> Result<bool> {
    let mut config = Config::load_with(None, &[(feegate::config::DEMO_ENV.into(), "true".into())])?;
    config.database_url = url.to_owned();
    let state = AppState::build(config).await?;
    let t = Instant::now();
    generate(&state, url, plan).await?;
    let file = dir.join("settlement.csv");
    write_file(plan, &file)?;
    let records_csv = dir.join("records.csv");
    export_records(&state, &records_csv).await?;
    println!(
        "setup:   {:.1} s (payments, lines, attempts, refunds by bulk SQL; file and CSV export)",
        secs(t.elapsed())
    );

    let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
    let mb = bytes.len() as f64 / 1e6;
    let hwm_reset = reset_peak_rss();
    let t = Instant::now();
    let (created, run) = feegate::service::recon::import_file(&state, "bench", SOURCE, Some(DAY), bytes, false)
        .await
        .map_err(|e| anyhow::anyhow!("import_file: {e:?}"))?;
    let took = secs(t.elapsed());
    let rss = peak_rss_mb();
    ensure!(created, "the file had been imported before");
    let c = &run.counts;
    let got = [c.matched, c.missing_in_file, c.missing_in_feegate, c.amount_mismatch, c.status_mismatch, c.duplicate];
    let stored = stored_counts(&state, &run.id).await?;
    let rss_note = if hwm_reset { "" } else { " (since start: /proc/self/clear_refs refused)" };
    println!(
        "import:  {took:.2} s for {} lines ({mb:.0} MB) hashed, parsed, matched and stored in one transaction; \
         peak RSS {rss:.0} MB{rss_note}",
        run.lines
    );
    let mut good = run.lines == plan.lines();
    println!("outcome             planted    run   stored");
    for (k, o) in Outcome::ALL.iter().enumerate() {
        let mark = if got[k] == plan.expected()[k] && stored[k] == got[k] { "" } else { "  WRONG" };
        good &= mark.is_empty();
        println!("{:<18} {:>8} {:>6} {:>8}{mark}", o.as_str(), plan.expected()[k], got[k], stored[k]);
    }

    let bytes = std::fs::read(&file)?;
    let (parse, fetch, matching) = phases(&state, bytes).await?;
    println!(
        "phases:  parse {parse:.2} s, fetch {fetch:.2} s, match {matching:.2} s (again, outside the run), \
         store+commit {:.2} s",
        took - parse - fetch - matching
    );
    let mut verdicts =
        vec![verdict("whole import", took, MAX_SECONDS, "s"), verdict("peak RSS", rss, MAX_RSS_MB, "MB")];
    if duckdb {
        let d = run_duckdb(&file, &records_csv).await?;
        let ours = parse + fetch + matching;
        println!(
            "duckdb:  read both CSVs + full outer join {:.2} s; join of loaded tables {:.2} s; counts {}",
            d.total,
            d.join,
            if d.counts == plan.expected() { "equal the planted ones" } else { "DIFFER" }
        );
        println!(
            "ratio:   feegate parse+fetch+match {ours:.2} s / DuckDB read+join {:.2} s = {:.2}; \
             feegate match {matching:.2} s / DuckDB join {:.2} s = {:.2}",
            d.total,
            ours / d.total,
            d.join,
            matching / d.join
        );
        verdicts.push(verdict("matching vs DuckDB", ours / d.total, MAX_DUCKDB_RATIO, "x"));
    }
    println!("targets: {}", verdicts.join("; "));
    if !good {
        println!("WRONG: the counts are not the planted ones");
    }
    state.store.close().await;
    Ok(good)
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn verdict(what: &str, value: f64, max: f64, unit: &str) -> String {
    let pass = if value <= max { "ok" } else { "MISSED" };
    format!("{what} {value:.2} {unit} (<= {max}) {pass}")
}

/// Parse, fetch and match timed apart with the same functions `import_file` uses.
async fn phases(state: &AppState, bytes: Vec<u8>) -> Result<(f64, f64, f64)> {
    let account = state.connectors.get(SOURCE).context("no sandbox connector")?;
    let t = Instant::now();
    let parsed = account.connector.parse_settlement(&bytes)?;
    drop(bytes);
    let lines = Lines::pack(parsed)?;
    let parse = secs(t.elapsed());
    let t = Instant::now();
    let end = DAY_START_MS + 86_400_000;
    let mut records = Records::default();
    state.store.recon_day_records(SOURCE, DAY_START_MS, end, &mut records).await?;
    let mut fetch = secs(t.elapsed());
    let t = Instant::now();
    let mut m = Matcher::new(&lines)?;
    m.add(&records)?;
    let unknown = m.unknown_references();
    let mut matching = secs(t.elapsed());
    let t = Instant::now();
    state.store.recon_records_by_reference(SOURCE, DAY_START_MS, end, &unknown, &mut records).await?;
    fetch += secs(t.elapsed());
    let t = Instant::now();
    m.add(&records)?;
    let items = m.finish(&records, state.config.reconciliation.tolerance);
    matching += secs(t.elapsed());
    ensure!(items.len() >= lines.len(), "fewer items than lines");
    Ok((parse, fetch, matching))
}

/// Runs `$body` on the store's native pool (`&SqlitePool` or `&PgPool`).
macro_rules! on_store {
    ($store:expr, |$db:ident| $body:expr) => {
        match ($store.sqlite_pool(), $store.pg_pool()) {
            (Some($db), _) => $body,
            (_, Some($db)) => $body,
            (None, None) => unreachable!("a store is on SQLite or PostgreSQL"),
        }
    };
}

/// Writes the day's payments, their lines, attempts and refunds in a few statements.
async fn generate(state: &AppState, url: &str, plan: Plan) -> Result<()> {
    let sqlite = state.store.backend() == Backend::Sqlite;
    let (account,): (String,) = on_store!(state.store, |db| sqlx::query_as(
        "SELECT id FROM accounts WHERE agency_code = 'H12.20' AND receives LIKE '%charge%' LIMIT 1"
    )
    .fetch_one(db)
    .await)
    .context("the demo agency's account")?;
    let total = plan.n + plan.k;
    let pad = |expr: &str, w: usize| {
        if sqlite {
            format!("printf('%0{w}d', {expr})")
        } else {
            format!("lpad(({expr})::text, {w}, '0')")
        }
    };
    // `sql` selecting from the numbers `i` in `from..=to`.
    let numbers = |sql: &str, from: i64, to: i64| {
        if sqlite {
            format!("WITH RECURSIVE n(i) AS (SELECT {from} UNION ALL SELECT i + 1 FROM n WHERE i < {to}) {sql} FROM n")
        } else {
            format!("{sql} FROM generate_series(CAST({from} AS BIGINT), {to}) AS n(i)")
        }
    };
    let pay_id = format!("'pay_bench' || {}", pad("(i * 982451653) % 1000000000000", 12));
    let att_id = format!("'att_bench' || {}", pad("(i * 961748941) % 1000000000000", 12));
    // Row `i`'s time plus `off` ms, as each database stores times (TIMESTAMPTZ on PostgreSQL).
    let at = |off: i64| {
        let ms = format!("({DAY_START_MS} + i * 86000000 / {total} + {off})");
        if sqlite {
            ms
        } else {
            format!("(TIMESTAMPTZ 'epoch' + {ms} * INTERVAL '1 millisecond')")
        }
    };
    let (n, r0, r1) = (plan.n, 4 * plan.k + 1, 4 * plan.k + plan.refunds);
    let statements = [
        numbers(
            &format!(
                "INSERT INTO payments (id, portal_id, agency_code, dossier_code, procedure_code, description, \
                 currency, amount, refunded_amount, status, payer, return_url, metadata, created_at, updated_at, \
                 expires_at, paid_at) SELECT {pay_id}, 'demo-portal', 'H12.20', 'H12.20-261127-' || {}, '1.004227', \
                 'Le phi cap doi GPLX', 'VND', 10000 + (i % 50) * 5000, \
                 CASE WHEN i BETWEEN {r0} AND {r1} THEN 5000 ELSE 0 END, \
                 CASE WHEN i > {n} THEN 'expired' WHEN i BETWEEN {r0} AND {r1} THEN 'partially_refunded' \
                 ELSE 'succeeded' END, '{{\"name\":\"Nguyen Van A\"}}', 'https://portal.example.vn/return', '{{}}', \
                 {}, {}, {}, CASE WHEN i > {n} THEN NULL ELSE {} END",
                pad("i", 7),
                at(-60000),
                at(0),
                at(840000),
                at(0)
            ),
            1,
            total,
        ),
        format!(
            "INSERT INTO payment_lines (payment_id, idx, kind, code, description, amount, account_id) \
             SELECT id, 0, 'charge', 'LP-GPLX', 'Le phi cap doi GPLX', amount, '{account}' FROM payments \
             WHERE id LIKE 'pay_bench%'"
        ),
        numbers(
            &format!(
                "INSERT INTO attempts (id, payment_id, connector_id, reference, status, amount, currency, \
                 gateway_ref, gateway_txn, failure_code, action, created_at, updated_at) \
                 SELECT {att_id}, {pay_id}, '{SOURCE}', 'FG' || {}, \
                 CASE WHEN i > {n} THEN 'failed' ELSE 'succeeded' END, 10000 + (i % 50) * 5000, 'VND', NULL, \
                 'SBX' || i, CASE WHEN i > {n} THEN 'declined' ELSE NULL END, '{{}}', {}, {}",
                pad("(i * 9576890767) % 10000000000", 10),
                at(-30000),
                at(0)
            ),
            1,
            total,
        ),
        numbers(
            &format!(
                "INSERT INTO refunds (id, payment_id, attempt_id, connector_id, reference, amount, reason, status, \
                 gateway_refund_ref, requested_by, created_at, updated_at) \
                 SELECT 'rfd_bench' || {}, {pay_id}, {att_id}, '{SOURCE}', 'FGR' || {}, 5000, 'Ho so bi tu choi', \
                 'succeeded', 'SBXR' || i, 'bench', {}, {}",
                pad("i", 12),
                pad("(i * 982451653) % 1000000000", 9),
                at(500),
                at(1000)
            ),
            r0,
            r1,
        ),
    ];
    // The store's SQLite pool only reads (its writes go through its one writer): the bulk
    // setup writes on a connection of its own.
    let setup = if sqlite { Some(sqlx::SqlitePool::connect(url).await.context("the setup connection")?) } else { None };
    for sql in &statements {
        match &setup {
            Some(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
            None => on_store!(state.store, |db| sqlx::query(sql).execute(db).await.map(|_| ())),
        }
        .with_context(|| format!("setup: {}", &sql[..60.min(sql.len())]))?;
    }
    if let Some(p) = setup {
        p.close().await;
    }
    if !sqlite {
        on_store!(state.store, |db| sqlx::query("ANALYZE").execute(db).await.map(|_| ()))?;
    }
    Ok(())
}

/// The settlement file: every payment but the planted ones as they are, in time order.
fn write_file(plan: Plan, path: &Path) -> Result<()> {
    let f = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = BufWriter::with_capacity(1 << 20, f);
    writeln!(w, "reference,gateway_txn,type,amount,fee,status,time")?;
    let (n, k) = (plan.n, plan.k);
    let total = n + k;
    let step = (n / k).max(1);
    let time = |ms: i64| {
        let s = (ms - DAY_START_MS) / 1000;
        format!("{DAY}T{:02}:{:02}:{:02}+07:00", s / 3600, s / 60 % 60, s % 60)
    };
    let mut unknown = 0;
    for i in 1..=total {
        let at = paid_at(i, total);
        if i > k {
            let a = amount(i) + if i <= 2 * k { 1_000 } else { 0 };
            let status = if i > 2 * k && i <= 3 * k { "failed" } else { "succeeded" };
            let line = format!("{},SBX{i},pay,{a},{},{status},{}", reference(i), a / 100, time(at));
            writeln!(w, "{line}")?;
            if i > 3 * k && i <= 4 * k {
                writeln!(w, "{line}")?;
            }
        }
        if plan.refunded(i) {
            writeln!(w, "{},SBXR{i},refund,5000,0,succeeded,{}", refund_reference(i), time(at + 1_000))?;
        }
        if i % step == 0 && unknown < k {
            unknown += 1;
            writeln!(w, "FGX{unknown:09},SBXX{unknown},pay,{},0,succeeded,{}", amount(unknown), time(at))?;
        }
    }
    ensure!(unknown == k, "planted {unknown} unknown lines, not {k}");
    w.flush()?;
    Ok(())
}

/// Our side as CSV for DuckDB: every attempt and refund at the sandbox.
async fn export_records(state: &AppState, path: &Path) -> Result<()> {
    let f = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = BufWriter::with_capacity(1 << 20, f);
    writeln!(w, "reference,type,amount,status")?;
    let sql = format!(
        "SELECT reference, 'pay', amount, status FROM attempts WHERE connector_id = '{SOURCE}' \
         UNION ALL SELECT reference, 'refund', amount, status FROM refunds WHERE connector_id = '{SOURCE}'"
    );
    on_store!(state.store, |db| {
        let mut rows = sqlx::query(&sql).fetch(db);
        while let Some(row) = rows.next().await {
            let row = row?;
            let (r, t, a, s): (&str, &str, i64, &str) =
                (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, row.try_get(3)?);
            writeln!(w, "{r},{t},{a},{s}")?;
        }
        Ok::<(), anyhow::Error>(())
    })?;
    w.flush()?;
    Ok(())
}

/// The stored items of a run per outcome, in [`Outcome::ALL`] order.
async fn stored_counts(state: &AppState, run_id: &str) -> Result<[i64; 6]> {
    let rows: Vec<(String, i64)> = on_store!(state.store, |db| sqlx::query_as(
        "SELECT outcome, CAST(COUNT(*) AS BIGINT) FROM recon_items WHERE run_id = $1 GROUP BY outcome"
    )
    .bind(run_id)
    .fetch_all(db)
    .await)?;
    let mut n = [0; 6];
    for (o, c) in rows {
        let k = Outcome::ALL.iter().position(|x| x.as_str() == o).context("unknown outcome")?;
        n[k] = c;
    }
    Ok(n)
}

/// Starts the peak RSS afresh (`/proc/self/clear_refs`, Linux 4.0+).
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// This process's peak RSS (`VmHWM`) in MB.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn duckdb_version() -> Option<String> {
    let out =
        std::process::Command::new("python3").args(["-c", "import duckdb; print(duckdb.__version__)"]).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

struct DuckDb {
    /// Reading both CSVs and joining, seconds.
    total: f64,
    /// Joining the two tables already loaded, seconds.
    join: f64,
    counts: [i64; 6],
}

/// DuckDB's outcome of every line and record: the same rules as feegate's, in SQL.
const DUCKDB_SCRIPT: &str = r#"
import duckdb, json, sys, time
file, recs = sys.argv[1], sys.argv[2]
f_src = f"read_csv('{file}', header=true, columns={{'reference':'VARCHAR','gateway_txn':'VARCHAR','type':'VARCHAR','amount':'BIGINT','fee':'BIGINT','status':'VARCHAR','time':'VARCHAR'}})"
r_src = f"read_csv('{recs}', header=true, columns={{'reference':'VARCHAR','type':'VARCHAR','amount':'BIGINT','status':'VARCHAR'}})"
def query(f, r):
    return f"""
    WITH f AS (SELECT *, row_number() OVER (PARTITION BY reference, type) AS nth FROM {f})
    SELECT CASE
      WHEN f.reference IS NULL THEN 'missing_in_file'
      WHEN f.nth > 1 THEN 'duplicate'
      WHEN r.reference IS NULL THEN 'missing_in_feegate'
      WHEN (f.status = 'succeeded') <> (r.status = 'succeeded') THEN 'status_mismatch'
      WHEN f.amount <> r.amount THEN 'amount_mismatch'
      ELSE 'matched' END AS outcome, count(*)
    FROM f FULL OUTER JOIN {r} AS r ON f.reference = r.reference AND f.type = r.type
    WHERE NOT (f.reference IS NULL AND r.status <> 'succeeded')
    GROUP BY 1"""
con = duckdb.connect()
t = time.perf_counter()
counts = dict(con.execute(query(f_src, r_src)).fetchall())
total = time.perf_counter() - t
con.execute(f"CREATE TABLE lines AS SELECT * FROM {f_src}")
con.execute(f"CREATE TABLE recs AS SELECT * FROM {r_src}")
t = time.perf_counter()
con.execute(query("lines", "recs")).fetchall()
join = time.perf_counter() - t
print(json.dumps({"total": total, "join": join, "counts": counts}))
"#;

async fn run_duckdb(file: &Path, records: &Path) -> Result<DuckDb> {
    let out = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(DUCKDB_SCRIPT)
        .arg(file)
        .arg(records)
        .kill_on_drop(true)
        .output()
        .await
        .context("running python3")?;
    if !out.status.success() {
        bail!("duckdb failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).context("reading DuckDB's answer")?;
    let mut counts = [0; 6];
    for (k, o) in Outcome::ALL.iter().enumerate() {
        counts[k] = v["counts"][o.as_str()].as_i64().unwrap_or(0);
    }
    Ok(DuckDb { total: v["total"].as_f64().unwrap_or(f64::NAN), join: v["join"].as_f64().unwrap_or(f64::NAN), counts })
}
