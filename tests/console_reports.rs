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
