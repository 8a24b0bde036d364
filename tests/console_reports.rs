//! The console's reports page and spreadsheet uploads over HTTP (no browser), on SQLite and
//! PostgreSQL: the page's totals tie out with the API's reports; the XLSX download, read
//! back with calamine, has numbers as numbers and its Vietnamese intact; an agency-bound
//! user gets only their agencies' reports (another agency is 404, in the console and through
//! the service the API calls); an .xlsx settlement upload is previewed, writes nothing until
//! confirmed, then makes the run its CSV makes; a bad workbook is refused with the row and
//! column and writes nothing.

mod common;
use calamine::{Data, DataType};
use common::console::*;
use common::*;
use feegate::service::caller::{Principal, Role};
use serde_json::{json, Value};

fn month_of(day: &str) -> String {
    day[..7].to_owned()
}

async fn api(app: &TestApp, path: &str) -> Value {
    let r = app.get(path, &app.finance_key).send().await.expect("api");
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.expect("json")
}

fn vnd(v: i64) -> String {
    feegate::domain::money::format_vnd(v)
}

fn int(v: &Value) -> i64 {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{v}"))
}

/// Pays a two-line payment of `agency` (lệ phí 135.000 + phí 50.000).
async fn paid_two_lines(app: &TestApp, agency: &str) -> String {
    let mut body = payment_body();
    body["agency_code"] = agency.into();
    body["dossier_code"] = format!("{agency}-{}", &feegate::domain::ids::new_secret()[..8]).into();
    body["lines"] = json!([
        {"kind": "charge", "code": "LP-GPLX", "description": "Lệ phí cấp đổi GPLX", "amount": "135000"},
        {"kind": "fee", "code": "P-SH", "description": "Phí sát hạch", "amount": "50000"}
    ]);
    let id = app.create_payment(&body).await["id"].as_str().expect("id").to_owned();
    assert!(app.pay_sandbox(&id, "success").await.contains("status=succeeded"));
    id
}

#[tokio::test]
async fn the_reports_page_ties_out_with_the_apis_reports_and_draws_the_month() {
    let app = TestApp::spawn().await;
    for agency in ["H12.20", "H12.20", "H12.25"] {
        paid_two_lines(&app, agency).await;
    }
    let (day, month) = (gmt7_today(), month_of(&gmt7_today()));
    let day_api = api(&app, &format!("/v1/reports/settlement?date={day}")).await;
    let month_api = api(&app, &format!("/v1/reports/monthly?month={month}")).await;
    let paid: i64 = day_api["accounts"].as_array().unwrap().iter().map(|a| int(&a["paid"])).sum();
    let expected: i64 = day_api["accounts"].as_array().unwrap().iter().map(|a| int(&a["expected"])).sum();
    assert_eq!(paid, 3 * 185_000);
    let amount: i64 = month_api["totals"].as_array().unwrap().iter().map(|t| int(&t["amount"])).sum();
    assert_eq!(amount, 3 * 185_000);

    let s = session(&app, DEMO_RECON.0, DEMO_RECON.1).await;
    let nav = get(&app, &s.cookie, "/console").await.text().await.unwrap();
    assert!(nav.contains(r#"<a href="/console/reports""#), "the nav links the reports");
    let r = get(&app, &s.cookie, &format!("/console/reports?date={day}&month={month}")).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    let total_row = html.split(r#"<tr id="settlement-total">"#).nth(1).unwrap().split("</tr>").next().unwrap();
    assert!(total_row.contains(&vnd(paid)) && total_row.contains(&vnd(expected)), "{total_row}");
    let month_total = html.split(r#"<tr id="monthly-total">"#).nth(1).unwrap().split("</tr>").next().unwrap();
    assert!(month_total.contains(&vnd(amount)) && month_total.contains(">6<"), "{month_total}");
    assert!(html.contains("Sở Giao thông vận tải tỉnh Hà Nam") && html.contains("Ủy ban nhân dân huyện Kim Bảng"));
    // The chart: one group for the sandbox, a bar per fee kind, and the same figures as a table.
    let svg = html.split(r#"<svg id="chart""#).nth(1).unwrap().split("</svg>").next().unwrap();
    assert!(svg.contains(r#"role="img""#) && svg.contains("<title id=\"chart-title\">"), "{svg}");
    assert_eq!(svg.matches("<rect ").count(), 2, "{svg}");
    assert!(svg.contains(&format!("Phí {}", vnd(150_000))) && svg.contains(&format!("Lệ phí {}", vnd(405_000))));
    let data = html.split(r#"<table id="chart-data">"#).nth(1).unwrap().split("</table>").next().unwrap();
    assert!(
        data.contains("sandbox")
            && data.contains(&vnd(150_000))
            && data.contains(&vnd(405_000))
            && data.contains(&vnd(555_000))
    );
    // The console's CSV is the API's.
    let console_csv = get(&app, &s.cookie, &format!("/console/reports/monthly.csv?month={month}")).await;
    assert_eq!(console_csv.headers()["content-type"], "text/csv; charset=utf-8");
    let console_csv = console_csv.bytes().await.unwrap();
    let api_csv =
        app.get(&format!("/v1/reports/monthly?month={month}&format=csv"), &app.finance_key).send().await.unwrap();
    assert_eq!(console_csv, api_csv.bytes().await.unwrap());
    let day_csv =
        get(&app, &s.cookie, &format!("/console/reports/settlement.csv?date={day}")).await.bytes().await.unwrap();
    let api_day =
        app.get(&format!("/v1/reports/settlement?date={day}&format=csv"), &app.finance_key).send().await.unwrap();
    assert_eq!(day_csv, api_day.bytes().await.unwrap());
    // A download the page does not offer is not found.
    assert_eq!(get(&app, &s.cookie, "/console/reports/settlement.pdf").await.status(), 404);
    // A bad month is said on the page; the day's report still shows.
    let bad = get(&app, &s.cookie, &format!("/console/reports?date={day}&month=2026-13")).await.text().await.unwrap();
    assert!(bad.contains("month must be YYYY-MM") && bad.contains(r#"<tr id="settlement-total">"#), "{bad}");
    // A viewer reads reports too; without a session the page asks for a sign-in.
    create_staff(&app, "xem", Role::Viewer, &[], "viewer-password-1").await;
    let v = session(&app, "xem", "viewer-password-1").await;
    assert_eq!(get(&app, &v.cookie, "/console/reports").await.status(), 200);
    let anon = app.client.get(format!("{}/console/reports/monthly.xlsx?month={month}", app.url)).send().await.unwrap();
    assert_eq!(anon.status(), 303);
}

#[tokio::test]
async fn the_xlsx_download_has_money_as_numbers_a_totals_row_and_vietnamese_intact() {
    let app = TestApp::spawn().await;
    for agency in ["H12.20", "H12.25"] {
        paid_two_lines(&app, agency).await;
    }
    let (day, month) = (gmt7_today(), month_of(&gmt7_today()));
    let s = session(&app, DEMO_RECON.0, DEMO_RECON.1).await;
    let r = get(&app, &s.cookie, &format!("/console/reports/monthly.xlsx?month={month}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
    assert!(r.headers()["content-disposition"].to_str().unwrap().contains(&format!("monthly-{month}.xlsx")));
    let rows = sheet(&r.bytes().await.unwrap());
    let header: Vec<String> = rows[0].iter().map(|c| c.to_string()).collect();
    assert_eq!(&header[..4], ["Tháng", "Mã đơn vị", "Đơn vị", "Loại"], "{header:?}");
    let amount_col = header.iter().position(|h| h == "Số tiền").expect("an amount column");
    let count_col = header.iter().position(|h| h == "Số giao dịch").expect("a count column");
    let body = &rows[1..rows.len() - 1];
    assert_eq!(body.len(), 4, "two agencies × two kinds: {rows:?}");
    let names: Vec<String> = body.iter().map(|r| r[2].to_string()).collect();
    assert!(names.contains(&"Sở Giao thông vận tải tỉnh Hà Nam".to_owned()), "{names:?}");
    assert!(names.contains(&"Ủy ban nhân dân huyện Kim Bảng".to_owned()), "{names:?}");
    assert!(body.iter().any(|r| r[4] == Data::String("Lệ phí".into())));
    for r in body {
        assert!(matches!(r[amount_col], Data::Float(_)), "money is a number, not text: {:?}", r[amount_col]);
    }
    let sum: f64 = body.iter().map(|r| r[amount_col].as_f64().unwrap()).sum();
    assert_eq!(sum, 370_000.0);
    let totals = rows.last().unwrap();
    assert_eq!(totals[0], Data::String("Tổng cộng".into()));
    assert_eq!(totals[amount_col], Data::Float(370_000.0));
    assert_eq!(totals[count_col], Data::Float(4.0));
    // The day's report: a row per account, its money as numbers, in English on request.
    let r = get(&app, &s.cookie, &format!("/console/reports/settlement.xlsx?date={day}&lang=en")).await;
    let rows = sheet(&r.bytes().await.unwrap());
    let header: Vec<String> = rows[0].iter().map(|c| c.to_string()).collect();
    let paid_col = header.iter().position(|h| h == "Paid").expect("paid");
    let api_day = api(&app, &format!("/v1/reports/settlement?date={day}")).await;
    assert_eq!(rows.len(), api_day["accounts"].as_array().unwrap().len() + 2, "header, accounts, totals");
    assert_eq!(rows.last().unwrap()[0], Data::String("Total".into()));
    assert_eq!(rows.last().unwrap()[paid_col], Data::Float(370_000.0));
}

#[tokio::test]
async fn an_agency_bound_user_gets_only_their_agencys_reports_in_the_console_and_the_service() {
    let app = TestApp::spawn().await;
    for agency in ["H12.20", "H12.25"] {
        paid_two_lines(&app, agency).await;
    }
    let (day, month) = (gmt7_today(), month_of(&gmt7_today()));
    let k = session(&app, DEMO_FINANCE.0, DEMO_FINANCE.1).await;
    let html = get(&app, &k.cookie, &format!("/console/reports?date={day}&month={month}")).await.text().await.unwrap();
    assert!(html.contains("Sở Giao thông vận tải tỉnh Hà Nam"), "{html}");
    assert!(!html.contains("Kim Bảng") && !html.contains("H12.25"), "nothing of another agency: {html}");
    let total = html.split(r#"<tr id="monthly-total">"#).nth(1).unwrap().split("</tr>").next().unwrap();
    assert!(total.contains(&vnd(185_000)) && !total.contains(&vnd(370_000)), "{total}");
    // Another agency by URL: not found, as a missing one; the downloads too.
    for path in [
        format!("/console/reports?date={day}&agency=H12.25"),
        format!("/console/reports/settlement.csv?date={day}&agency=H12.25"),
        format!("/console/reports/monthly.xlsx?month={month}&agency=H12.25"),
    ] {
        let r = get(&app, &k.cookie, &path).await;
        assert_eq!(r.status(), 404, "{path}");
        assert!(!r.text().await.unwrap().contains("Kim Bảng"));
    }
    let rows = sheet(
        &get(&app, &k.cookie, &format!("/console/reports/monthly.xlsx?month={month}")).await.bytes().await.unwrap(),
    );
    assert!(rows[1..rows.len() - 1].iter().all(|r| r[1] == Data::String("H12.20".into())), "{rows:?}");
    assert_eq!(rows.last().unwrap()[8], Data::Float(185_000.0));
    let csv = get(&app, &k.cookie, &format!("/console/reports/settlement.csv?date={day}")).await.text().await.unwrap();
    assert!(csv.contains("H12.20") && !csv.contains("H12.25"), "{csv}");

    // The API calls the same service with the key's principal: a principal bound to H12.20
    // gets the same refusals and the same rows; an unscoped finance key keeps seeing all.
    let bound = Principal {
        key_id: "key_scoped".into(),
        role: Role::Finance,
        portal_id: None,
        name: "scoped".into(),
        agencies: Some(vec!["H12.20".into()]),
        staff: false,
    };
    let svc = feegate::service::reports::settlement(&app.state, &bound, &day, Some("H12.25")).await;
    assert_eq!(svc.unwrap_err().code.as_str(), "not_found");
    let svc = feegate::service::reports::monthly(&app.state, &bound, &month, Some("H12.25")).await;
    assert_eq!(svc.unwrap_err().code.as_str(), "not_found");
    let mine = feegate::service::reports::monthly(&app.state, &bound, &month, None).await.unwrap();
    assert!(mine.rows.iter().all(|r| r.agency_code == "H12.20") && !mine.rows.is_empty());
    let day_mine = feegate::service::reports::settlement(&app.state, &bound, &day, None).await.unwrap();
    assert!(day_mine.accounts.iter().all(|a| a.agency_code == "H12.20") && !day_mine.accounts.is_empty());
    let all = api(&app, &format!("/v1/reports/monthly?month={month}")).await;
    let agencies: std::collections::BTreeSet<&str> =
        all["rows"].as_array().unwrap().iter().map(|r| r["agency_code"].as_str().unwrap()).collect();
    assert_eq!(agencies.into_iter().collect::<Vec<_>>(), ["H12.20", "H12.25"]);
    let r = app.get(&format!("/v1/reports/monthly?month={month}"), &app.portal_key).send().await.unwrap();
    assert_eq!(r.status(), 403, "a portal key reads no reports");
}

async fn upload_xlsx(app: &TestApp, s: &Session, bytes: Vec<u8>) -> reqwest::Response {
    let part = reqwest::multipart::Part::bytes(bytes).file_name("quyet-toan.xlsx");
    upload_part(app, s, &s.csrf, "sandbox", part).await
}

async fn runs(app: &TestApp) -> Vec<Value> {
    api(app, "/v1/reconciliation/runs?source=sandbox").await.as_array().unwrap().clone()
}

#[tokio::test]
async fn an_xlsx_settlement_is_previewed_writes_nothing_until_confirmed_then_makes_the_csvs_run() {
    let app = TestApp::spawn().await;
    let planted = planted_settlement(&app).await;
    let s = session(&app, DEMO_RECON.0, DEMO_RECON.1).await;
    let r = upload_xlsx(&app, &s, settlement_xlsx(&planted.file, false)).await;
    assert_eq!(r.status(), 303, "a workbook is always previewed first");
    let preview = location(&r);
    assert!(preview.starts_with("/console/recon/preview/"), "{preview}");
    let html = get(&app, &s.cookie, &preview).await.text().await.unwrap();
    assert!(html.contains("<h1>Xem trước tệp đối soát</h1>") && html.contains("quyet-toan.xlsx"), "{html}");
    assert!(html.contains(r#"<dd id="preview-total">3</dd>"#), "three lines read: {html}");
    assert!(html.contains(&planted.wrong_amount) && html.contains(&vnd(153_000)) && html.contains(&planted.unknown));
    assert!(html.contains("+07:00"), "the date-time cells read as GMT+7: {html}");
    assert!(html.contains(r#"id="import""#) && !html.contains(r#"id="preview-error""#));
    assert!(runs(&app).await.is_empty(), "nothing is written by the preview");
    // Another session does not find it; without the CSRF token nothing is imported.
    let other = session(&app, DEMO_RECON.0, DEMO_RECON.1).await;
    assert_eq!(get(&app, &other.cookie, &preview).await.status(), 404);
    let r = post(&app, &other.cookie, &preview, &[("csrf", &other.csrf), ("action", "import")]).await;
    assert_eq!(r.status(), 404);
    let r = post(&app, &s.cookie, &preview, &[("csrf", ""), ("action", "import")]).await;
    assert_eq!(r.status(), 403);
    assert!(runs(&app).await.is_empty());
    // Confirmed: the run, with the outcomes the CSV gives.
    let r = post(&app, &s.cookie, &preview, &[("csrf", &s.csrf), ("action", "import")]).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    assert!(location(&r).starts_with("/console/recon/runs/"), "{}", location(&r));
    let all = runs(&app).await;
    assert_eq!(all.len(), 1);
    let counts = all[0]["counts"].clone();
    assert_eq!(
        (
            counts["matched"].as_i64(),
            counts["amount_mismatch"].as_i64(),
            counts["missing_in_file"].as_i64(),
            counts["missing_in_feegate"].as_i64()
        ),
        (Some(1), Some(1), Some(1), Some(1)),
        "{counts}"
    );
    // The CSV of the same lines makes a run with the same outcomes (a new version: another file).
    let csv = upload(&app, &s, &s.csrf, "sandbox", &planted.file).await;
    assert!(location(&csv).ends_with("?done=new"), "{}", location(&csv));
    let all = runs(&app).await;
    assert_eq!(all.len(), 2);
    assert_eq!(all.iter().map(|r| r["counts"].clone()).collect::<Vec<_>>(), [counts.clone(), counts.clone()]);
    // The same workbook again is the run it made.
    let again = upload_xlsx(&app, &s, settlement_xlsx(&planted.file, false)).await;
    let again = location(&again);
    let r = post(&app, &s.cookie, &again, &[("csrf", &s.csrf), ("action", "import")]).await;
    assert!(location(&r).ends_with("?done=same"), "{}", location(&r));
    // The preview is gone once imported.
    assert_eq!(get(&app, &s.cookie, &preview).await.status(), 404);
    // The API takes the workbook too (multipart), as a re-run: same outcomes.
    let part = reqwest::multipart::Part::bytes(settlement_xlsx(&planted.file, false)).file_name("q.xlsx");
    let form = reqwest::multipart::Form::new().text("source", "sandbox").text("date", gmt7_today()).part("file", part);
    let r = app.post("/v1/reconciliation/runs?rerun=true", &app.finance_key).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["counts"], counts);
    // The run page gives the reason in Vietnamese, the service's sentence beside it.
    let page =
        get(&app, &s.cookie, &format!("{}?outcome=amount_mismatch", location(&csv).split('?').next().unwrap())).await;
    let page = page.text().await.unwrap();
    assert!(
        page.contains(&format!(
            "Số tiền thanh toán: trong tệp {}, trong hệ thống {} (chênh lệch {})",
            vnd(153_000),
            vnd(135_000),
            vnd(18_000)
        )),
        "{page}"
    );
    assert!(page.contains("amount 153000 in file, 135000 in feegate"));
}

#[tokio::test]
async fn a_bad_workbook_is_refused_naming_the_row_and_column_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let planted = planted_settlement(&app).await;
    let s = session(&app, DEMO_RECON.0, DEMO_RECON.1).await;
    let r = upload_xlsx(&app, &s, settlement_xlsx(&planted.file, true)).await;
    assert_eq!(r.status(), 303);
    let preview = location(&r);
    let html = get(&app, &s.cookie, &preview).await.text().await.unwrap();
    assert!(html.contains(r#"id="preview-error""#), "{html}");
    assert!(
        html.contains("the spreadsheet cannot be read: row 2: column D: ")
            && html.contains(".5 is not a whole number of đồng"),
        "{html}"
    );
    assert!(!html.contains(r#"id="import""#), "no import button for a file that cannot be read");
    // Posting the import anyway: refused with the same reason, nothing written.
    let r = post(&app, &s.cookie, &preview, &[("csrf", &s.csrf), ("action", "import")]).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("is not a whole number of đồng"));
    // A damaged workbook: said so.
    let r = upload_xlsx(&app, &s, b"PK\x03\x04 not really a zip".to_vec()).await;
    let html = get(&app, &s.cookie, &location(&r)).await.text().await.unwrap();
    assert!(html.contains("the spreadsheet cannot be read: the file is not a workbook that can be read"), "{html}");
    // The API refuses it alike.
    let part = reqwest::multipart::Part::bytes(settlement_xlsx(&planted.file, true)).file_name("q.xlsx");
    let form = reqwest::multipart::Form::new().text("source", "sandbox").text("date", gmt7_today()).part("file", part);
    let r = app.post("/v1/reconciliation/runs", &app.finance_key).multipart(form).send().await.unwrap();
    let (status, code, _) = error_code(r).await;
    assert_eq!((status, code.as_str()), (422, "invalid_settlement_file"));
    // A workbook for a camt.053 source: refused, it takes no spreadsheet.
    let camt = feegate::service::recon::sources(&app.state).into_iter().find(|(_, _, f)| f == "camt053");
    if let Some((id, _, _)) = camt {
        let part = reqwest::multipart::Part::bytes(settlement_xlsx(&planted.file, false)).file_name("q.xlsx");
        let form = reqwest::multipart::Form::new().text("source", id).part("file", part);
        let r = app.post("/v1/reconciliation/runs", &app.finance_key).multipart(form).send().await.unwrap();
        assert_eq!(error_code(r).await.1, "format_mismatch");
    }
    assert!(runs(&app).await.is_empty(), "nothing was written");
    assert_eq!(api(&app, "/v1/reconciliation/runs").await.as_array().unwrap().len(), 0);
}

// --- The receipt register (`/console/receipts`, issue 11): series with the gap check, a
// series' month, and the monthly register as CSV and XLSX.

/// The receipts of a payment as the API lists them.
async fn api_receipts(app: &TestApp, payment_id: &str) -> Vec<Value> {
    api(app, &format!("/v1/payments/{payment_id}/receipts")).await.as_array().unwrap().clone()
}

/// Refunds `amount` of a payment through the API (the sandbox pays it out at once).
async fn refund(app: &TestApp, payment_id: &str, amount: &str) {
    let r = app
        .post(&format!("/v1/payments/{payment_id}/refunds"), &app.finance_key)
        .json(&json!({"amount": amount, "reason": "Hồ sơ bị từ chối một phần"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
}

/// The table row with this id in a page (its opening tag's attributes after the id, and
/// its cells).
fn row_of<'a>(html: &'a str, id: &str) -> &'a str {
    html.split(&format!(r#"<tr id="{id}""#))
        .nth(1)
        .unwrap_or_else(|| panic!("no row {id}: {html}"))
        .split("</tr>")
        .next()
        .unwrap()
}

fn series_row_id(agency: &str, series: &str) -> String {
    format!("series-{agency}-01BLP0-001-{series}-{}", &gmt7_today()[..4])
}

/// The register's CSV as rows (byte order mark dropped).
fn csv_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let text = text.strip_prefix('\u{feff}').expect("a byte order mark, for a spreadsheet to read UTF-8");
    let mut r = csv::ReaderBuilder::new().has_headers(false).from_reader(text.as_bytes());
    r.records().map(|rec| rec.unwrap().iter().map(str::to_owned).collect()).collect()
}

/// Three payments of H12.20 (numbers 1, 2, 3 of GT-26E) and one of H12.25 (KB-26E 1);
/// the first refunded in part (its adjustment is GT-26E 4), then in full (its receipt is
/// cancelled). The payments' ids, H12.20's first.
async fn receipts_issued(app: &TestApp) -> Vec<String> {
    let mut ids = Vec::new();
    for agency in ["H12.20", "H12.20", "H12.20", "H12.25"] {
        ids.push(paid_two_lines(app, agency).await);
    }
    refund(app, &ids[0], "35000").await;
    refund(app, &ids[0], "150000").await;
    ids
}

#[tokio::test]
async fn the_receipt_register_ties_out_with_the_api_and_reports_a_gap_made_in_the_database() {
    let app = TestApp::spawn().await;
    let ids = receipts_issued(&app).await;
    let month = month_of(&gmt7_today());
    // What the API says each payment has.
    let mut by_series: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
    for id in &ids {
        for r in api_receipts(&app, id).await {
            by_series.entry(r["series"].as_str().unwrap().to_owned()).or_default().push(r);
        }
    }
    let gt = &by_series["GT-26E"];
    let mut numbers: Vec<i64> = gt.iter().map(|r| r["number"].as_i64().unwrap()).collect();
    numbers.sort();
    assert_eq!(numbers, [1, 2, 3, 4], "{gt:?}");
    assert_eq!(by_series["KB-26E"].len(), 1);

    let s = session(&app, DEMO_RECON.0, DEMO_RECON.1).await;
    let nav = get(&app, &s.cookie, "/console").await.text().await.unwrap();
    assert!(nav.contains(r#"<a href="/console/receipts""#), "the nav links the register");
    let html = get(&app, &s.cookie, "/console/receipts").await.text().await.unwrap();
    let row = row_of(&html, &series_row_id("H12.20", "GT-26E"));
    assert!(row.starts_with(r#" class="whole">"#), "{row}");
    // Count, first, last, counter; the amounts (the adjustment is minus 35.000); one
    // cancelled (185.000), one adjustment; the check says the numbers are whole.
    let cells: Vec<&str> =
        row.split(r#"<td class="num">"#).skip(1).map(|c| c.split(['<']).next().unwrap_or_default()).collect();
    assert_eq!(&cells[..5], [&gmt7_today()[..4], "4", "1", "4", "4"], "{row}");
    assert_eq!(cells[5], vnd(3 * 185_000 - 35_000), "{row}");
    assert_eq!((cells[6], cells[7]), ("1", "1"), "{row}");
    assert!(row.contains(&vnd(185_000)) && row.contains("✓ Liên tục, không trùng"), "{row}");
    let kb = row_of(&html, &series_row_id("H12.25", "KB-26E"));
    assert!(kb.starts_with(r#" class="whole">"#) && kb.contains("Ủy ban nhân dân huyện Kim Bảng"), "{kb}");
    assert!(html.contains(r#"<p id="problems" class="ok-count">"#) && html.contains("<strong>0</strong>"));

    // The series' month: every receipt the API lists, linked to its payment and its page.
    let list = get(&app, &s.cookie, &format!("/console/receipts?agency=H12.20&series=GT-26E&month={month}")).await;
    assert_eq!(list.status(), 200);
    let list = list.text().await.unwrap();
    for r in gt {
        let n = r["number"].as_i64().unwrap();
        let row = row_of(&list, &format!("receipt-{n}"));
        let token = r["url"].as_str().unwrap().rsplit('/').next().unwrap();
        let payment = ids.iter().find(|id| row.contains(&format!("&#x2f;console&#x2f;payments&#x2f;{id}")));
        assert!(payment.is_some(), "the payment's console page: {row}");
        assert!(row.contains(&format!(r#"href="&#x2f;receipts&#x2f;{token}""#)), "the public page: {row}");
        assert!(row.contains("Nguyễn Ngọc Lâm") && row.contains("H12.20-"), "payer and dossier: {row}");
    }
    let first = row_of(&list, "receipt-1");
    assert!(first.contains("Đã hủy") && first.contains("hoàn trả toàn bộ"), "cancelled with its reason: {first}");
    let adjustment = row_of(&list, "receipt-4");
    assert!(adjustment.contains("Biên lai điều chỉnh") && adjustment.contains(&vnd(-35_000)), "{adjustment}");
    assert!(adjustment.contains("01BLP0-001&#x2f;GT-26E&#x2f;"), "it names the receipt it adjusts: {adjustment}");
    assert!(!list.contains("receipt-5") && !list.contains("KB-26E&#x2f;"), "one series only");
    // The register's CSV holds every receipt the API lists, and their total.
    let csv = get(&app, &s.cookie, &format!("/console/receipts/register.csv?month={month}")).await;
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let rows = csv_rows(&csv.bytes().await.unwrap());
    let api_total: i64 = by_series.values().flatten().map(|r| r["amount"].as_i64().unwrap()).sum();
    assert_eq!(rows.len(), 1 + 5 + 1, "header, five receipts, totals: {rows:?}");
    assert_eq!(rows[0][5], "Số");
    let last = rows.last().unwrap();
    assert_eq!(
        (last[0].as_str(), last[5].as_str(), last[16].as_str()),
        ("Tổng cộng", "5", api_total.to_string().as_str())
    );

    // A gap made on purpose: receipt 2 deleted. Its series is a problem naming number 2.
    sqlx::query("DELETE FROM receipts WHERE agency_code = 'H12.20' AND number = 2").execute(&app.db).await.unwrap();
    let html = get(&app, &s.cookie, "/console/receipts").await.text().await.unwrap();
    let row = row_of(&html, &series_row_id("H12.20", "GT-26E"));
    assert!(row.starts_with(r#" class="problem">"#), "{row}");
    assert!(row.contains(r#"Thiếu số (1):</strong> <span class="missing mono">2</span>"#), "{row}");
    assert!(!row.contains("Bộ đếm không khớp"), "the counter still matches the highest number: {row}");
    assert!(html.contains(r#"<p id="problems" class="bad-count">"#), "{html}");
    assert!(row_of(&html, &series_row_id("H12.25", "KB-26E")).starts_with(r#" class="whole">"#));
    // The highest number deleted too: the counter (4) is past the receipts (3).
    sqlx::query("DELETE FROM receipts WHERE agency_code = 'H12.20' AND number = 4").execute(&app.db).await.unwrap();
    let html = get(&app, &s.cookie, "/console/receipts").await.text().await.unwrap();
    let row = row_of(&html, &series_row_id("H12.20", "GT-26E"));
    assert!(row.contains(r#"Thiếu số (2):</strong> <span class="missing mono">2, 4</span>"#), "{row}");
    assert!(row.contains("Bộ đếm không khớp số lớn nhất đã cấp (Bộ đếm 4, Số cuối 3)"), "{row}");
    // A number twice: the unique constraint dropped (the table copied without it), then
    // receipt 3 copied under another id. The check is SQL over the rows, not the constraint.
    // One connection: SQLite's other connections may hold the schema from before the drop.
    let mut conn = app.db.acquire().await.unwrap();
    for sql in [
        // The provider jobs' table refers to receipts (and PostgreSQL will not drop a table
        // another refers to); this test has no use for it after here.
        "DROP TABLE receipt_jobs",
        "CREATE TABLE receipts_loose AS SELECT * FROM receipts",
        "DROP TABLE receipts",
        "ALTER TABLE receipts_loose RENAME TO receipts",
        "INSERT INTO receipts (id, token, payment_id, agency_code, template, series, year, number, kind, refers_to, \
         amount, content, signature, key_id, verification_code, status, issued_at, cancelled_at, cancel_reason) \
         SELECT 'rcp_copy', 'copytoken', payment_id, agency_code, template, series, year, number, kind, refers_to, \
         amount, content, signature, key_id, verification_code, status, issued_at, cancelled_at, cancel_reason \
         FROM receipts WHERE agency_code = 'H12.20' AND number = 3",
    ] {
        sqlx::query(sql).execute(&mut *conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    drop(conn);
    let html = get(&app, &s.cookie, "/console/receipts").await.text().await.unwrap();
    let row = row_of(&html, &series_row_id("H12.20", "GT-26E"));
    assert!(row.contains(r#"Trùng số:</strong> <span class="duplicates mono">3 (×2)</span>"#), "{row}");
    // A counter far past the receipts: 118 numbers missing (2 and 4..=120), the first 50 listed.
    sqlx::query("UPDATE receipt_counters SET last_number = 120 WHERE series = 'GT-26E'")
        .execute(&app.db)
        .await
        .unwrap();
    let html = get(&app, &s.cookie, "/console/receipts").await.text().await.unwrap();
    let row = row_of(&html, &series_row_id("H12.20", "GT-26E"));
    let listed: Vec<String> = std::iter::once(2).chain(4..=52).map(|n: i64| n.to_string()).collect();
    let want = format!(
        r#"Thiếu số (118):</strong> <span class="missing mono">{}</span> và còn 68 số khác"#,
        listed.join(", ")
    );
    assert!(row.contains(&want), "{row}");
    // A series without its agency: the page says to choose one.
    let html = get(&app, &s.cookie, "/console/receipts?series=GT-26E").await.text().await.unwrap();
    assert!(html.contains("Chọn một cơ quan để xem biên lai của một ký hiệu.") && !html.contains(r#"id="receipts""#));
    // Another year has no series.
    let html = get(&app, &s.cookie, "/console/receipts?year=2001").await.text().await.unwrap();
    assert!(html.contains(r#"id="no-series""#) && !html.contains("GT-26E"), "{html}");
    // A bad year or month is said on the page.
    let bad = get(&app, &s.cookie, "/console/receipts?year=20x6&agency=H12.20&series=GT-26E&month=2026-13").await;
    assert_eq!(bad.status(), 200);
    let bad = bad.text().await.unwrap();
    assert!(bad.contains("year must be a year such as 2026") && bad.contains("month must be YYYY-MM"), "{bad}");
    app.stop().await;
}

#[tokio::test]
async fn the_monthly_receipt_register_xlsx_has_numbers_as_numbers_a_totals_row_and_vietnamese_intact() {
    let app = TestApp::spawn().await;
    receipts_issued(&app).await;
    let month = month_of(&gmt7_today());
    let s = session(&app, DEMO_RECON.0, DEMO_RECON.1).await;
    let r = get(&app, &s.cookie, &format!("/console/receipts/register.xlsx?month={month}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
    assert!(r.headers()["content-disposition"].to_str().unwrap().contains(&format!("receipts-{month}.xlsx")));
    let rows = sheet(&r.bytes().await.unwrap());
    let header: Vec<String> = rows[0].iter().map(|c| c.to_string()).collect();
    let col = |t: &str| header.iter().position(|h| h == t).unwrap_or_else(|| panic!("{t} in {header:?}"));
    let (number, amount, name, kind, status) =
        (col("Số"), col("Số tiền"), col("Đơn vị"), col("Loại"), col("Trạng thái"));
    let payer = col("Người nộp");
    let body = &rows[1..rows.len() - 1];
    assert_eq!(body.len(), 5, "{rows:?}");
    for r in body {
        assert!(matches!(r[amount], Data::Float(_)) && matches!(r[number], Data::Float(_)), "numbers: {r:?}");
        assert_eq!(r[payer], Data::String("Nguyễn Ngọc Lâm".into()));
    }
    assert!(body.iter().any(|r| r[name] == Data::String("Ủy ban nhân dân huyện Kim Bảng".into())));
    assert!(body
        .iter()
        .any(|r| r[kind] == Data::String("Biên lai điều chỉnh".into()) && r[amount] == Data::Float(-35_000.0)));
    assert_eq!(body.iter().filter(|r| r[status] == Data::String("Đã hủy".into())).count(), 1);
    let numbers: Vec<f64> = body
        .iter()
        .filter(|r| r[col("Ký hiệu")] == Data::String("GT-26E".into()))
        .map(|r| r[number].as_f64().unwrap())
        .collect();
    assert_eq!(numbers, [1.0, 2.0, 3.0, 4.0], "by number");
    let totals = rows.last().unwrap();
    assert_eq!(totals[0], Data::String("Tổng cộng".into()));
    assert_eq!(totals[amount], Data::Float(4.0 * 185_000.0 - 35_000.0));
    assert_eq!(totals[number], Data::Float(5.0), "the count of receipts");
    // In English on request; one agency on request.
    let r = get(&app, &s.cookie, &format!("/console/receipts/register.xlsx?month={month}&agency=H12.25&lang=en")).await;
    let rows = sheet(&r.bytes().await.unwrap());
    assert_eq!(rows[0][0], Data::String("Agency code".into()));
    assert_eq!(rows.len(), 3, "header, one receipt, totals: {rows:?}");
    assert_eq!(rows[2][0], Data::String("Total".into()));
    // A bad month: refused with its reason, no file.
    let r = get(&app, &s.cookie, "/console/receipts/register.csv?month=2026-13").await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("month must be YYYY-MM"));
    app.stop().await;
}

#[tokio::test]
async fn an_agency_bound_user_sees_only_their_agencys_receipt_series_and_register() {
    let app = TestApp::spawn().await;
    receipts_issued(&app).await;
    let month = month_of(&gmt7_today());
    let k = session(&app, DEMO_FINANCE.0, DEMO_FINANCE.1).await;
    let html = get(&app, &k.cookie, "/console/receipts").await.text().await.unwrap();
    assert!(html.contains(&format!(r#"<tr id="{}""#, series_row_id("H12.20", "GT-26E"))), "{html}");
    assert!(!html.contains("KB-26E") && !html.contains("H12.25") && !html.contains("Kim Bảng"), "{html}");
    for path in [
        "/console/receipts?agency=H12.25".to_owned(),
        format!("/console/receipts?agency=H12.25&series=KB-26E&month={month}"),
        format!("/console/receipts/register.csv?month={month}&agency=H12.25"),
        format!("/console/receipts/register.xlsx?month={month}&agency=H12.25"),
    ] {
        let r = get(&app, &k.cookie, &path).await;
        assert_eq!(r.status(), 404, "{path}");
        assert!(!r.text().await.unwrap().contains("Kim Bảng"));
    }
    let rows = csv_rows(
        &get(&app, &k.cookie, &format!("/console/receipts/register.csv?month={month}")).await.bytes().await.unwrap(),
    );
    assert_eq!(rows.len(), 1 + 4 + 1, "H12.20's four receipts: {rows:?}");
    assert!(rows[1..5].iter().all(|r| r[0] == "H12.20"), "{rows:?}");
    let xlsx = sheet(
        &get(&app, &k.cookie, &format!("/console/receipts/register.xlsx?month={month}")).await.bytes().await.unwrap(),
    );
    assert!(xlsx[1..xlsx.len() - 1].iter().all(|r| r[0] == Data::String("H12.20".into())), "{xlsx:?}");
    assert_eq!(xlsx.len(), 6);
    // The service the page calls refuses the same for a principal bound to H12.20.
    let bound = Principal {
        key_id: "key_scoped".into(),
        role: Role::Finance,
        portal_id: None,
        name: "scoped".into(),
        agencies: Some(vec!["H12.20".into()]),
        staff: false,
    };
    let svc = feegate::service::receipt_register::register(&app.state, &bound, &month, Some("H12.25")).await;
    assert_eq!(svc.unwrap_err().code.as_str(), "not_found");
    let mine = feegate::service::receipt_register::series(&app.state, &bound, None, None).await.unwrap();
    assert_eq!(mine.iter().map(|s| s.series.as_str()).collect::<Vec<_>>(), ["GT-26E"]);
    let portal = Principal { role: Role::Portal, agencies: None, ..bound };
    let svc = feegate::service::receipt_register::series(&app.state, &portal, None, None).await;
    assert_eq!(svc.unwrap_err().code.as_str(), "forbidden", "a portal reads no register");
    app.stop().await;
}

#[tokio::test]
async fn a_series_month_of_more_than_a_page_is_read_page_by_page_in_number_order() {
    let app = TestApp::spawn().await;
    let (id, _) = payment_of(&app, "H12.20").await;
    assert!(app.pay_sandbox(&id, "success").await.contains("status=succeeded"));
    // Receipts 2..=61 of the same series, copies of the first (the page reads rows as they are).
    for n in 2..=61_i64 {
        sqlx::query(
            "INSERT INTO receipts (id, token, payment_id, agency_code, template, series, year, number, kind, \
             refers_to, amount, content, signature, key_id, verification_code, status, issued_at, cancelled_at, \
             cancel_reason) SELECT $1, $2, payment_id, agency_code, template, series, year, $3, kind, refers_to, \
             amount, content, signature, key_id, verification_code, status, issued_at, cancelled_at, cancel_reason \
             FROM receipts WHERE number = 1",
        )
        .bind(format!("rcp_copy{n}"))
        .bind(format!("copytoken{n}"))
        .bind(n)
        .execute(&app.db)
        .await
        .unwrap();
    }
    sqlx::query("UPDATE receipt_counters SET last_number = 61").execute(&app.db).await.unwrap();
    let month = month_of(&gmt7_today());
    let s = session(&app, DEMO_RECON.0, DEMO_RECON.1).await;
    let html = get(&app, &s.cookie, "/console/receipts").await.text().await.unwrap();
    assert!(row_of(&html, &series_row_id("H12.20", "GT-26E")).starts_with(r#" class="whole">"#));
    let page = get(&app, &s.cookie, &format!("/console/receipts?agency=H12.20&series=GT-26E&month={month}"))
        .await
        .text()
        .await
        .unwrap();
    let numbers = |html: &str| -> Vec<i64> {
        html.split(r#"<tr id="receipt-"#).skip(1).map(|r| r.split('"').next().unwrap().parse().unwrap()).collect()
    };
    assert_eq!(numbers(&page), (1..=50).collect::<Vec<_>>());
    assert!(!page.contains(r#"id="first-page""#));
    let next = page.split(r#"<a href=""#).find(|a| a.contains(r#"id="next-page""#)).expect("a next page link");
    let next = next.split('"').next().unwrap().replace("&#x2f;", "/").replace("&amp;", "&");
    assert!(next.contains("after=50&after_id=rcp_copy50"), "{next}");
    let page = get(&app, &s.cookie, &next).await.text().await.unwrap();
    assert_eq!(numbers(&page), (51..=61).collect::<Vec<_>>());
    assert!(page.contains(r#"id="first-page""#) && !page.contains(r#"id="next-page""#));
    // A page start that is not a number: said on the page.
    let bad = get(&app, &s.cookie, &format!("/console/receipts?agency=H12.20&series=GT-26E&month={month}&after=x"))
        .await
        .text()
        .await
        .unwrap();
    assert!(bad.contains("after must be a receipt number"), "{bad}");
    app.stop().await;
}
