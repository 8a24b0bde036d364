//! Agency bank statement runs: a day's VietQR transfers and a gateway's settlement batch
//! against the account's statement, every planted difference with its outcome and reason;
//! statements that do not add up refused; the same file twice one run; the public sample
//! statements import; a credit that proves a payment whose callback was lost corrects it
//! through the connector's query.

mod common;
use common::*;
use serde_json::{json, Value};

/// Today as a GMT+7 business day.
fn today() -> time::Date {
    time::OffsetDateTime::now_utc().to_offset(time::macros::offset!(+7)).date()
}

fn iso(d: time::Date) -> String {
    d.format(time::macros::format_description!("[year]-[month]-[day]")).unwrap()
}

/// A payment of H12.20 with one line of `kind`: fees go to the Vietcombank account
/// 0351000765432, charges to the VietinBank treasury account 113000012345.
async fn payment(app: &TestApp, kind: &str, amount: i64) -> String {
    let mut body = payment_body();
    body["lines"] =
        json!([{"kind": kind, "code": "P-01", "description": "Phí thẩm định", "amount": amount.to_string()}]);
    app.create_payment(&body).await["id"].as_str().unwrap().to_owned()
}

/// Pays `id` by VietQR as the payer's bank app would; gives the attempt reference.
async fn pay_vietqr(app: &TestApp, id: &str) -> String {
    app.choose(id, "vietqr").await;
    let attempt = app.payment(id).await["attempts"][0].clone();
    let (action,): (String,) = sqlx::query_as("SELECT action FROM attempts WHERE id = $1")
        .bind(attempt["id"].as_str().unwrap())
        .fetch_one(&app.db)
        .await
        .unwrap();
    let action: Value = serde_json::from_str(&action).unwrap();
    let payload: String =
        url::form_urlencoded::byte_serialize(action["payload"].as_str().unwrap().as_bytes()).collect();
    let bank_app = format!("{}/sim/vietqr/app?payload={payload}", app.url);
    assert_eq!(app.client.get(&bank_app).send().await.unwrap().status(), 200);
    let r = app.client.post(&bank_app).form(&[("outcome", "success")]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    attempt["reference"].as_str().unwrap().to_owned()
}

async fn import(app: &TestApp, query: &str, body: Value) -> (u16, Value) {
    let r = app.post(&format!("/v1/reconciliation/runs{query}"), &app.finance_key).json(&body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn items(app: &TestApp, run: &Value) -> Vec<Value> {
    let id = run["id"].as_str().unwrap_or_else(|| panic!("{run}"));
    let v: Value = app
        .get(&format!("/v1/reconciliation/runs/{id}/items"), &app.finance_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v.as_array().unwrap_or_else(|| panic!("{v}")).clone()
}

/// `1350000` as a Vietcombank export writes it: `1,350,000`.
fn grouped(n: i64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A Vietcombank-like CSV statement (the column map of the demo source
/// `vcb-0351000765432`): signed amounts (credit > 0), contents, a running balance.
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
            if *amount < 0 { (grouped(-amount), String::new()) } else { (String::new(), grouped(*amount)) };
        out.push_str(&format!(
            "{},{d},5073IBT{:07},\"{debit}\",\"{credit}\",\"{}\",\"{content}\"\n",
            n + 1,
            n + 1,
            grouped(balance)
        ));
    }
    out
}

/// The item of `reference` once the correction worker has written its result (at most 30 s).
async fn corrected(app: &TestApp, run: &Value, reference: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let all = items(app, run).await;
        let item = outcome_of(&all, reference).clone();
        let reason = item["reason"].as_str().unwrap().to_owned();
        if !reason.contains(feegate::store::recon::CORRECTION_PENDING) {
            return item;
        }
        assert!(std::time::Instant::now() < deadline, "the correction was never worked off: {item}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

fn outcome_of<'a>(items: &'a [Value], reference: &str) -> &'a Value {
    items.iter().find(|i| i["reference"] == reference).unwrap_or_else(|| panic!("{reference} in {items:#?}"))
}

#[tokio::test]
async fn a_days_statement_matches_transfers_and_a_settlement_batch_and_names_every_difference() {
    let app = TestApp::spawn().await;
    let day = today();
    // Direct VietQR transfers to the Vietcombank fee account.
    let p1 = payment(&app, "fee", 135000).await;
    let r1 = pay_vietqr(&app, &p1).await;
    let p2 = payment(&app, "fee", 200000).await;
    let r2 = pay_vietqr(&app, &p2).await;
    let p3 = payment(&app, "fee", 50000).await;
    let r3 = pay_vietqr(&app, &p3).await;
    let p4 = payment(&app, "fee", 153000).await;
    let r4 = pay_vietqr(&app, &p4).await;
    let p5 = payment(&app, "fee", 90000).await;
    let r5 = pay_vietqr(&app, &p5).await;
    for p in [&p1, &p2, &p3, &p4, &p5] {
        assert_eq!(app.payment(p).await["status"], "succeeded");
    }
    // Two card payments through the sandbox gateway, settled to the same account in one batch.
    let s1 = payment(&app, "fee", 300000).await;
    assert!(app.pay_sandbox(&s1, "success").await.contains("status=succeeded"));
    let s2 = payment(&app, "fee", 120000).await;
    assert!(app.pay_sandbox(&s2, "success").await.contains("status=succeeded"));
    let settlement = app
        .client
        .get(format!("{}/sim/sandbox/_control/settlement?date={}", app.url, iso(day)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (status, srun) = import(&app, "", json!({"source": "sandbox", "date": iso(day), "content": settlement})).await;
    assert_eq!((status, srun["counts"]["matched"].as_i64()), (201, Some(2)), "{srun}");

    // The bank rewrites contents: its own text around the reference, cut short, lower case,
    // a decomposed diacritic inside it.
    let cut = &r2[..10];
    let mangled = format!("{}\u{301}{}", &r3[..5].to_lowercase(), &r3[5..].to_lowercase());
    let csv = vcb_csv(
        day,
        &[
            (135000, &format!("MBVCB.8812345.{r1}.CT tu 0011004 NGUYEN VAN A toi 0351000765432")),
            (200000, &format!("IBFT {cut}")),
            (50000, &format!("Nộp phí hộ tịch {mangled} người nộp Lê Thị Hoa")),
            (135000, &format!("{r4} nop phi")),
            (70000, "chuyen tien hoc phi con"),
            (420000, "SANDBOX TT GD NGAY FEEGATE SO GTVT HA NAM 2 GD"),
            (-5500, "Phi quan ly tai khoan"),
        ],
    );
    let (status, run) = import(&app, "", json!({"source": "vcb-0351000765432", "content": csv})).await;
    assert_eq!(status, 201, "{run}");
    assert_eq!(
        (run["kind"].as_str(), run["date"].as_str(), run["lines"].as_i64()),
        (Some("statement"), Some(iso(day).as_str()), Some(7))
    );
    assert_eq!(
        run["counts"],
        json!({"matched": 4, "missing_in_file": 1, "missing_in_feegate": 1, "amount_mismatch": 1, "status_mismatch": 0, "duplicate": 0}),
        "{:#?}",
        items(&app, &run).await
    );
    let all = items(&app, &run).await;
    assert_eq!(all.len(), 7, "the bank's fee debit is no item: {all:#?}");
    for (r, p) in [(&r1, &p1), (&r2, &p2), (&r3, &p3)] {
        let i = outcome_of(&all, r);
        assert_eq!(
            (i["outcome"].as_str(), i["payment_id"].as_str(), i["kind"].as_str()),
            (Some("matched"), Some(p.as_str()), Some("credit"))
        );
    }
    assert_eq!(outcome_of(&all, &r1)["booking_date"], iso(day));
    let amount = outcome_of(&all, &r4);
    assert_eq!(
        (amount["outcome"].as_str(), amount["reason"].as_str()),
        (Some("amount_mismatch"), Some("amount 135000 on the statement, 153000 in feegate"))
    );
    let missing = outcome_of(&all, &r5);
    assert_eq!((missing["outcome"].as_str(), missing["line"].as_i64()), (Some("missing_in_file"), None));
    assert!(missing["reason"].as_str().unwrap().contains("not credited on the statement"), "{missing}");
    let unknown = all.iter().find(|i| i["outcome"] == "missing_in_feegate").unwrap();
    assert_eq!(unknown["content"], "chuyen tien hoc phi con");
    assert!(unknown["reason"].as_str().unwrap().contains("names no feegate reference"), "{unknown}");
    let batch = outcome_of(&all, &format!("sandbox@{}", iso(day)));
    assert_eq!(
        (batch["outcome"].as_str(), batch["batch_source"].as_str(), batch["amount_feegate"].as_str()),
        (Some("matched"), Some("sandbox"), Some("420000"))
    );

    // The same file again is the same run; a re-run is a new version beside it.
    let (status, again) = import(&app, "", json!({"source": "vcb-0351000765432", "content": csv})).await;
    assert_eq!((status, again["id"].as_str()), (200, run["id"].as_str()));
    let (status, v2) = import(&app, "?rerun=true", json!({"source": "vcb-0351000765432", "content": csv})).await;
    assert_eq!((status, v2["version"].as_i64(), v2["counts"]["matched"].as_i64()), (201, Some(2), Some(4)), "{v2}");
    assert_eq!(app.count("recon_runs").await, 3);
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit_log WHERE kind = 'reconciliation.run'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 3, "one audit entry per run");
    app.stop().await;
}

#[tokio::test]
async fn a_statement_that_does_not_add_up_is_refused_with_its_reason_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let fixture = |name: &str| std::fs::read(format!("tests/fixtures/statements/{name}")).unwrap();
    use base64::Engine;
    let b64 = |bytes: Vec<u8>| base64::engine::general_purpose::STANDARD.encode(bytes);
    for (source, file, code) in [
        ("vcb-0351000765432", "vcb_statement_unbalanced.csv", "statement_running_balance"),
        ("ctg-113000012345", "camt053_unbalanced.xml", "statement_unbalanced"),
        ("bidv-48010000123456", "mt940_unbalanced.txt", "statement_unbalanced"),
        ("ctg-113000012345", "mt940_vcb.txt", "statement_parse"),
    ] {
        let r = app
            .post("/v1/reconciliation/runs", &app.finance_key)
            .json(&json!({"source": source, "content_base64": b64(fixture(file))}))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap();
        assert_eq!((status, v["error"]["code"].as_str()), (422, Some(code)), "{file}: {v}");
        assert!(v["error"]["message"].as_str().unwrap().contains("line "), "the reason names the line: {v}");
    }
    // A balanced statement of another account is refused too.
    let r = app
        .post("/v1/reconciliation/runs", &app.finance_key)
        .json(&json!({"source": "bidv-48010000123456", "content_base64": b64(fixture("mt940_vcb.txt"))}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await, (422, "statement_wrong_account".into(), Some("content".into())));
    assert_eq!((app.count("recon_runs").await, app.count("recon_items").await), (0, 0));
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit_log WHERE kind = 'reconciliation.run'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 0);
    let r = app
        .post("/v1/reconciliation/runs", &app.portal_key)
        .json(&json!({"source": "vcb-0351000765432", "content": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "portals do not reconcile");
    app.stop().await;
}

#[tokio::test]
async fn the_sample_statements_import_including_the_public_camt053_and_mt940_files() {
    let dir =
        std::env::temp_dir().join(format!("feegate-stmt-cfg-{}-{}", std::process::id(), feegate::store::now_ms()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("samples.toml");
    std::fs::write(
        &cfg,
        r#"
[[demo.agencies]]
code = "H12.20"
name = "Sở Tư pháp (mẫu)"
  [[demo.agencies.accounts]]
  bank_bin = "970415"
  bank_name = "VietinBank"
  account_number = "113000012345"
  account_name = "SO TU PHAP"
  kind = "treasury"
  receives = ["charge"]
  [[demo.agencies.accounts]]
  bank_bin = "970436"
  bank_name = "Vietcombank"
  account_number = "0071001234567"
  account_name = "SO TU PHAP TINH BINH DUONG"
  kind = "bank"
  receives = ["fee"]

[[demo.agencies]]
code = "NL.SAMPLE"
name = "Public sample accounts"
  [[demo.agencies.accounts]]
  bank_bin = "999001"
  bank_name = "genkgo/camt sample bank"
  account_number = "NL26VAYB8060476890"
  account_name = "genkgo sample"
  kind = "bank"
  receives = ["fee"]
  [[demo.agencies.accounts]]
  bank_bin = "999002"
  bank_name = "WoLpH/mt940 sample bank"
  account_number = "EXAMPLEACCOUNT"
  account_name = "mt940 sample"
  kind = "bank"
  receives = ["charge"]

[[reconciliation.sources]]
id = "genkgo"
format = "camt053"
account_number = "NL26VAYB8060476890"

[[reconciliation.sources]]
id = "wolph"
format = "mt940"
account_number = "EXAMPLEACCOUNT"

[[reconciliation.sources]]
id = "ctg"
format = "camt053"
account_number = "113000012345"

[[reconciliation.sources]]
id = "vcb-mt940"
format = "mt940"
account_number = "0071001234567"

[[reconciliation.sources]]
id = "vcb-csv"
format = "csv"
account_number = "0071001234567"
  [reconciliation.sources.csv]
  date = "Ngày giao dịch"
  date_format = "[day]/[month]/[year]"
  credit = "Số tiền ghi có"
  debit = "Số tiền ghi nợ"
  reference = "Số tham chiếu"
  content = "Nội dung chi tiết"
  balance = "Số dư"
  thousands = ","
  skip_rows = 4
"#,
    )
    .unwrap();
    let app = TestApp::spawn_with(&[("FEEGATE_CONFIG", cfg.to_str().unwrap())]).await;
    use base64::Engine;
    // (source, file, business day, entries, credits that are items, debits that are items)
    for (source, file, date, lines) in [
        ("genkgo", "genkgo-camt053.v2.multi.statement.xml", None, None),
        ("wolph", "wolph-mt940-statements.sta", Some("2026-01-03"), Some(2)),
        ("ctg", "camt053_vietinbank.xml", Some("2025-03-15"), None),
        ("vcb-mt940", "mt940_vcb.txt", Some("2025-03-15"), Some(5)),
        ("vcb-csv", "vcb_statement.csv", Some("2025-03-16"), Some(5)),
    ] {
        let bytes = std::fs::read(format!("tests/fixtures/statements/{file}")).unwrap();
        let content_base64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
        let (status, run) = import(&app, "", json!({"source": source, "content_base64": content_base64})).await;
        assert_eq!(status, 201, "{file}: {run}");
        assert_eq!(run["kind"], "statement");
        if let Some(d) = date {
            assert_eq!(run["date"], d, "{file}: the business day is the closing balance's");
        }
        if let Some(n) = lines {
            assert_eq!(run["lines"], n, "{file}: {run}");
        }
        let all = items(&app, &run).await;
        // Nothing in these files is feegate's: every credit is unknown, no debit pays a refund.
        assert!(all.iter().all(|i| i["kind"] == "credit" && i["outcome"] == "missing_in_feegate"), "{file}: {all:#?}");
        assert!(all.iter().all(|i| !i["reason"].as_str().unwrap().is_empty()));
        let credits = run["counts"]["missing_in_feegate"].as_i64().unwrap();
        assert!(credits >= 1 && credits as usize == all.len(), "{file}: {run}");
    }
    app.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A camt.053 statement of the VietinBank treasury account with booked credits.
fn camt053(day: time::Date, credits: &[(i64, &str)]) -> String {
    let opening = 52_400_000;
    let closing = opening + credits.iter().map(|c| c.0).sum::<i64>();
    let d = iso(day);
    let entries: String = credits
        .iter()
        .enumerate()
        .map(|(n, (amount, content))| {
            format!(
                "<Ntry><Amt Ccy=\"VND\">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>\
                 <BookgDt><Dt>{d}</Dt></BookgDt><ValDt><Dt>{d}</Dt></ValDt><AcctSvcrRef>FT{n:011}</AcctSvcrRef>\
                 <NtryDtls><TxDtls><RmtInf><Ustrd>{content}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>"
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\"><BkToCstmrStmt>\
         <GrpHdr><MsgId>CTG{d}</MsgId><CreDtTm>{d}T23:59:00+07:00</CreDtTm></GrpHdr>\
         <Stmt><Id>CTG-STMT-{d}</Id><CreDtTm>{d}T23:59:00+07:00</CreDtTm>\
         <Acct><Id><Othr><Id>113000012345</Id></Othr></Id><Ccy>VND</Ccy></Acct>\
         <Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy=\"VND\">{opening}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>{d}</Dt></Dt></Bal>\
         <Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy=\"VND\">{closing}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>{d}</Dt></Dt></Bal>\
         {entries}</Stmt></BkToCstmrStmt></Document>"
    )
}

#[tokio::test]
async fn a_credit_proving_a_payment_whose_callback_was_lost_corrects_it_through_the_connector() {
    let app = TestApp::spawn().await;
    let day = today();
    // The bank's credit notification never reaches feegate: the payment stays pending.
    app.faults("vietqr", json!({"no_callback": true})).await;
    let lost = payment(&app, "charge", 135000).await;
    let reference = pay_vietqr(&app, &lost).await;
    assert_eq!(app.payment(&lost).await["status"], "pending");
    app.faults("vietqr", json!({})).await;
    let paid = payment(&app, "charge", 40000).await;
    let paid_ref = pay_vietqr(&app, &paid).await;

    let xml = camt053(
        day,
        &[
            (135000, &format!("MBVCB.99.{reference}.CT tu 0011004 TRAN THI B toi 113000012345")),
            (40000, &format!("{paid_ref} le phi")),
        ],
    );
    let (status, run) = import(&app, "", json!({"source": "ctg-113000012345", "content": xml})).await;
    assert_eq!(status, 201, "{run}");
    assert_eq!(run["counts"]["status_mismatch"], 1, "{run}");
    assert_eq!(run["counts"]["matched"], 1, "{run}");
    let case = corrected(&app, &run, &reference).await;
    assert_eq!(case["outcome"], "status_mismatch", "the difference stays a case for finance: {case}");
    let reason = case["reason"].as_str().unwrap();
    assert!(reason.contains("which feegate has as pending") && reason.contains("corrected"), "{reason}");

    // Corrected through the guarded transition: status, event, webhook and audit entries.
    let p = app.payment(&lost).await;
    assert_eq!((p["status"].as_str(), p["review"].is_null()), (Some("succeeded"), true), "{p}");
    let events: Value =
        app.get(&format!("/v1/payments/{lost}/events"), &app.portal_key).send().await.unwrap().json().await.unwrap();
    assert!(events.to_string().contains("payment.succeeded"), "{events}");
    let kinds: Vec<(String, String)> =
        sqlx::query_as("SELECT kind, actor FROM audit_log WHERE scope = $1 ORDER BY seq")
            .bind(&lost)
            .fetch_all(&app.db)
            .await
            .unwrap();
    let actor_of = |kind: &str| {
        kinds.iter().find(|(k, _)| k == kind).map(|(_, a)| a.clone()).unwrap_or_else(|| panic!("{kind}: {kinds:?}"))
    };
    let actor = actor_of("payment.correction");
    assert!(actor.starts_with("key:"), "the finance staff member who imported the file: {actor}");
    assert_eq!(actor_of("payment.succeeded"), actor);

    // Re-run after the correction: the same credit now simply matches.
    let (status, v2) = import(&app, "?rerun=true", json!({"source": "ctg-113000012345", "content": xml})).await;
    assert_eq!(
        (status, v2["counts"]["matched"].as_i64(), v2["counts"]["status_mismatch"].as_i64()),
        (201, Some(2), Some(0))
    );
    app.stop().await;
}

#[tokio::test]
async fn a_settlement_line_proving_a_pending_payment_corrects_it_through_the_connector() {
    let app = TestApp::spawn().await;
    app.faults("sandbox", json!({"no_callback": true})).await;
    let id = payment(&app, "fee", 135000).await;
    // The payer approves at the gateway but never comes back, and the callback is lost.
    let gateway = app.choose(&id, "sandbox").await;
    let r = app.client.post(&gateway).form(&[("outcome", "success")]).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(app.payment(&id).await["status"], "pending");
    app.faults("sandbox", json!({})).await;
    let date = iso(today());
    let file = app
        .client
        .get(format!("{}/sim/sandbox/_control/settlement?date={date}", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (status, run) = import(&app, "", json!({"source": "sandbox", "date": date, "content": file})).await;
    assert_eq!((status, run["counts"]["status_mismatch"].as_i64()), (201, Some(1)), "{run}");
    let reference = items(&app, &run).await[0]["reference"].as_str().unwrap().to_owned();
    let item = &corrected(&app, &run, &reference).await;
    assert_eq!(item["outcome"], "status_mismatch");
    assert!(item["reason"].as_str().unwrap().contains("corrected"), "{item}");
    assert_eq!(app.payment(&id).await["status"], "succeeded");
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM audit_log WHERE scope = $1 AND kind = 'payment.correction'")
            .bind(&id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(n, 1);
    app.stop().await;
}

#[tokio::test]
async fn an_upload_answers_without_waiting_for_the_gateway_and_the_correction_follows() {
    let app = TestApp::spawn().await;
    let day = today();
    app.faults("vietqr", json!({"no_callback": true})).await;
    let lost = payment(&app, "charge", 135000).await;
    let reference = pay_vietqr(&app, &lost).await;
    // The gateway does not answer queries: the client waits for its timeout (3 s in tests).
    app.faults("vietqr", json!({"query_timeout": true})).await;
    let xml = camt053(day, &[(135000, &format!("MBVCB.99.{reference}.CT tu 0011004 TRAN THI B"))]);
    let form = reqwest::multipart::Form::new()
        .text("source", "ctg-113000012345")
        .part("file", reqwest::multipart::Part::bytes(xml.into_bytes()).file_name("ctg.xml"));
    let started = std::time::Instant::now();
    let r = app.post("/v1/reconciliation/runs", &app.finance_key).multipart(form).send().await.unwrap();
    let took = started.elapsed();
    let status = r.status().as_u16();
    let run: Value = r.json().await.unwrap();
    assert_eq!((status, run["counts"]["status_mismatch"].as_i64()), (201, Some(1)), "{run}");
    assert!(took < std::time::Duration::from_millis(2500), "the import waited for the gateway: {took:?}");
    let all = items(&app, &run).await;
    let queued = outcome_of(&all, &reference)["reason"].as_str().unwrap().to_owned();
    assert!(queued.contains(feegate::store::recon::CORRECTION_PENDING), "{queued}");
    assert_eq!(app.payment(&lost).await["status"], "pending");

    // The worker's first try waits on the gateway in the background (claimed, then asking)...
    let tries = || async {
        let (t,): (i64,) = sqlx::query_as("SELECT tries FROM recon_corrections WHERE run_id = $1")
            .bind(run["id"].as_str().unwrap())
            .fetch_one(&app.db)
            .await
            .unwrap();
        t
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while tries().await < 1 {
        assert!(std::time::Instant::now() < deadline, "the worker never claimed the correction");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    // ...then the gateway answers again: the next try confirms and applies the success.
    app.faults("vietqr", json!({})).await;
    let item = corrected(&app, &run, &reference).await;
    let reason = item["reason"].as_str().unwrap();
    assert!(reason.contains("corrected: the connector's query confirmed the success"), "{reason}");
    assert_eq!(app.payment(&lost).await["status"], "succeeded");
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM audit_log WHERE scope = $1 AND kind = 'payment.correction'")
            .bind(&lost)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(n, 1);
    let (status, tries): (String, i64) =
        sqlx::query_as("SELECT status, tries FROM recon_corrections WHERE run_id = $1")
            .bind(run["id"].as_str().unwrap())
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(status, "done");
    assert!(tries >= 2, "the timed-out query was tried again: {tries}");
    let shown: Value = app
        .get(&format!("/v1/reconciliation/runs/{}", run["id"].as_str().unwrap()), &app.finance_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["corrections"], json!({"pending": 0, "done": 1}), "{shown}");
    app.stop().await;
}

/// An MT940 file of the BIDV account 48010000123456 of the demo (source `bidv-48010000123456`).
fn bidv_mt940(reference: &str, day: &str, opening: i64, credits: &[(i64, &str)], closing: i64, ccy: &str) -> String {
    let mut out = format!(":20:{reference}\r\n:25:48010000123456\r\n:28C:1/1\r\n:60F:C{day}{ccy}{opening},\r\n");
    for (n, (amount, content)) in credits.iter().enumerate() {
        out.push_str(&format!(":61:{day}C{amount},NTRFNONREF//FT{n:09}\r\n:86:{content}\r\n"));
    }
    out.push_str(&format!(":62F:C{day}{ccy}{closing},\r\n"));
    out
}

#[tokio::test]
async fn an_mt940_in_its_envelope_imports_each_statement_and_reports_a_bad_one_with_its_reason() {
    let app = TestApp::spawn().await;
    let d = today();
    let yymmdd = format!("{:02}{:02}{:02}", d.year() % 100, u8::from(d.month()), d.day());
    let good = bidv_mt940("BIDV1", &yymmdd, 1_000_000, &[(70_000, "chuyen tien hoc phi")], 1_070_000, "VND");
    // Opening + credits is not its closing balance.
    let bad = bidv_mt940("BIDV2", &yymmdd, 1_070_000, &[(50_000, "nop tien")], 1_200_000, "VND");
    let other = bidv_mt940("BIDV3", &yymmdd, 0, &[(1, "x")], 1, "VND").replace("48010000123456", "99990000");
    let header = "{1:F01BIDVVNVXAXXX0000000000}{2:O9400800250102BIDVVNVXAXXX00000000002501020800N}{4:\r\n";
    let file = format!(
        "\u{1}{header}{bad}-}}\u{3}\r\n\u{1}{header}{good}-}}{{5:{{CHK:0A1B2C3D4E5F}}}}\u{3}\r\n:940:\r\nBIDVVNVX\r\n{other}"
    );
    let (status, run) = import(&app, "", json!({"source": "bidv-48010000123456", "content": file})).await;
    assert_eq!(status, 201, "{run}");
    let st = run["statements"].as_array().unwrap_or_else(|| panic!("{run}"));
    let got: Vec<(&str, &str)> =
        st.iter().map(|s| (s["statement_id"].as_str().unwrap(), s["status"].as_str().unwrap())).collect();
    assert_eq!(got, [("BIDV2/1/1", "refused"), ("BIDV1/1/1", "imported"), ("BIDV3/1/1", "other_account")]);
    assert_eq!(st[0]["code"], "statement_unbalanced");
    assert!(st[0]["reason"].as_str().unwrap().contains("does not add up"), "{}", st[0]);
    assert_eq!((st[1]["entries"].as_i64(), st[1]["currency"].as_str()), (Some(1), Some("VND")));
    assert_eq!(run["lines"], 1, "the refused statement's entries are not the run's: {run}");
    let all = items(&app, &run).await;
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!((all[0]["content"].as_str(), all[0]["currency"].as_str()), (Some("chuyen tien hoc phi"), Some("VND")));
    // The run as read later says the same.
    let again: Value = app
        .get(&format!("/v1/reconciliation/runs/{}", run["id"].as_str().unwrap()), &app.finance_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["statements"], run["statements"]);
    // A file whose only statement of this account is bad is refused whole, naming the line.
    let (status, v) = import(&app, "", json!({"source": "bidv-48010000123456", "content": bad})).await;
    assert_eq!((status, v["error"]["code"].as_str()), (422, Some("statement_unbalanced")), "{v}");
    app.stop().await;
}

#[tokio::test]
async fn a_credit_in_another_currency_is_not_matched_as_dong() {
    let app = TestApp::spawn().await;
    let day = today();
    let paid = payment(&app, "charge", 135000).await;
    let reference = pay_vietqr(&app, &paid).await;
    // 1,350.00 USD is 135000 cents: the same digits as the payment's đồng.
    let xml = camt053(day, &[(135000, &format!("{reference} le phi"))]);
    let usd = xml.replace("Ccy=\"VND\">", "Ccy=\"USD\">").replace("<Ccy>VND</Ccy>", "<Ccy>USD</Ccy>");
    let usd = usd.replace(">135000</Amt>", ">1350.00</Amt>").replace(">52535000</Amt>", ">52401350.00</Amt>");
    let (status, run) = import(&app, "", json!({"source": "ctg-113000012345", "content": usd})).await;
    assert_eq!(status, 201, "{run}");
    assert_eq!(run["counts"]["matched"], 0, "{run}");
    let all = items(&app, &run).await;
    let credit = all.iter().find(|i| i["line"].is_number()).unwrap_or_else(|| panic!("{all:#?}"));
    assert_eq!(
        (credit["outcome"].as_str(), credit["currency"].as_str(), credit["amount_file"].as_str()),
        (Some("missing_in_feegate"), Some("USD"), Some("135000"))
    );
    assert_eq!(
        credit["reason"],
        "credit of 1350.00 USD is not in VND: feegate does not match an amount in another currency"
    );
    assert!(credit["payment_id"].is_null(), "{credit}");
    // The đồng payment is still owed to the account: the statement lacks it.
    let owed = outcome_of(&all, &reference);
    assert_eq!((owed["outcome"].as_str(), owed["currency"].as_str()), (Some("missing_in_file"), Some("VND")));

    // The same file in đồng matches.
    let (status, run) = import(&app, "", json!({"source": "ctg-113000012345", "content": xml})).await;
    assert_eq!((status, run["counts"]["matched"].as_i64()), (201, Some(1)), "{run}");
    app.stop().await;
}

#[tokio::test]
async fn a_csv_source_reads_its_configured_currency_and_a_bad_one_is_refused_at_start() {
    let dir = std::env::temp_dir().join(format!("feegate-ccy-cfg-{}-{}", std::process::id(), feegate::store::now_ms()));
    std::fs::create_dir_all(&dir).unwrap();
    let source = |id: &str, format: &str, currency: &str| {
        let map = if format == "csv" {
            "  [reconciliation.sources.csv]\n  date = \"Ngày giao dịch\"\n  date_format = \"[day]/[month]/[year]\"\n  \
             credit = \"Số tiền ghi có\"\n  debit = \"Số tiền ghi nợ\"\n  reference = \"Số tham chiếu\"\n  \
             content = \"Nội dung chi tiết\"\n  balance = \"Số dư\"\n  thousands = \",\"\n  skip_rows = 4\n"
        } else {
            ""
        };
        format!(
            "[[reconciliation.sources]]\nid = \"{id}\"\nformat = \"{format}\"\naccount_number = \"0351000765432\"\n\
             currency = \"{currency}\"\n{map}"
        )
    };
    // A currency the parser does not know, or one on a format whose files name their own.
    for (text, words) in [
        (source("vcb-x", "csv", "XYZ"), "unknown currency \"XYZ\""),
        (source("vcb-x", "mt940", "USD"), "only a csv source takes a currency"),
    ] {
        let cfg = dir.join("bad.toml");
        std::fs::write(&cfg, &text).unwrap();
        let env = vec![
            ("FEEGATE_DATABASE_URL".to_string(), fresh_database().await),
            ("FEEGATE_CONFIG".to_string(), cfg.to_str().unwrap().to_string()),
        ];
        let config = feegate::config::Config::load_with(None, &env).unwrap();
        let err = feegate::app::AppState::build_unlocked(config).await.err().expect("refused at start");
        assert!(format!("{err:#}").contains(words), "{err:#}");
    }

    let cfg = dir.join("usd.toml");
    std::fs::write(&cfg, source("vcb-usd", "csv", "USD")).unwrap();
    let app = TestApp::spawn_with(&[("FEEGATE_CONFIG", cfg.to_str().unwrap())]).await;
    let day = today();
    let paid = payment(&app, "fee", 135000).await;
    let reference = pay_vietqr(&app, &paid).await;
    // "1,350" of this export is 1,350.00 USD: 135000 cents.
    let csv = vcb_csv(day, &[(1350, &format!("{reference} le phi"))]);
    let (status, run) = import(&app, "", json!({"source": "vcb-usd", "content": csv})).await;
    assert_eq!(status, 201, "{run}");
    let all = items(&app, &run).await;
    let credit = all.iter().find(|i| i["line"].is_number()).unwrap_or_else(|| panic!("{all:#?}"));
    assert_eq!(
        (credit["outcome"].as_str(), credit["currency"].as_str(), credit["amount_file"].as_str()),
        (Some("missing_in_feegate"), Some("USD"), Some("135000"))
    );
    assert!(credit["reason"].as_str().unwrap().starts_with("credit of 1350.00 USD is not in VND"), "{credit}");
    app.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Asks for a refund of `amount` of `id`; a bank transfer's refund waits for a payout by hand.
async fn manual_refund(app: &TestApp, id: &str, amount: i64) -> Value {
    let r = app
        .post(&format!("/v1/payments/{id}/refunds"), &app.finance_key)
        .json(&json!({"amount": amount.to_string(), "reason": "Nộp thừa"}))
        .send()
        .await
        .unwrap();
    let r: Value = r.json().await.unwrap();
    assert_eq!(r["status"], "pending_manual", "{r}");
    r
}

#[tokio::test]
async fn debits_paying_out_manual_refunds_are_matched_at_each_refunds_share() {
    let app = TestApp::spawn().await;
    let day = today();
    let p = payment(&app, "fee", 135000).await;
    let reference = pay_vietqr(&app, &p).await;
    // Two refunds by hand: the first recorded as paid out, the second not yet.
    let first = manual_refund(&app, &p, 35000).await;
    let done = app
        .post(&format!("/v1/payments/{p}/refunds/{}/complete", first["id"].as_str().unwrap()), &app.finance_key)
        .json(&json!({"bank_reference": "FT26333000777"}))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    let second = manual_refund(&app, &p, 20000).await;
    let (r1, r2) = (first["reference"].as_str().unwrap(), second["reference"].as_str().unwrap());
    let csv = vcb_csv(
        day,
        &[
            (135000, &format!("{reference} nop phi")),
            (-35000, &format!("FT26333000777 hoan tien {r1}")),
            (-20000, &format!("hoan tien {r2}")),
        ],
    );
    let (status, run) = import(&app, "", json!({"source": "vcb-0351000765432", "content": csv})).await;
    assert_eq!(status, 201, "{run}");
    let all = items(&app, &run).await;
    let paid_out = outcome_of(&all, r1);
    assert_eq!(
        (paid_out["outcome"].as_str(), paid_out["kind"].as_str(), paid_out["amount_feegate"].as_str()),
        (Some("matched"), Some("debit"), Some("35000")),
        "{all:#?}"
    );
    let waiting = outcome_of(&all, r2);
    assert_eq!(
        (waiting["outcome"].as_str(), waiting["amount_feegate"].as_str()),
        (Some("status_mismatch"), Some("20000")),
        "a refund not yet paid out has its share too: {all:#?}"
    );
    assert!(waiting["reason"].as_str().unwrap().contains("record the payout"), "{waiting}");
    app.stop().await;
}

/// A VietQR payment to two accounts arrives as two credits, one per account: the fee
/// account's statement expects only the fee's leg, with its own amount, and not the leg that
/// went to the treasury.
#[tokio::test]
async fn a_transfer_to_two_accounts_is_expected_leg_by_leg_on_each_accounts_statement() {
    let app = TestApp::spawn().await;
    let day = today();
    let mut body = payment_body();
    body["lines"] = json!([
        {"kind": "charge", "code": "LP", "description": "Lệ phí", "amount": "135000"},
        {"kind": "fee", "code": "P", "description": "Phí thẩm định", "amount": "50000"}
    ]);
    let id = app.create_payment(&body).await["id"].as_str().unwrap().to_owned();
    let action = start_attempt(&app, &id, "vietqr").await;
    let transfers = action["transfers"].as_array().unwrap_or_else(|| panic!("{action}")).clone();
    for t in &transfers {
        let payload: String = url::form_urlencoded::byte_serialize(t["payload"].as_str().unwrap().as_bytes()).collect();
        let bank_app = format!("{}/sim/vietqr/app?payload={payload}", app.url);
        let r = app.client.post(&bank_app).form(&[("outcome", "success")]).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    assert_eq!(app.payment(&id).await["status"], "succeeded");
    let content = |account: &str| {
        let t = transfers.iter().find(|t| t["transfer"]["account_number"] == account).unwrap();
        t["transfer"]["content"].as_str().unwrap().to_owned()
    };
    let (fee, treasury) = (content("0351000765432"), content("113000012345"));
    // The fee's leg, and (a payer's slip) 135 000 with the treasury leg's content sent into
    // the fee account as well.
    let csv = vcb_csv(day, &[(50000, &format!("{fee} nop phi")), (135000, &format!("{treasury} nop le phi"))]);
    let (status, run) = import(&app, "", json!({"source": "vcb-0351000765432", "content": csv})).await;
    assert_eq!(status, 201, "{run}");
    let all = items(&app, &run).await;
    let leg = outcome_of(&all, &fee);
    assert_eq!((leg["outcome"].as_str(), leg["amount_feegate"].as_str()), (Some("matched"), Some("50000")), "{all:#?}");
    // The treasury's leg is not this account's money: not expected here, and a credit
    // naming it is not a match.
    let slip: Vec<&Value> = all.iter().filter(|i| i["reference"] == treasury.as_str()).collect();
    assert_eq!(slip.len(), 1, "{all:#?}");
    assert_eq!(slip[0]["outcome"], "missing_in_feegate", "{all:#?}");
    assert!(slip[0]["reason"].as_str().unwrap().contains("other accounts"), "{all:#?}");
    assert_eq!(all.len(), 2, "{all:#?}");
    app.stop().await;
}
