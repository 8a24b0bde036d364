//! A throw-away PostgreSQL database per run: created on the server given by `--pg-url`,
//! dropped at the end (also after Ctrl-C, from the list of databases still open).

use anyhow::{Context, Result};
use sqlx::{Connection, Executor, PgConnection};
use std::sync::Mutex;
use std::time::Duration;

/// Databases created and not yet dropped: (admin URL, name).
static OPEN: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

/// A fresh database `feegate_bench_<pid>`; drop it with [`BenchDb::drop_now`].
pub struct BenchDb {
    admin_url: String,
    pub name: String,
    /// The URL of the new database.
    pub url: String,
    /// The server's durability settings, for the report.
    pub settings: String,
}

/// The URL with any password replaced, for printing.
pub fn redact(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => raw.to_owned(),
    }
}

/// Runs one administrative statement with a time limit.
async fn within<T>(f: impl std::future::Future<Output = sqlx::Result<T>>) -> Result<T> {
    Ok(tokio::time::timeout(Duration::from_secs(30), f).await.context("no answer within 30 s")??)
}

async fn admin(admin_url: &str) -> Result<PgConnection> {
    tokio::time::timeout(Duration::from_secs(5), PgConnection::connect(admin_url))
        .await
        .context("no answer within 5 s")?
        .context("connecting")
}

impl BenchDb {
    /// Creates the database; `Ok(None)` (with the reason printed) if the server is unreachable.
    pub async fn create(admin_url: &str) -> Result<Option<BenchDb>> {
        let mut conn = match admin(admin_url).await {
            Ok(c) => c,
            Err(e) => {
                println!("PostgreSQL at {} is unreachable ({e:#}): skipping it.", redact(admin_url));
                return Ok(None);
            }
        };
        let name = format!("feegate_bench_{}", std::process::id());
        let mut url = url::Url::parse(admin_url).context("parsing --pg-url")?;
        url.set_path(&format!("/{name}"));
        let create = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE); CREATE DATABASE {name}");
        for sql in create.split("; ") {
            within(conn.execute(sql)).await.with_context(|| format!("creating {name}"))?;
        }
        let mut settings = Vec::new();
        for setting in ["fsync", "synchronous_commit", "server_version"] {
            let (v,): (String,) = within(sqlx::query_as(&format!("SHOW {setting}")).fetch_one(&mut conn)).await?;
            settings.push(format!("{setting}={v}"));
        }
        let _ = conn.close().await;
        if let Ok(mut open) = OPEN.lock() {
            open.push((admin_url.to_owned(), name.clone()));
        }
        Ok(Some(BenchDb { admin_url: admin_url.to_owned(), name, url: url.to_string(), settings: settings.join(", ") }))
    }

    /// Drops the database (after the servers using it are gone).
    pub async fn drop_now(self) -> Result<()> {
        drop_database(&self.admin_url, &self.name).await
    }
}

async fn drop_database(admin_url: &str, name: &str) -> Result<()> {
    if let Ok(mut open) = OPEN.lock() {
        open.retain(|(_, n)| n != name);
    }
    let mut conn = admin(admin_url).await?;
    // FORCE: a killed server's connections may not have closed yet.
    within(conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str()))
        .await
        .with_context(|| format!("dropping {name}"))?;
    let _ = conn.close().await;
    Ok(())
}

/// Drops every database still open (after Ctrl-C abandoned a run).
pub async fn drop_open() {
    let open: Vec<(String, String)> = OPEN.lock().map(|o| o.clone()).unwrap_or_default();
    for (admin_url, name) in open {
        if let Err(e) = drop_database(&admin_url, &name).await {
            eprintln!("feegate-bench: could not drop {name}: {e:#}");
        }
    }
}
