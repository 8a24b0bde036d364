//! Each database stores its own types (PostgreSQL: TIMESTAMPTZ times, BOOLEAN flags;
//! SQLite: INTEGER unix milliseconds), an older database converts exactly, and a status the
//! code does not know is a read error, never a default.

mod common;

use common::{old_database, on_postgres, payment_body, TestApp};
use feegate::store::Store;

/// Time columns by name: every `*_at`, and the lease and schedule columns.
fn is_time_column(name: &str) -> bool {
    name.ends_with("_at") || matches!(name, "lease_until" | "at" | "next_at" | "expiry_check_after")
}

const FLAG_COLUMNS: [&str; 3] = ["active", "verified", "webhook"];

#[tokio::test]
async fn postgres_stores_times_as_timestamptz_and_flags_as_booleans() {
    let app = TestApp::spawn().await;
    if !on_postgres() {
        // SQLite keeps unix milliseconds as INTEGER: a payment's times are integers there.
        let id = app.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
        let (kind,): (String,) = sqlx::query_as("SELECT typeof(created_at) FROM payments WHERE id = $1")
            .bind(&id)
            .fetch_one(&app.db)
            .await
            .unwrap();
        assert_eq!(kind, "integer");
        return;
    }
    let cols: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT CAST(table_name AS TEXT), CAST(column_name AS TEXT), CAST(data_type AS TEXT) \
         FROM information_schema.columns WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    let times: Vec<_> = cols.iter().filter(|c| is_time_column(&c.1)).collect();
    assert!(times.len() >= 30, "the catalog lists too few time columns: {times:?}");
    let wrong: Vec<_> = times.iter().filter(|c| c.2 != "timestamp with time zone").collect();
    assert!(wrong.is_empty(), "time columns that are not TIMESTAMPTZ: {wrong:?}");
    let flags: Vec<_> = cols.iter().filter(|c| FLAG_COLUMNS.contains(&c.1.as_str())).collect();
    assert_eq!(flags.len(), 3, "{flags:?}");
    let wrong: Vec<_> = flags.iter().filter(|c| c.2 != "boolean").collect();
    assert!(wrong.is_empty(), "flag columns that are not BOOLEAN: {wrong:?}");
    let type_of = |table: &str, column: &str| {
        cols.iter().find(|c| c.0 == table && c.1 == column).map(|c| c.2.clone()).unwrap_or_default()
    };
    assert_eq!(type_of("portals", "agencies"), "jsonb");
    // Texts whose exact bytes matter stay TEXT: the audit chain hashes its payload (JSONB
    // would reorder keys), and a portal's metadata may hold what JSONB refuses (\u0000).
    for (table, column) in [("audit_log", "payload"), ("payments", "metadata"), ("idempotency", "response")] {
        assert_eq!(type_of(table, column), "text", "{table}.{column}");
    }
    let money = cols.iter().find(|c| c.0 == "payments" && c.1 == "amount").unwrap();
    assert_eq!(money.2, "bigint", "money stays BIGINT đồng");
}

/// A database written before 0012 (times as BIGINT ms, flags 0/1) reads back the same
/// milliseconds after the upgrade, NULL and 0 ms included.
#[tokio::test]
async fn an_older_database_keeps_every_millisecond_through_the_upgrade() {
    let db_url = common::fresh_database().await;
    let pool = old_database(&db_url, 12).await;
    for sql in [
        "INSERT INTO api_keys (id, hash, role, portal_id, name, created_at, revoked_at) \
         VALUES ('key_live', 'h1', 'portal', 'old-portal', 'live', 1795940045123, NULL)",
        "INSERT INTO api_keys (id, hash, role, portal_id, name, created_at, revoked_at) \
         VALUES ('key_epoch', 'h2', 'finance', NULL, 'epoch', 0, 1)",
        "INSERT INTO accounts (id, agency_code, bank_bin, bank_name, account_number, account_name, kind, receives, \
         budget_chapter, budget_item, active, created_at) \
         VALUES ('acc_off', 'OLD.01', '970436', 'VCB', '1', 'A', 'bank', 'fee', NULL, NULL, 0, 5)",
    ] {
        sqlx::query(sql).execute(&pool).await.expect(sql);
    }
    pool.close().await;

    let store = Store::connect(&db_url, 2).await.unwrap();
    store.migrate().await.unwrap();
    let live = store.key("key_live").await.unwrap().unwrap();
    assert_eq!((live.created_at, live.revoked_at), (1_795_940_045_123, None));
    let epoch = store.key("key_epoch").await.unwrap().unwrap();
    assert_eq!((epoch.created_at, epoch.revoked_at), (0, Some(1)));
    let account = store.account("acc_off").await.unwrap().unwrap();
    assert!(!account.active, "0 is an inactive account");
    let portal = store.portal("old-portal").await.unwrap().unwrap();
    assert_eq!(portal.created_at, 1);
    store.close().await;
}

/// Lets a test write a value the schema's CHECK would refuse (a newer node's status, or a
/// hand edit), on one connection.
async fn write_unchecked(app: &TestApp, sql: &str, id: &str) {
    let mut conn = app.db.acquire().await.unwrap();
    if on_postgres() {
        for c in ["payments_status_check", "attempts_status_check"] {
            let table = c.split('_').next().unwrap();
            sqlx::query(&format!("ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {c}"))
                .execute(&mut *conn)
                .await
                .unwrap();
        }
    } else {
        sqlx::query("PRAGMA ignore_check_constraints = ON").execute(&mut *conn).await.unwrap();
    }
    let r = sqlx::query(sql).bind(id).execute(&mut *conn).await.unwrap();
    assert_eq!(r.rows_affected(), 1, "{sql}");
}

#[tokio::test]
async fn a_payment_whose_status_the_code_does_not_know_is_a_read_error_not_a_created_payment() {
    let app = TestApp::spawn().await;
    let id = app.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
    assert_eq!(app.state.store.payment(&id).await.unwrap().unwrap().status.as_str(), "created");
    write_unchecked(&app, "UPDATE payments SET status = 'on_hold' WHERE id = $1", &id).await;
    let read = app.state.store.payment(&id).await;
    assert!(read.is_err(), "an unknown status must not read as a payment: {read:?}");
    let r = app.get(&format!("/v1/payments/{id}"), &app.portal_key).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 500, "never answered as a payment in some other status");
}

#[tokio::test]
async fn an_attempt_whose_status_the_code_does_not_know_is_a_read_error_not_unknown() {
    let app = TestApp::spawn().await;
    let id = app.create_payment(&payment_body()).await["id"].as_str().unwrap().to_owned();
    app.choose(&id, "sandbox").await;
    let attempts = app.state.store.attempts(&id).await.unwrap();
    assert_eq!(attempts.len(), 1);
    write_unchecked(&app, "UPDATE attempts SET status = 'queued' WHERE id = $1", &attempts[0].id).await;
    let read = app.state.store.attempt(&attempts[0].id).await;
    assert!(read.is_err(), "an unknown status must not read as an attempt: {read:?}");
}
