//! Reports: on a day of multi-line payments split across an agency's two accounts and a
//! refund, the settlement report ties out per account (paid - refunded = expected =
//! settled) and shows a planted difference with its case; the monthly summary groups by
//! agency, fee kind, procedure and gateway; CSV opens in a spreadsheet with Vietnamese
//! intact; `feegate reconcile import|report` do the same from a terminal.

mod common;
use common::*;
use serde_json::{json, Value};

fn today() -> time::Date {
    time::OffsetDateTime::now_utc().to_offset(time::macros::offset!(+7)).date()
}

fn day_str(d: time::Date) -> String {
    d.format(time::macros::format_description!("[year]-[month]-[day]")).unwrap()
}

fn month_str(d: time::Date) -> String {
    d.format(time::macros::format_description!("[year]-[month]")).unwrap()
}

/// A paid payment of `lines`: (payment id, its representation).
async fn paid(app: &TestApp, lines: Value) -> (String, Value) {
    let mut body = payment_body();
    body["lines"] = lines;
    let id = app.create_payment(&body).await["id"].as_str().unwrap().to_owned();
    assert!(app.pay_sandbox(&id, "success").await.contains("status=succeeded"));
    let p = app.payment(&id).await;
    (id, p)
}

fn two_lines() -> Value {
    json!([
        {"kind": "charge", "code": "LP-GPLX", "description": "Lệ phí cấp đổi GPLX", "amount": "135000"},
        {"kind": "fee", "code": "P-SH", "description": "Phí sát hạch", "amount": "50000"}
    ])
}

fn one_line() -> Value {
    json!([{"kind": "charge", "code": "LP-GPLX", "description": "Lệ phí cấp đổi GPLX", "amount": "135000"}])
}

async fn report(app: &TestApp, query: &str) -> Value {
    let r = app.get(&format!("/v1/reports/settlement?{query}"), &app.finance_key).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

fn account<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["accounts"].as_array().unwrap().iter().find(|a| a["account_id"] == id).unwrap_or_else(|| panic!("{report}"))
}

async fn cli(db_url: &str, args: &[&str]) -> (bool, Vec<u8>, String) {
    // Awaited, never blocking: the test's own server runs on this thread, and a child waiting
    // for SQLite's write lock (a one-shot command seeds the demo data) needs it to commit.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_feegate"))
        .args(args)
        .env("FEEGATE_DATABASE_URL", db_url)
        .env("FEEGATE_DEMO", "true")
        .env("RUST_LOG", "error")
        .output()
        .await
        .expect("run feegate");
    (out.status.success(), out.stdout, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test]
async fn the_settlement_report_ties_out_per_account_and_the_cli_prints_it() {
    let app = TestApp::spawn().await;
    let (a, pa) = paid(&app, two_lines()).await;
    paid(&app, two_lines()).await;
    let (_, pc) = paid(&app, one_line()).await;
    let treasury = pa["lines"][0]["account_id"].as_str().unwrap().to_owned();
    let bank = pa["lines"][1]["account_id"].as_str().unwrap().to_owned();
    assert_ne!(treasury, bank, "lệ phí and phí go to the agency's two accounts");
    let r = app
        .post(&format!("/v1/payments/{a}/refunds"), &app.finance_key)
        .json(&json!({"amount": "35000", "reason": "Hồ sơ bị từ chối"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "succeeded");
    let date = day_str(today());
    let file = sandbox_settlement(&app, &date).await;

    // The CLI imports the day's file: --format must be the source's, then the run's counts.
    let dir = std::env::temp_dir().join(format!("feegate-reports-{}-{}", std::process::id(), rand::random::<u32>()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sandbox.csv");
    std::fs::write(&path, &file).unwrap();
    let p = path.to_str().unwrap();
    let (ok, _, err) =
        cli(&app.db_url, &["reconcile", "import", "--source", "sandbox", "--format", "camt053", "--date", &date, p])
            .await;
    assert!(!ok && err.contains("format_mismatch") && err.contains("settlement"), "{err}");
    assert_eq!(app.count("recon_runs").await, 0);
    let (ok, out, err) =
        cli(&app.db_url, &["reconcile", "import", "--source", "sandbox", "--format", "settlement", "--date", &date, p])
            .await;
    let out = String::from_utf8(out).unwrap();
    assert!(ok, "{err}");
    assert!(out.starts_with("new run rcn_") && out.contains("4 lines") && out.contains("matched 4,"), "{out}");
    let (ok, out, _) = cli(&app.db_url, &["reconcile", "import", "--source", "sandbox", "--date", &date, p]).await;
    assert!(ok && String::from_utf8(out).unwrap().starts_with("this file was already reconciled"));

    // Per account: paid - refunded = expected = settled. The refund of 35000 of a 135000 +
    // 50000 payment is split 25541 / 9459 (in proportion, largest remainder).
    let rep = report(&app, &format!("date={date}")).await;
    assert_eq!(rep["gateways"], json!(["sandbox"]));
    let t = account(&rep, &treasury);
    assert_eq!(
        [&t["paid"], &t["refunded"], &t["expected"], &t["settled"], &t["settled_by_gateway"]["sandbox"]],
        [&json!("405000"), &json!("25541"), &json!("379459"), &json!("379459"), &json!("379459")]
    );
    assert_eq!((t["difference_settled"].as_str(), t["open_cases"].as_i64()), (Some("0"), Some(0)));
    assert_eq!((t["credited"].clone(), t["difference_credited"].clone()), (Value::Null, Value::Null));
    assert_eq!(t["agency_name"], "Sở Giao thông vận tải tỉnh Hà Nam");
    let b = account(&rep, &bank);
    assert_eq!(
        [&b["paid"], &b["refunded"], &b["expected"], &b["settled"], &b["difference_settled"]],
        [&json!("100000"), &json!("9459"), &json!("90541"), &json!("90541"), &json!("0")]
    );
    let total: i64 = rep["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["expected"].as_str().unwrap().parse::<i64>().unwrap())
        .sum();
    assert_eq!(total, 2 * 185_000 + 135_000 - 35_000, "every đồng paid less refunded, once");
    assert_eq!(rep["accounts"].as_array().unwrap().len(), 2, "only accounts with activity: {rep}");
    let h25 = report(&app, &format!("date={date}&agency_code=H12.25")).await;
    assert_eq!(h25["accounts"].as_array().unwrap().len(), 1, "an agency's every account: {h25}");
    assert_eq!(account(&h25, h25["accounts"][0]["account_id"].as_str().unwrap())["expected"], "0");

    // The gateway settled C short by 5000: the treasury account is 5000 short, with a case.
    let ref_c = pc["attempts"][0]["reference"].as_str().unwrap();
    let short: String = file
        .lines()
        .map(|l| if l.starts_with(&format!("{ref_c},")) { l.replace(",135000,", ",130000,") } else { l.to_owned() })
        .collect::<Vec<_>>()
        .join("\n");
    let r = app
        .post("/v1/reconciliation/runs", &app.finance_key)
        .json(&json!({"source": "sandbox", "date": date, "content": short}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let rep = report(&app, &format!("date={date}&agency_code=H12.20")).await;
    let t = account(&rep, &treasury);
    assert_eq!((t["settled"].as_str(), t["difference_settled"].as_str()), (Some("374459"), Some("-5000")));
    assert_eq!((t["open_cases"].as_i64(), account(&rep, &bank)["open_cases"].as_i64()), (Some(1), Some(0)));
    assert_eq!(account(&rep, &bank)["difference_settled"], "0");

    // CSV: BOM, CRLF, a header row, Vietnamese intact, amounts as plain integers.
    let r = app.get(&format!("/v1/reports/settlement?date={date}&format=csv"), &app.finance_key).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let bytes = r.bytes().await.unwrap();
    assert_eq!(&bytes[..3], b"\xEF\xBB\xBF");
    let text = std::str::from_utf8(&bytes[3..]).unwrap();
    let rows: Vec<&str> = text.split("\r\n").collect();
    assert!(rows[0].starts_with("date,agency_code,agency_name,account_id,"), "{text}");
    assert!(rows[0].contains(",settled_sandbox,"), "{text}");
    assert!(text.contains("Sở Giao thông vận tải tỉnh Hà Nam"));
    assert!(rows.iter().any(|r| r.contains(&treasury) && r.contains(",405000,25541,379459,374459,374459,,-5000,,1")));
    assert_eq!(rows.len(), 4, "header, two accounts, and the empty tail after the last CRLF: {text:?}");

    // The terminal report: aligned columns with the same numbers; or the same CSV.
    let (ok, out, err) = cli(&app.db_url, &["reconcile", "report", "--date", &date, "--agency", "H12.20"]).await;
    let out = String::from_utf8(out).unwrap();
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("date ") && lines[1].starts_with("----------"), "{out}");
    let row = lines.iter().find(|l| l.contains(&treasury)).unwrap();
    assert!(row.contains("Sở Giao thông vận tải tỉnh Hà Nam") && row.contains(" 379459 ") && row.contains(" -5000"));
    let header_end = lines[0].find("open_cases").unwrap() + "open_cases".len();
    assert_eq!(row.chars().count(), lines[0][..header_end].chars().count(), "columns line up:\n{out}");
    let (ok, out, _) = cli(&app.db_url, &["reconcile", "report", "--date", &date, "--csv"]).await;
    assert!(ok && out.starts_with(b"\xEF\xBB\xBFdate,"));
    let (ok, _, err) = cli(&app.db_url, &["reconcile", "report", "--date", "27/11/2026"]).await;
    assert!(!ok && err.contains("invalid_date"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
    app.stop().await;
}

#[tokio::test]
async fn the_monthly_summary_groups_by_agency_fee_kind_procedure_and_gateway() {
    let app = TestApp::spawn().await;
    let (a, _) = paid(&app, two_lines()).await;
    paid(&app, two_lines()).await;
    paid(&app, one_line()).await;
    let mut other = payment_body();
    other["agency_code"] = json!("H12.25");
    other["procedure_code"] = json!("2.000001");
    other["lines"] = json!([{"kind": "fee", "code": "P-KB", "description": "Phí chứng thực", "amount": "20000"}]);
    let id = app.create_payment(&other).await["id"].as_str().unwrap().to_owned();
    assert!(app.pay_sandbox(&id, "success").await.contains("status=succeeded"));
    let r = app
        .post(&format!("/v1/payments/{a}/refunds"), &app.finance_key)
        .json(&json!({"amount": "35000", "reason": "Hồ sơ bị từ chối"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let month = month_str(today());

    let r = app.get(&format!("/v1/reports/monthly?month={month}"), &app.finance_key).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let rep: Value = r.json().await.unwrap();
    let rows: Vec<(String, String, String, String, i64, String, String)> = rep["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["agency_code"].as_str().unwrap().to_owned(),
                r["kind_name"].as_str().unwrap().to_owned(),
                r["procedure_code"].as_str().unwrap().to_owned(),
                r["gateway"].as_str().unwrap().to_owned(),
                r["count"].as_i64().unwrap(),
                r["amount"].as_str().unwrap().to_owned(),
                r["refunded"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let row = |a: &str, k: &str, p: &str, n: i64, amount: &str, refunded: &str| {
        (a.to_owned(), k.to_owned(), p.to_owned(), "sandbox".to_owned(), n, amount.to_owned(), refunded.to_owned())
    };
    assert_eq!(
        rows,
        vec![
            row("H12.20", "Lệ phí", "1.004227", 3, "405000", "25541"),
            row("H12.20", "Phí", "1.004227", 2, "100000", "9459"),
            row("H12.25", "Phí", "2.000001", 1, "20000", "0"),
        ]
    );
    let totals = rep["totals"].as_array().unwrap();
    assert_eq!(totals.len(), 3);
    assert_eq!(
        (totals[0]["kind"].as_str(), totals[0]["agency_name"].as_str()),
        (Some("charge"), Some("Sở Giao thông vận tải tỉnh Hà Nam"))
    );

    let only: Value = app
        .get(&format!("/v1/reports/monthly?month={month}&agency_code=H12.25"), &app.finance_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(only["rows"].as_array().unwrap().len(), 1);
    let r = app.get(&format!("/v1/reports/monthly?month={month}&format=csv"), &app.admin_key).send().await.unwrap();
    let bytes = r.bytes().await.unwrap();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    assert!(text.starts_with(
        "\u{feff}month,agency_code,agency_name,kind,kind_name,procedure_code,gateway,count,amount,refunded\r\n"
    ));
    assert!(
        text.contains(&format!(
            "{month},H12.20,Sở Giao thông vận tải tỉnh Hà Nam,charge,Lệ phí,1.004227,sandbox,3,405000,25541\r\n"
        )),
        "{text}"
    );
    let (ok, out, err) = cli(&app.db_url, &["reconcile", "report", "--month", &month]).await;
    let out = String::from_utf8(out).unwrap();
    assert!(ok, "{err}");
    assert!(out.contains("Ủy ban nhân dân huyện Kim Bảng") && out.contains("Lệ phí"), "{out}");
    // A month before anything was paid is empty, not an error.
    let empty: Value =
        app.get("/v1/reports/monthly?month=2020-01", &app.finance_key).send().await.unwrap().json().await.unwrap();
    assert_eq!(empty["rows"], json!([]));
    app.stop().await;
}

#[tokio::test]
async fn reports_are_for_staff_and_refuse_bad_parameters() {
    let app = TestApp::spawn().await;
    for path in ["/v1/reports/settlement?date=2026-11-27", "/v1/reports/monthly?month=2026-11"] {
        assert_eq!(app.get(path, &app.portal_key).send().await.unwrap().status(), 403, "{path}");
    }
    for (path, code, field) in [
        ("/v1/reports/settlement", "missing_field", "date"),
        ("/v1/reports/settlement?date=2026-02-30", "invalid_date", "date"),
        ("/v1/reports/settlement?date=2026-11-27&format=xlsx", "invalid_format", "format"),
        ("/v1/reports/monthly", "missing_field", "month"),
        ("/v1/reports/monthly?month=2026-13", "invalid_month", "month"),
    ] {
        let (status, got, f) = error_code(app.get(path, &app.finance_key).send().await.unwrap()).await;
        assert_eq!((status, got.as_str(), f.as_deref()), (422, code, Some(field)), "{path}");
    }
    let doc: Value = app.client.get(format!("{}/openapi.json", app.url)).send().await.unwrap().json().await.unwrap();
    for path in [
        "/v1/reports/settlement",
        "/v1/reports/monthly",
        "/v1/cases",
        "/v1/cases/{id}/resolve",
        "/v1/reconciliation/days",
        "/v1/reconciliation/days/{source}/{date}/close",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing from /openapi.json");
    }
    app.stop().await;
}

/// A Vietcombank-like CSV statement of the fee account 0351000765432 (the demo source
/// `vcb-0351000765432`): signed amounts, a running balance.
fn vcb_csv(day: time::Date, rows: &[(i64, &str)]) -> String {
    let d = format!("{:02}/{:02}/{}", day.day(), u8::from(day.month()), day.year());
    let mut out = String::from(
        "NGÂN HÀNG TMCP NGOẠI THƯƠNG VIỆT NAM,,,,,,\nSAO KÊ TÀI KHOẢN / ACCOUNT STATEMENT,,,,,,\n\
         Số tài khoản: 0351000765432 - SO GIAO THONG VAN TAI TINH HA NAM,,,,,,\nLoại tiền: VND,,,,,,\n\
         STT,Ngày giao dịch,Số tham chiếu,Số tiền ghi nợ,Số tiền ghi có,Số dư,Nội dung chi tiết\n",
    );
    let mut balance = 10_000_000;
    for (n, (amount, content)) in rows.iter().enumerate() {
        balance += amount;
        let (debit, credit) =
            if *amount < 0 { ((-amount).to_string(), String::new()) } else { (String::new(), amount.to_string()) };
        out.push_str(&format!(
            "{},{d},5073IBT{:07},\"{debit}\",\"{credit}\",\"{balance}\",\"{content}\"\n",
            n + 1,
            n + 1
        ));
    }
    out
}

#[tokio::test]
async fn the_statement_shows_what_an_account_was_credited_and_its_unknown_credit_is_a_case() {
    let app = TestApp::spawn().await;
    let (_, p) = paid(&app, two_lines()).await;
    let bank = p["lines"][1]["account_id"].as_str().unwrap().to_owned();
    let day = today();
    let date = day_str(day);
    import_sandbox_settlement(&app, &date).await;
    // The gateway's batch of the day (the fee line, 50000) and a transfer nobody can place.
    let csv =
        vcb_csv(day, &[(50000, "SANDBOX TT GD NGAY FEEGATE SO GTVT HA NAM 1 GD"), (70000, "chuyen tien hoc phi con")]);
    let body = json!({"source": "vcb-0351000765432", "date": date, "content": csv});
    let r = app.post("/v1/reconciliation/runs", &app.finance_key).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());

    let rep = report(&app, &format!("date={date}&agency_code=H12.20")).await;
    let b = account(&rep, &bank);
    assert_eq!(
        (b["expected"].as_str(), b["settled"].as_str(), b["credited"].as_str(), b["difference_credited"].as_str()),
        (Some("50000"), Some("50000"), Some("120000"), Some("70000"))
    );
    assert_eq!(b["open_cases"], 1, "{rep}");
    let cases: Value =
        app.get("/v1/cases?kind=statement", &app.finance_key).send().await.unwrap().json().await.unwrap();
    let cases = cases.as_array().unwrap();
    assert_eq!(cases.len(), 1, "{cases:?}");
    assert_eq!(
        (cases[0]["source"].as_str(), cases[0]["outcome"].as_str()),
        (Some("vcb-0351000765432"), Some("missing_in_feegate"))
    );
    let close = format!("/v1/reconciliation/days/vcb-0351000765432/{date}/close");
    assert_eq!(app.post(&close, &app.finance_key).send().await.unwrap().status(), 409);
    let r = app
        .post(&format!("/v1/cases/{}/resolve", cases[0]["id"].as_str().unwrap()), &app.finance_key)
        .json(&json!({"code": "other", "note": "Học phí chuyển nhầm tài khoản; đã báo ngân hàng trả lại"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(app.post(&close, &app.finance_key).send().await.unwrap().status(), 200);
    let r = app.post("/v1/reconciliation/runs?rerun=true", &app.finance_key).json(&body).send().await.unwrap();
    assert_eq!(error_code(r).await.1, "day_closed");
    app.stop().await;
}

#[tokio::test]
async fn the_statement_expects_of_each_refund_the_share_the_report_gives_it() {
    let app = TestApp::spawn().await;
    let (a, p) = paid(&app, two_lines()).await;
    let bank = p["lines"][1]["account_id"].as_str().unwrap().to_owned();
    // Two refunds of 35000 of 135000 + 50000: each alone would take 9459 from the fee line,
    // 18918 in all; together they are 70000, of which the fee line's share is 18919.
    for _ in 0..2 {
        let r = app
            .post(&format!("/v1/payments/{a}/refunds"), &app.finance_key)
            .json(&json!({"amount": "35000", "reason": "Hồ sơ bị từ chối"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.json::<Value>().await.unwrap()["status"], "succeeded");
    }
    let day = today();
    let date = day_str(day);
    import_sandbox_settlement(&app, &date).await;
    // The gateway credits the fee account its pay less its refunds: the report's figure.
    let csv = vcb_csv(day, &[(31081, "SANDBOX TT GD NGAY FEEGATE SO GTVT HA NAM 1 GD")]);
    let body = json!({"source": "vcb-0351000765432", "date": date, "content": csv});
    let r = app.post("/v1/reconciliation/runs", &app.finance_key).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let run: Value = r.json().await.unwrap();
    assert_eq!(run["counts"]["matched"], 1, "the batch credit is the expected 31081: {run}");

    let rep = report(&app, &format!("date={date}&agency_code=H12.20")).await;
    let b = account(&rep, &bank);
    assert_eq!(
        [&b["paid"], &b["refunded"], &b["expected"], &b["settled"], &b["credited"], &b["difference_credited"]],
        [&json!("50000"), &json!("18919"), &json!("31081"), &json!("31081"), &json!("31081"), &json!("0")]
    );
    app.stop().await;
}

/// The sandbox's settlement file of `date`, as its simulator sends it.
async fn sandbox_settlement(app: &TestApp, date: &str) -> String {
    let url = format!("{}/sim/sandbox/_control/settlement?date={date}", app.url);
    app.client.get(url).send().await.unwrap().text().await.unwrap()
}

/// Imports the sandbox's settlement of `date` through the API (201: a run was written).
async fn import_sandbox_settlement(app: &TestApp, date: &str) {
    let file = sandbox_settlement(app, date).await;
    let r = app
        .post("/v1/reconciliation/runs", &app.finance_key)
        .json(&json!({"source": "sandbox", "date": date, "content": file}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}
