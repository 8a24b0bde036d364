//! An existing database upgrades in place: databases written by an older feegate (the
//! fixtures in tests/fixtures/upgrade, one SQLite file and one PostgreSQL dump per schema
//! version) are opened by today's feegate, which migrates them at start; afterwards their
//! payments, refunds, events, reconciliation runs, cases and closed days read back as the
//! older feegate answered them (the `*.expect.json` next to each fixture), every audit
//! chain verifies with the old heads kept, and new work continues on them.
//!
//! The fixtures are written by `make_upgrade_fixture` below (ignored; run it through
//! `scripts/make-upgrade-fixture`), through the API of the feegate it is compiled with.

mod common;
use common::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where the fixtures live.
fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upgrade")
}

/// Stands for the server's base URL in the expected answers (each run has its own port).
const BASE: &str = "{base}";

/// The backend the suite runs on, as the fixtures name it.
fn backend() -> &'static str {
    if on_postgres() {
        "postgres"
    } else {
        "sqlite"
    }
}

/// The database file of a fixture version on this backend.
fn fixture_file(version: &str) -> PathBuf {
    let ext = if on_postgres() { "postgres.sql" } else { "sqlite" };
    fixture_dir().join(format!("{version}.{ext}"))
}

fn expect_file(version: &str) -> PathBuf {
    fixture_dir().join(format!("{version}.{}.expect.json", backend()))
}

/// Every fixture version held for this backend (`v0011`, ...), oldest first.
fn fixture_versions() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(fixture_dir())
        .expect("tests/fixtures/upgrade")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|name| name.strip_suffix(&format!(".{}.expect.json", backend())).map(str::to_owned))
        .collect();
    out.sort();
    out
}

// ---- Reading a database the way both feegates answer it ---------------------------

/// Replaces the server's base URL by [`BASE`] in every string.
fn normalise(v: Value, base: &str) -> Value {
    match v {
        Value::String(s) => Value::String(s.replace(base, BASE)),
        Value::Array(a) => Value::Array(a.into_iter().map(|x| normalise(x, base)).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, x)| (k, normalise(x, base))).collect()),
        other => other,
    }
}

async fn get_ok(app: &TestApp, path: &str, key: &str) -> Value {
    let r = app.get(path, key).send().await.expect("send");
    let status = r.status();
    let v: Value = r.json().await.expect("json");
    assert_eq!(status, 200, "GET {path}: {v}");
    normalise(v, &app.url)
}

/// Everything the API tells about the database's payments, runs, cases and days: the
/// answers the fixture records and the upgraded database must give again.
async fn snapshot(app: &TestApp) -> Value {
    let list = get_ok(app, "/v1/payments?limit=100", &app.finance_key).await;
    let mut ids: Vec<String> = list["data"]
        .as_array()
        .expect("payment list")
        .iter()
        .map(|p| p["id"].as_str().expect("id").to_owned())
        .collect();
    ids.sort();
    let mut payments = serde_json::Map::new();
    for id in &ids {
        payments.insert(
            id.clone(),
            json!({
                "payment": get_ok(app, &format!("/v1/payments/{id}"), &app.portal_key).await,
                "events": get_ok(app, &format!("/v1/payments/{id}/events"), &app.portal_key).await,
                "refunds": get_ok(app, &format!("/v1/payments/{id}/refunds"), &app.portal_key).await,
                "webhooks": get_ok(app, &format!("/v1/events?payment_id={id}&limit=200"), &app.admin_key).await,
            }),
        );
    }
    let runs = get_ok(app, "/v1/reconciliation/runs", &app.finance_key).await;
    let mut run_details = serde_json::Map::new();
    for run in runs["data"].as_array().or(runs.as_array()).expect("run list") {
        let id = run["id"].as_str().expect("run id");
        run_details.insert(
            id.to_owned(),
            json!({
                "run": get_ok(app, &format!("/v1/reconciliation/runs/{id}"), &app.finance_key).await,
                "items": get_ok(app, &format!("/v1/reconciliation/runs/{id}/items"), &app.finance_key).await,
            }),
        );
    }
    let mut reports = serde_json::Map::new();
    for date in run_dates(&run_details) {
        let report = get_ok(app, &format!("/v1/reports/settlement?date={date}"), &app.finance_key).await;
        reports.insert(date, report);
    }
    json!({
        "payments": payments,
        "runs": run_details,
        "cases": get_ok(app, "/v1/cases?status=all", &app.finance_key).await,
        "days": get_ok(app, "/v1/reconciliation/days", &app.finance_key).await,
        "reports": reports,
    })
}

/// The business days the runs were for.
fn run_dates(runs: &serde_json::Map<String, Value>) -> Vec<String> {
    let mut dates: Vec<String> = runs.values().filter_map(|r| r["run"]["date"].as_str().map(str::to_owned)).collect();
    dates.sort();
    dates.dedup();
    dates
}

/// Every audit chain: scope -> (length, head hash), read straight from the journal table.
async fn audit_chains(db_url: &str) -> BTreeMap<String, (i64, String)> {
    use sqlx::Connection;
    let sql = "SELECT scope, seq, hash FROM audit_log ORDER BY scope, seq";
    let rows: Vec<(String, i64, String)> = if db_url.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(db_url).await.expect("connect");
        sqlx::query_as(sql).fetch_all(&mut c).await.expect("audit rows")
    } else {
        let mut c = sqlx::SqliteConnection::connect(db_url).await.expect("connect");
        sqlx::query_as(sql).fetch_all(&mut c).await.expect("audit rows")
    };
    let mut out = BTreeMap::new();
    for (scope, seq, hash) in rows {
        out.insert(scope, (seq, hash));
    }
    out
}

/// (prev_hash, hash) of entry `seq` of `scope`'s chain.
async fn audit_hash(db_url: &str, scope: &str, seq: i64) -> Option<(String, String)> {
    use sqlx::Connection;
    let sql = "SELECT prev_hash, hash FROM audit_log WHERE scope = $1 AND seq = $2";
    if db_url.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(db_url).await.expect("connect");
        sqlx::query_as(sql).bind(scope).bind(seq).fetch_optional(&mut c).await.expect("audit row")
    } else {
        let mut c = sqlx::SqliteConnection::connect(db_url).await.expect("connect");
        sqlx::query_as(sql).bind(scope).bind(seq).fetch_optional(&mut c).await.expect("audit row")
    }
}

/// Alters one audit entry behind feegate's back (the negative control).
async fn tamper(db_url: &str, scope: &str, seq: i64) {
    use sqlx::Connection;
    let sql = "UPDATE audit_log SET actor = 'mallory' WHERE scope = $1 AND seq = $2";
    let n = if db_url.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(db_url).await.expect("connect");
        sqlx::query(sql).bind(scope).bind(seq).execute(&mut c).await.expect("tamper").rows_affected()
    } else {
        let mut c = sqlx::SqliteConnection::connect(db_url).await.expect("connect");
        sqlx::query(sql).bind(scope).bind(seq).execute(&mut c).await.expect("tamper").rows_affected()
    };
    assert_eq!(n, 1, "the entry to tamper with exists");
}

/// `feegate audit verify` on a database: (exit code, output).
async fn audit_verify(db_url: &str) -> (i32, String) {
    proc::cli(&["audit", "verify"], &[("FEEGATE_DATABASE_URL".to_string(), db_url.to_string())]).await
}

/// `expected` holds in `actual`: the same values at every path of `expected` (a newer
/// feegate may add fields; it may not drop or change one). Lists of objects with an `id`
/// are compared by id; other lists by position. Gives the first difference.
fn contains(expected: &Value, actual: &Value, path: &str) -> Result<(), String> {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let av = a.get(k).ok_or_else(|| format!("{path}.{k}: missing (was {ev})"))?;
                contains(ev, av, &format!("{path}.{k}"))?;
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return Err(format!("{path}: {} entries, {} expected", a.len(), e.len()));
            }
            let by_id = e.iter().all(|x| x.get("id").is_some_and(Value::is_string));
            for (i, ev) in e.iter().enumerate() {
                let av = if by_id {
                    a.iter()
                        .find(|x| x.get("id") == ev.get("id"))
                        .ok_or_else(|| format!("{path}: no entry with id {}", ev["id"]))?
                } else {
                    &a[i]
                };
                contains(ev, av, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        (e, a) if e == a => Ok(()),
        (e, a) => Err(format!("{path}: {a}, {e} expected")),
    }
}

// ---- The fixture, loaded -------------------------------------------------------------

/// A fresh database holding fixture `version` of this backend, as an operator's would be
/// before the upgrade; gives its URL.
async fn load_fixture(version: &str) -> String {
    let file = fixture_file(version);
    assert!(file.exists(), "{} is missing", file.display());
    let url = fresh_database().await;
    if on_postgres() {
        let out = std::process::Command::new("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &url, "-f"])
            .arg(&file)
            .output()
            .expect("psql (postgresql-client) must be installed to load the PostgreSQL fixture");
        assert!(out.status.success(), "psql -f {}: {}", file.display(), String::from_utf8_lossy(&out.stderr));
    } else {
        let path = url
            .strip_prefix("sqlite://")
            .and_then(|p| p.split_once('?'))
            .map(|(p, _)| p.to_owned())
            .expect("sqlite URL");
        std::fs::copy(&file, &path).expect("copy the fixture");
    }
    url
}

/// The schema version a database's migration table records.
async fn schema_version(db_url: &str) -> i64 {
    use sqlx::Connection;
    let sql = "SELECT MAX(version) FROM _sqlx_migrations WHERE success";
    let (v,): (i64,) = if db_url.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(db_url).await.expect("connect");
        sqlx::query_as(sql).fetch_one(&mut c).await.expect("migrations")
    } else {
        let mut c = sqlx::SqliteConnection::connect(db_url).await.expect("connect");
        sqlx::query_as(sql).fetch_one(&mut c).await.expect("migrations")
    };
    v
}

/// The newest migration version of this checkout.
fn latest_migration() -> i64 {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    std::fs::read_dir(dir)
        .expect("migrations")
        .filter_map(|e| e.ok()?.file_name().into_string().ok()?.split('_').next()?.parse().ok())
        .max()
        .expect("a migration")
}

#[tokio::test]
async fn every_older_database_upgrades_in_place_and_reads_as_before() {
    let versions = fixture_versions();
    assert!(versions.iter().any(|v| v == "v0011"), "the v0011 fixture of {} is missing: {versions:?}", backend());
    for version in versions {
        upgrade(&version).await;
    }
}

async fn upgrade(version: &str) {
    let expect: Value =
        serde_json::from_str(&std::fs::read_to_string(expect_file(version)).expect("expect file")).expect("json");
    let url = load_fixture(version).await;
    let old_version = expect["schema_version"].as_i64().expect("schema_version");
    assert_eq!(schema_version(&url).await, old_version, "{version}: the fixture is at its own version");

    // Today's feegate starts on it: the migrations after the fixture's run at start.
    let app = TestApp::spawn_on(&url, &[]).await;
    assert_eq!(schema_version(&url).await, latest_migration(), "{version}: migrated to this checkout's schema");

    // Everything reads back as the older feegate answered it.
    // Stored webhook payloads keep the old server's URL; live answers carry this one's.
    let old_base = expect["base"].as_str().expect("base");
    let now = normalise(snapshot(&app).await, old_base);
    if let Err(diff) = contains(&expect["api"], &now, "api") {
        panic!("{version} on {}: after the upgrade {diff}", backend());
    }
    let payments = expect["api"]["payments"].as_object().expect("payments");
    // The comparison sees a changed answer (so its passing above means something).
    let (some, _) = payments.iter().next().expect("a payment");
    let mut changed = now.clone();
    changed["payments"][some]["payment"]["lines"][0]["amount"] = json!("1");
    assert!(contains(&expect["api"], &changed, "api").is_err(), "a changed line amount is a difference");
    assert!(payments.len() >= 6, "the fixture holds payments of every kind");

    // Every chain is as long as it was with the same head (admin may have grown: the
    // harness creates its keys), and the whole journal verifies.
    let chains = audit_chains(&url).await;
    let old_chains = expect["audit"].as_object().expect("audit chains");
    assert!(!old_chains.is_empty());
    for (scope, old) in old_chains {
        let (len, head) = (old["length"].as_i64().expect("length"), old["head"].as_str().expect("head"));
        let (now_len, _) = chains.get(scope).unwrap_or_else(|| panic!("{version}: chain {scope} is gone"));
        let at = audit_hash(&url, scope, len).await.map(|(_, h)| h);
        assert_eq!(at.as_deref(), Some(head), "{version}: chain {scope} entry {len} changed");
        if payments.contains_key(scope) {
            assert_eq!(*now_len, len, "{version}: chain {scope} grew without new work");
        }
    }
    let (code, out) = audit_verify(&url).await;
    assert_eq!(code, 0, "{version}: audit verify after the upgrade: {out}");

    // New work continues on the upgraded database: a new payment is paid and partly
    // refunded; the rest of the old partly refunded one is asked back (this gateway
    // simulator started afresh and no longer knows the old transaction, so it refuses: the
    // refund is recorded as failed and nothing more is refunded), its chain continuing from
    // the old head; the old open cases are resolved and their day closes.
    let new = app.create_payment(&payment_body()).await["id"].as_str().expect("id").to_owned();
    assert!(app.pay_sandbox(&new, "success").await.contains("status=succeeded"));
    let body = json!({"amount": "35000", "reason": "Hoàn một phần sau nâng cấp"});
    let (status, r) = post_json(&app, &format!("/v1/payments/{new}/refunds"), &app.finance_key, &body).await;
    assert_eq!((status, r["status"].as_str()), (202, Some("succeeded")), "{r}");
    let paid_new = app.payment(&new).await;
    assert_eq!(
        (paid_new["status"].as_str(), paid_new["refunded_amount"].as_str()),
        (Some("partially_refunded"), Some("35000"))
    );
    let (partial, old) = payments
        .iter()
        .find(|(_, p)| p["payment"]["status"] == "partially_refunded")
        .expect("a partially refunded payment in the fixture");
    let p = &old["payment"];
    let rest = p["amount"].as_str().expect("amount").parse::<i64>().expect("digits")
        - p["refunded_amount"].as_str().expect("refunded").parse::<i64>().expect("digits");
    let body = json!({"amount": rest.to_string(), "reason": "Hoàn phần còn lại sau nâng cấp"});
    let (status, r) = post_json(&app, &format!("/v1/payments/{partial}/refunds"), &app.finance_key, &body).await;
    assert_eq!((status, r["status"].as_str()), (202, Some("failed")), "{r}");
    let after = app.payment(partial).await;
    assert_eq!((&after["status"], &after["refunded_amount"]), (&p["status"], &p["refunded_amount"]));
    let refunds = get_ok(&app, &format!("/v1/payments/{partial}/refunds"), &app.portal_key).await;
    assert_eq!(refunds.as_array().map(Vec::len), old["refunds"].as_array().map(|r| r.len() + 1), "{refunds}");
    let old_head = &old_chains[partial.as_str()];
    let next = old_head["length"].as_i64().expect("length") + 1;
    let (prev, _) = audit_hash(&url, partial, next).await.expect("the refund continues the chain");
    assert_eq!(prev, old_head["head"].as_str().expect("head"), "{version}: the chain continues from its old head");
    assert!(audit_chains(&url).await.contains_key(&new));
    let open = get_ok(&app, "/v1/cases?status=open", &app.finance_key).await;
    let open = open.as_array().expect("cases");
    assert!(!open.is_empty(), "the fixture has open cases");
    let note = json!({"code": "other", "note": "Đã kiểm tra sau nâng cấp"});
    for c in open {
        let path = format!("/v1/cases/{}/resolve", c["id"].as_str().expect("id"));
        let (status, v) = post_json(&app, &path, &app.finance_key, &note).await;
        assert_eq!((status, v["status"].as_str()), (200, Some("resolved")), "{v}");
    }
    let date = open[0]["date"].as_str().expect("date");
    let path = format!("/v1/reconciliation/days/sandbox/{date}/close");
    let (status, day) = post_json(&app, &path, &app.finance_key, &json!({})).await;
    assert_eq!((status, day["status"].as_str()), (200, Some("closed")), "{day}");
    let (code, out) = audit_verify(&url).await;
    assert_eq!(code, 0, "{version}: audit verify after new work: {out}");
    app.stop().await;

    // The negative control: one altered old entry is found, so the checks above could fail.
    let (scope, _) = payments.iter().next().expect("a payment");
    tamper(&url, scope, 1).await;
    let (code, out) = audit_verify(&url).await;
    assert_eq!(code, 1, "{version}: a tampered entry must break verification: {out}");
    assert!(out.contains(&format!("scope {scope}, seq 1")), "{out}");
}

// ---- The generator -----------------------------------------------------------------

/// Today as a GMT+7 business day, and the day before.
fn business_days() -> (String, String) {
    let d = time::OffsetDateTime::now_utc().to_offset(time::macros::offset!(+7)).date();
    let f = time::macros::format_description!("[year]-[month]-[day]");
    (d.format(f).expect("date"), d.previous_day().expect("yesterday").format(f).expect("date"))
}

async fn post_json(app: &TestApp, path: &str, key: &str, body: &Value) -> (u16, Value) {
    let r = app.post(path, key).json(body).send().await.expect("send");
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn paid(app: &TestApp, body: &Value) -> (String, String) {
    let id = app.create_payment(body).await["id"].as_str().expect("id").to_owned();
    assert!(app.pay_sandbox(&id, "success").await.contains("status=succeeded"));
    let p = app.payment(&id).await;
    let attempts = p["attempts"].as_array().expect("attempts");
    let paid = attempts.iter().find(|a| a["status"] == "succeeded").expect("the paid attempt");
    (id, paid["reference"].as_str().expect("reference").to_owned())
}

async fn refund(app: &TestApp, id: &str, amount: &str) {
    let body = json!({"amount": amount, "reason": "Hồ sơ bị từ chối"});
    let (status, r) = post_json(app, &format!("/v1/payments/{id}/refunds"), &app.finance_key, &body).await;
    assert_eq!((status, r["status"].as_str()), (202, Some("succeeded")), "{r}");
}

/// Writes the fixture of this checkout's schema for the backend the suite runs on:
/// `scripts/make-upgrade-fixture` runs it on SQLite and on PostgreSQL. Everything goes
/// through the API (and the sandbox simulator), as a portal, a payer and finance would.
#[tokio::test]
#[ignore = "writes tests/fixtures/upgrade; run by scripts/make-upgrade-fixture"]
async fn make_upgrade_fixture() {
    let version = format!("v{:04}", latest_migration());
    let (db_file, expect_path) = (fixture_file(&version), expect_file(&version));
    if (db_file.exists() || expect_path.exists()) && std::env::var("FEEGATE_FIXTURE_OVERWRITE").is_err() {
        panic!("{} exists: a fixture is never rewritten once committed", db_file.display());
    }
    let app = TestApp::spawn().await;
    let (today, yesterday) = business_days();

    // One that expires (the shortest expiry there is), started first to expire meanwhile.
    let mut short = payment_body();
    short["expires_in_seconds"] = json!(60);
    short["description"] = json!("Hết hạn trước khi thanh toán");
    let expired = app.create_payment(&short).await["id"].as_str().expect("id").to_owned();
    // One whose payer reaches the gateway but pays only after it expired: a late
    // success, raised as a review case.
    short["description"] = json!("Thanh toán muộn sau khi hết hạn");
    let late = app.create_payment(&short).await["id"].as_str().expect("id").to_owned();
    let late_gateway = app.choose(&late, "sandbox").await;
    assert_eq!(app.client.get(&late_gateway).send().await.expect("pay page").status(), 200);
    let since = std::time::Instant::now();

    // Paid; paid and partly refunded; paid and fully refunded; declined then paid; a
    // fee and a charge to two accounts, paid; cancelled.
    let (_, ref_paid) = paid(&app, &payment_body()).await;
    let (partial, ref_partial) = paid(&app, &payment_body()).await;
    refund(&app, &partial, "35000").await;
    let (full, ref_full) = paid(&app, &payment_body()).await;
    refund(&app, &full, "135000").await;
    let retried = app.create_payment(&payment_body()).await["id"].as_str().expect("id").to_owned();
    assert!(app.pay_sandbox(&retried, "failure").await.contains("status="));
    assert!(app.pay_sandbox(&retried, "success").await.contains("status=succeeded"));
    let mut two = payment_body();
    two["lines"] = json!([
        {"kind": "fee", "code": "P-THAMDINH", "description": "Phí thẩm định hồ sơ", "amount": "50000"},
        {"kind": "charge", "code": "LP-GPLX", "description": "Lệ phí cấp đổi GPLX", "amount": "135000"}
    ]);
    two["metadata"] = json!({"ma_ho_so_goc": "000.00.12.H12-261127-0001", "kenh": "web"});
    let (_, ref_two) = paid(&app, &two).await;
    let cancelled = app.create_payment(&payment_body()).await["id"].as_str().expect("id").to_owned();
    let (status, v) = post_json(&app, &format!("/v1/payments/{cancelled}/cancel"), &app.portal_key, &json!({})).await;
    assert_eq!((status, v["status"].as_str()), (200, Some("cancelled")), "{v}");

    // Today's settlement file with planted discrepancies: one amount wrong, one payment
    // missing, one row feegate never saw -> three open cases; one is resolved.
    let url = format!("{}/sim/sandbox/_control/settlement?date={today}", app.url);
    let file = app.client.get(url).send().await.expect("file").text().await.expect("text");
    for r in [&ref_paid, &ref_partial, &ref_full, &ref_two] {
        assert!(file.lines().any(|l| l.starts_with(&format!("{r},"))), "{r} in the file:\n{file}");
    }
    let mut planted: Vec<String> = file
        .lines()
        .filter(|l| !l.starts_with(&format!("{ref_full},")))
        .map(|l| if l.starts_with(&format!("{ref_partial},")) { l.replace(",135000,", ",153000,") } else { l.into() })
        .collect();
    let line = planted.iter().find(|l| l.starts_with(&format!("{ref_two},"))).expect("line").clone();
    planted.push(line.replacen(&ref_two, "FGUNKNOWN000", 1));
    let content = planted.join("\n") + "\n";
    let body = json!({"source": "sandbox", "date": today, "content": content});
    let (status, run) = post_json(&app, "/v1/reconciliation/runs", &app.finance_key, &body).await;
    assert_eq!(status, 201, "{run}");
    let open = get_ok(&app, "/v1/cases?status=open", &app.finance_key).await;
    let open = open.as_array().expect("cases");
    assert_eq!(open.len(), 3, "{open:?}");
    let mismatch = open.iter().find(|c| c["outcome"] == "amount_mismatch").expect("the amount case");
    let note = json!({"code": "gateway_error", "note": "Cổng xác nhận nhầm số tiền, đã điều chỉnh"});
    let path = format!("/v1/cases/{}/resolve", mismatch["id"].as_str().expect("id"));
    assert_eq!(post_json(&app, &path, &app.finance_key, &note).await.0, 200);

    // Yesterday's file (nothing was paid then) matches cleanly, and the day closes.
    let url = format!("{}/sim/sandbox/_control/settlement?date={yesterday}", app.url);
    let file = app.client.get(url).send().await.expect("file").text().await.expect("text");
    let body = json!({"source": "sandbox", "date": yesterday, "content": file});
    let (status, run) = post_json(&app, "/v1/reconciliation/runs", &app.finance_key, &body).await;
    assert_eq!(status, 201, "{run}");
    let path = format!("/v1/reconciliation/days/sandbox/{yesterday}/close");
    let (status, day) = post_json(&app, &path, &app.finance_key, &json!({})).await;
    assert_eq!((status, day["status"].as_str()), (200, Some("closed")), "{day}");

    // The short ones expire (the expiry worker runs every 200 ms in tests); then the
    // late payer approves on the gateway's page.
    let wait = std::time::Duration::from_secs(150);
    for id in [&expired, &late] {
        while app.payment(id).await["status"] != "expired" {
            assert!(since.elapsed() < wait, "{id} did not expire");
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    }
    let r = app.client.post(&late_gateway).form(&[("outcome", "success")]).send().await.expect("pay");
    assert_eq!(r.status(), 303);
    let r = app.client.get(location(&r)).send().await.expect("return");
    assert_eq!(r.status(), 303, "return: {}", r.text().await.unwrap_or_default());
    let p = app.payment(&late).await;
    assert_eq!((p["status"].as_str(), p["review"]["reason"].as_str()), (Some("expired"), Some("late_success")), "{p}");

    // Nothing left for a worker to do: every webhook event is settled (the demo portal has
    // no webhook URL: skipped) and every payment is final.
    loop {
        let pending = get_ok(&app, "/v1/events?status=pending&limit=200", &app.admin_key).await;
        if pending["data"].as_array().is_some_and(Vec::is_empty) {
            break;
        }
        assert!(since.elapsed() < wait, "events still pending: {pending}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let api = snapshot(&app).await;
    let statuses: Vec<&str> = api["payments"]
        .as_object()
        .expect("payments")
        .values()
        .map(|p| p["payment"]["status"].as_str().expect("status"))
        .collect();
    for s in ["succeeded", "partially_refunded", "refunded", "cancelled", "expired"] {
        assert!(statuses.contains(&s), "a {s} payment: {statuses:?}");
    }
    assert!(!statuses.iter().any(|s| ["created", "pending"].contains(s)), "{statuses:?}");
    let (db_url, base) = (app.db_url.clone(), app.url.clone());
    app.stop().await;

    let chains = audit_chains(&db_url).await;
    let audit: serde_json::Map<String, Value> =
        chains.into_iter().map(|(scope, (len, head))| (scope, json!({"length": len, "head": head}))).collect();
    let (code, out) = audit_verify(&db_url).await;
    assert_eq!(code, 0, "{out}");
    let expect = json!({
        "note": "Written by make_upgrade_fixture (scripts/make-upgrade-fixture) from the API answers of the \
                 feegate that wrote the database; the upgrade test expects them again.",
        "schema_version": latest_migration(),
        "backend": backend(),
        "written_at": business_days().0,
        "base": base,
        "api": api,
        "audit": audit,
    });

    std::fs::create_dir_all(fixture_dir()).expect("fixture dir");
    if on_postgres() {
        dump_postgres(&db_url, &db_file);
    } else {
        use sqlx::Connection;
        let _ = std::fs::remove_file(&db_file);
        let mut c = sqlx::SqliteConnection::connect(&db_url).await.expect("connect");
        sqlx::query(&format!("VACUUM INTO '{}'", db_file.display())).execute(&mut c).await.expect("vacuum into");
    }
    let text = serde_json::to_string_pretty(&expect).expect("json") + "\n";
    std::fs::write(&expect_path, text).expect("write the expected answers");
    eprintln!("wrote {} and {}", db_file.display(), expect_path.display());
}

/// A plain `pg_dump --no-owner --no-privileges` of the database, without the
/// `\restrict` lines of newer pg_dump versions, which an older psql cannot read.
fn dump_postgres(db_url: &str, out: &Path) {
    let dump = std::process::Command::new("pg_dump")
        .args(["--no-owner", "--no-privileges", "--dbname", db_url])
        .output()
        .expect("pg_dump (postgresql-client) must be installed");
    assert!(dump.status.success(), "pg_dump: {}", String::from_utf8_lossy(&dump.stderr));
    let text = String::from_utf8(dump.stdout).expect("utf-8 dump");
    let kept: Vec<&str> =
        text.lines().filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict")).collect();
    std::fs::write(out, kept.join("\n") + "\n").expect("write the dump");
}
