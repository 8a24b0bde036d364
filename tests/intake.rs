//! How reconciliation files arrive besides the JSON API: a `multipart/form-data` upload to
//! `POST /v1/reconciliation/runs`, and the inbox folder a scheduled job imports from.

mod common;
use common::*;
use feegate::service::inbox::{self, Outcome};
use reqwest::multipart::{Form, Part};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

fn today() -> String {
    let d = time::OffsetDateTime::now_utc().to_offset(time::macros::offset!(+7)).date();
    d.format(time::macros::format_description!("[year]-[month]-[day]")).unwrap()
}

/// Pays one payment through the sandbox and returns the sandbox's settlement file of today.
async fn settlement_file(app: &TestApp) -> String {
    let id = app.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
    assert!(app.pay_sandbox(&id, "success").await.contains("status=succeeded"));
    let url = format!("{}/sim/sandbox/_control/settlement?date={}", app.url, today());
    app.client.get(url).send().await.unwrap().text().await.unwrap()
}

fn form(fields: &[(&str, &str)], file: Option<&str>) -> Form {
    let mut f = Form::new();
    for (k, v) in fields {
        f = f.text(k.to_string(), v.to_string());
    }
    if let Some(content) = file {
        f = f.part("file", Part::bytes(content.as_bytes().to_vec()).file_name("settlement.csv"));
    }
    f
}

async fn upload(app: &TestApp, key: &str, form: Form) -> (u16, Value) {
    let r = app.post("/v1/reconciliation/runs", key).multipart(form).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn a_settlement_file_uploaded_as_multipart_is_reconciled_once() {
    let app = TestApp::spawn().await;
    let file = settlement_file(&app).await;
    let date = today();
    let fields = [("source", "sandbox"), ("date", date.as_str()), ("format", "settlement")];
    let (status, run) = upload(&app, &app.finance_key, form(&fields, Some(&file))).await;
    assert_eq!(status, 201, "{run}");
    assert_eq!(run["counts"]["matched"], 1, "{run}");
    assert_eq!(run["lines"], 1);
    // The same file again is the same run.
    let (status, again) = upload(&app, &app.finance_key, form(&fields, Some(&file))).await;
    assert_eq!((status, &again["id"]), (200, &run["id"]));
    assert_eq!(app.count("recon_runs").await, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_bad_upload_gets_a_stable_error_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let file = settlement_file(&app).await;
    let date = today();
    let cases: Vec<(&str, Form, u16, &str)> = vec![
        ("portal key", form(&[("source", "sandbox"), ("date", &date)], Some(&file)), 403, "forbidden"),
        (
            "wrong format",
            form(&[("source", "sandbox"), ("date", &date), ("format", "camt053")], Some(&file)),
            422,
            "format_mismatch",
        ),
        ("no file", form(&[("source", "sandbox"), ("date", &date)], None), 422, "missing_field"),
        ("empty file", form(&[("source", "sandbox"), ("date", &date)], Some("")), 422, "missing_field"),
        ("no source", form(&[("date", &date)], Some(&file)), 422, "missing_field"),
        ("unknown field", form(&[("source", "sandbox"), ("colour", "red")], Some(&file)), 422, "unknown_field"),
        ("no date", form(&[("source", "sandbox")], Some(&file)), 422, "missing_field"),
        ("bad date", form(&[("source", "sandbox"), ("date", "27/11/2026")], Some(&file)), 422, "invalid_date"),
        ("unknown source", form(&[("source", "nobank"), ("date", &date)], Some(&file)), 422, "unknown_source"),
        (
            "not a settlement file",
            form(&[("source", "sandbox"), ("date", &date)], Some("this,is\nnot,it\n")),
            422,
            "invalid_settlement_file",
        ),
    ];
    for (what, f, want_status, want_code) in cases {
        let key = if what == "portal key" { &app.portal_key } else { &app.finance_key };
        let r = app.post("/v1/reconciliation/runs", key).multipart(f).send().await.unwrap();
        let (status, code, _) = error_code(r).await;
        assert_eq!((status, code.as_str()), (want_status, want_code), "{what}");
    }
    // A body that claims to be multipart but is not.
    let r = app
        .post("/v1/reconciliation/runs", &app.finance_key)
        .header("content-type", "multipart/form-data; boundary=xyz")
        .body("--abc\r\nnonsense")
        .send()
        .await
        .unwrap();
    let (status, code, _) = error_code(r).await;
    assert_eq!((status, code.as_str()), (400, "invalid_multipart"));
    assert_eq!(app.count("recon_runs").await, 0);
    assert_eq!(app.count("recon_items").await, 0);
    app.stop().await;
}

fn write_old(path: &Path, content: &str) {
    std::fs::write(path, content).unwrap();
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(60)).unwrap();
}

fn inbox_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("feegate-inbox-{}-{}", std::process::id(), feegate::store::now_ms()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn with_inbox(dir: &Path) -> TestApp {
    let cfg = dir.with_extension("toml");
    std::fs::write(
        &cfg,
        format!(
            "[reconciliation]\ninbox_interval_ms = 3600000\n[[reconciliation.sources]]\nid = \"sandbox\"\n\
             format = \"settlement\"\ninbox = \"{}\"\n",
            dir.display()
        ),
    )
    .unwrap();
    TestApp::spawn_with(&[("FEEGATE_CONFIG", cfg.to_str().unwrap())]).await
}

#[tokio::test]
async fn the_inbox_imports_settled_files_and_rejects_bad_ones_with_a_reason() {
    let dir = inbox_dir();
    let app = with_inbox(&dir).await;
    let file = settlement_file(&app).await;
    let date = today();
    let good = format!("sandbox_{}.csv", date.replace('-', ""));
    write_old(&dir.join(&good), &file);
    write_old(&dir.join("sandbox_nodate.csv"), &file);
    write_old(&dir.join(format!("broken_{date}.csv")), "not,a\nsettlement,file\n");
    // Still being written: left alone.
    write_old(&dir.join(format!("sandbox_{date}.csv.part")), &file);
    std::fs::write(dir.join(format!("fresh_{date}.csv")), &file).unwrap();

    let mut outcomes = inbox::run_once(&app.state).await.unwrap();
    outcomes.sort_by_key(|o| format!("{o:?}"));
    assert_eq!(outcomes.len(), 3, "{outcomes:?}");
    let imported: Vec<_> = outcomes.iter().filter(|o| matches!(o, Outcome::Imported { .. })).collect();
    assert_eq!(imported.len(), 1, "{outcomes:?}");
    let Outcome::Imported { run_id, new, .. } = imported[0] else { unreachable!() };
    assert!(new);
    let run: Value = app
        .get(&format!("/v1/reconciliation/runs/{run_id}"), &app.finance_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((run["counts"]["matched"].as_i64(), run["created_by"].as_str()), (Some(1), Some("inbox:sandbox")));

    assert!(dir.join("done").join(&good).exists());
    let reason = std::fs::read_to_string(dir.join("rejected/sandbox_nodate.csv.reason.txt")).unwrap();
    assert!(reason.contains("business day"), "{reason}");
    let reason = std::fs::read_to_string(dir.join(format!("rejected/broken_{date}.csv.reason.txt"))).unwrap();
    assert!(reason.starts_with("invalid_settlement_file"), "{reason}");
    assert!(dir.join(format!("sandbox_{date}.csv.part")).exists());
    assert!(dir.join(format!("fresh_{date}.csv")).exists());
    assert_eq!(std::fs::read_dir(dir.join("processing")).unwrap().count(), 0);

    // The same file delivered again (a resend) is the same run, and keeps both copies.
    write_old(&dir.join(&good), &file);
    let again = inbox::run_once(&app.state).await.unwrap();
    assert!(matches!(&again[..], [Outcome::Imported { run_id: r, new: false, .. }] if r == run_id), "{again:?}");
    assert!(dir.join("done").join(format!("{good}.1")).exists());
    assert_eq!(app.count("recon_runs").await, 1);
    app.stop().await;
}

#[tokio::test]
async fn an_inbox_file_larger_than_the_upload_limit_is_rejected_unread() {
    let dir = inbox_dir();
    let app = with_inbox(&dir).await;
    // Sparse: one byte past the limit costs no disk and, read whole, 128 MiB of memory.
    let name = format!("sandbox_{}.csv", today().replace('-', ""));
    let path = dir.join(&name);
    let f = std::fs::File::create(&path).unwrap();
    let size = feegate::api::body::MAX_UPLOAD as u64 + 1;
    f.set_len(size).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(60)).unwrap();
    drop(f);

    let outcomes = inbox::run_once(&app.state).await.unwrap();
    assert!(
        matches!(&outcomes[..], [Outcome::Rejected { reason, .. }] if reason.starts_with("file_too_large")),
        "{outcomes:?}"
    );
    let rejected = dir.join("rejected").join(&name);
    assert_eq!(std::fs::metadata(&rejected).unwrap().len(), size, "moved as it was");
    let reason = std::fs::read_to_string(dir.join(format!("rejected/{name}.reason.txt"))).unwrap();
    assert!(reason.starts_with("file_too_large") && reason.contains(&size.to_string()), "{reason}");
    assert_eq!(std::fs::read_dir(dir.join("processing")).unwrap().count(), 0);
    assert_eq!(app.count("recon_runs").await, 0);
    app.stop().await;
}
