//! Reconciliation cases and closed days. A case is derived from what is already stored:
//! every non-`matched` item of the latest run of a (source, business day), and every
//! review of a payment (`reviews`, one row each); only its resolution is written here
//! (`case_resolutions`), once.

use super::types::{Millis, OptMillis};
use super::{Result, Store, Tx};
use sqlx::FromRow;

/// Whether a listing wants open cases, resolved ones, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseStatus {
    Open,
    Resolved,
    All,
}

impl CaseStatus {
    fn as_str(self) -> &'static str {
        match self {
            CaseStatus::Open => "open",
            CaseStatus::Resolved => "resolved",
            CaseStatus::All => "all",
        }
    }
}

/// Which cases to read: empty strings and `None` mean "any".
#[derive(Debug, Clone)]
pub struct CaseFilter {
    pub status: CaseStatus,
    pub source: Option<String>,
    pub date: Option<String>,
    /// `[start, end)` in unix ms of `date` as a GMT+7 day (for review cases).
    pub day: Option<(i64, i64)>,
    pub limit: i64,
}

/// A non-matched run item, with its run and its resolution if any.
#[derive(Debug, Clone, FromRow)]
pub struct ItemCaseRow {
    pub id: String,
    pub run_id: String,
    pub source: String,
    pub business_date: String,
    /// The run's kind: `settlement` or `statement`.
    pub run_kind: String,
    /// For a statement run, the agency account it is of.
    pub account_id: Option<String>,
    pub item_kind: String,
    pub reference: String,
    pub gateway_txn: Option<String>,
    pub amount_file: Option<i64>,
    pub amount_feegate: Option<i64>,
    pub outcome: String,
    pub reason: String,
    pub payment_id: Option<String>,
    #[sqlx(try_from = "Millis")]
    pub opened_at: i64,
    pub resolution_code: Option<String>,
    pub note: Option<String>,
    pub resolved_by: Option<String>,
    #[sqlx(try_from = "OptMillis")]
    pub resolved_at: Option<i64>,
}

/// One review of a payment, with its resolution if any.
#[derive(Debug, Clone, FromRow)]
pub struct ReviewCaseRow {
    /// The payment's id.
    pub id: String,
    /// The review's id: the case id (`rev_...`; a review carried over from before
    /// reviews had their own rows has the payment's id).
    pub review_id: String,
    pub review_reason: String,
    pub review_detail: String,
    #[sqlx(try_from = "Millis")]
    pub review_opened_at: i64,
    pub amount: i64,
    pub status: String,
    /// The connector of the payment's latest attempt.
    pub source: Option<String>,
    pub resolution_code: Option<String>,
    pub note: Option<String>,
    pub resolved_by: Option<String>,
    #[sqlx(try_from = "OptMillis")]
    pub resolved_at: Option<i64>,
}

/// A closed day.
#[derive(Debug, Clone, FromRow)]
pub struct DayRow {
    pub source: String,
    pub business_date: String,
    pub closed_by: String,
    #[sqlx(try_from = "Millis")]
    pub closed_at: i64,
}

/// A resolution to write.
#[derive(Debug, Clone)]
pub struct Resolution<'a> {
    pub case_id: &'a str,
    pub code: &'a str,
    pub note: &'a str,
    pub resolved_by: &'a str,
    pub resolved_at: i64,
}

/// `r` is the latest run of its (source, business day): no run of that day is newer.
pub(crate) const LATEST_RUN: &str = "NOT EXISTS (SELECT 1 FROM recon_runs n WHERE n.source = r.source \
    AND n.business_date = r.business_date AND (n.created_at > r.created_at \
    OR (n.created_at = r.created_at AND (n.version > r.version OR (n.version = r.version AND n.id > r.id)))))";

const ITEM_SELECT: &str = "SELECT i.id, i.run_id, r.source, r.business_date, r.kind AS run_kind, r.account_id, \
    i.kind AS item_kind, i.reference, i.gateway_txn, i.amount_file, i.amount_feegate, i.outcome, i.reason, \
    i.payment_id, r.created_at AS opened_at, c.resolution_code, c.note, c.resolved_by, c.resolved_at \
    FROM recon_items i JOIN recon_runs r ON r.id = i.run_id LEFT JOIN case_resolutions c ON c.case_id = i.id";

/// Items that are cases of the wanted status: `$1` status, `$2` source, `$3` date.
fn item_where() -> String {
    format!(
        "i.outcome <> 'matched' AND ($2 = '' OR r.source = $2) AND ($3 = '' OR r.business_date = $3) AND \
         (($1 = 'open' AND c.case_id IS NULL AND {LATEST_RUN}) OR ($1 = 'resolved' AND c.case_id IS NOT NULL) \
         OR ($1 = 'all' AND (c.case_id IS NOT NULL OR {LATEST_RUN})))"
    )
}

/// Reviews with their payment and the connector of its latest attempt as `source`.
const REVIEW_INNER: &str = "SELECT p.id, v.id AS review_id, v.reason AS review_reason, v.detail AS review_detail, \
    v.opened_at AS review_opened_at, p.amount, p.status, \
    (SELECT a.connector_id FROM attempts a WHERE a.payment_id = p.id ORDER BY a.created_at DESC, a.id DESC LIMIT 1) \
    AS source, c.resolution_code, c.note, c.resolved_by, c.resolved_at \
    FROM reviews v JOIN payments p ON p.id = v.payment_id LEFT JOIN case_resolutions c ON c.case_id = v.id";

/// Reviews of the wanted status: `$1` status, `$2` source, `$3`/`$4` the day's bounds
/// (NULL for any day).
const REVIEW_WHERE: &str = "($2 = '' OR x.source = $2) \
    AND ($3 IS NULL OR (x.review_opened_at >= $3 AND x.review_opened_at < $4)) \
    AND (($1 = 'open' AND x.resolved_at IS NULL) OR ($1 = 'resolved' AND x.resolved_at IS NOT NULL) OR $1 = 'all')";

/// Open cases of `source` on `date`: run items, then reviews in the day's bounds. `$conn` is a
/// native `&mut` connection.
macro_rules! count_open {
    ($conn:ident, $source:expr, $date:expr, $day:expr) => {{
        let (source, date, day): (&str, &str, (i64, i64)) = ($source, $date, $day);
        let (items,): (i64,) = sqlx::query_as(&format!(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM recon_items i JOIN recon_runs r ON r.id = i.run_id \
         LEFT JOIN case_resolutions c ON c.case_id = i.id WHERE {}",
            item_where()
        ))
        .bind("open")
        .bind(source)
        .bind(date)
        .fetch_one(&mut *$conn)
        .await?;
        let (reviews,): (i64,) =
            sqlx::query_as(&format!("SELECT CAST(COUNT(*) AS BIGINT) FROM ({REVIEW_INNER}) x WHERE {REVIEW_WHERE}"))
                .bind("open")
                .bind(source)
                .bind(Millis(day.0))
                .bind(Millis(day.1))
                .fetch_one(&mut *$conn)
                .await?;
        Ok(items + reviews)
    }};
}

impl Store {
    /// Run items that are cases, by business day, source and file order.
    pub async fn item_cases(&self, f: &CaseFilter) -> Result<Vec<ItemCaseRow>> {
        Ok(on_pool!(self, |db| sqlx::query_as(&format!(
            "{ITEM_SELECT} WHERE {} ORDER BY r.business_date, r.source, i.run_id, i.idx LIMIT $4",
            item_where()
        ))
        .bind(f.status.as_str())
        .bind(f.source.as_deref().unwrap_or(""))
        .bind(f.date.as_deref().unwrap_or(""))
        .bind(f.limit)
        .fetch_all(db)
        .await)?)
    }

    /// Reviews that are cases, oldest first.
    pub async fn review_cases(&self, f: &CaseFilter) -> Result<Vec<ReviewCaseRow>> {
        Ok(on_pool!(self, |db| sqlx::query_as(&format!(
            "SELECT x.* FROM ({REVIEW_INNER}) x WHERE {REVIEW_WHERE} ORDER BY x.review_opened_at, x.review_id LIMIT $5"
        ))
        .bind(f.status.as_str())
        .bind(f.source.as_deref().unwrap_or(""))
        .bind(f.day.map(|d| Millis(d.0)))
        .bind(f.day.map(|d| Millis(d.1)))
        .bind(f.limit)
        .fetch_all(db)
        .await)?)
    }

    /// How many cases of `source` on `date` (GMT+7 bounds `day`) are open, read in `tx`.
    pub async fn open_case_count(&self, tx: &mut Tx, source: &str, date: &str, day: (i64, i64)) -> Result<i64> {
        on_tx!(tx, |db| count_open!(db, source, date, day))
    }

    /// The same count outside a transaction (for listings).
    pub async fn open_case_count_now(&self, source: &str, date: &str, day: (i64, i64)) -> Result<i64> {
        on_pool!(self, |db| {
            let mut conn = db.acquire().await?;
            let conn = &mut *conn;
            count_open!(conn, source, date, day)
        })
    }

    /// The run item with this id if it is a case (not matched), whatever its run.
    pub async fn item_case(&self, tx: &mut Tx, id: &str) -> Result<Option<ItemCaseRow>> {
        Ok(on_tx!(tx, |db| sqlx::query_as(&format!("{ITEM_SELECT} WHERE i.id = $1 AND i.outcome <> 'matched'"))
            .bind(id)
            .fetch_optional(db)
            .await)?)
    }

    /// The review with this case id. A payment's id (how review cases were named before
    /// each review had its own row) names the payment's oldest open review, or its first
    /// review when none is open.
    pub async fn review_case(&self, tx: &mut Tx, id: &str) -> Result<Option<ReviewCaseRow>> {
        let sql = if id.starts_with("pay_") {
            format!(
                "SELECT x.* FROM ({REVIEW_INNER}) x WHERE x.id = $1 \
                 ORDER BY CASE WHEN x.resolved_at IS NULL THEN 0 ELSE 1 END, x.review_opened_at, x.review_id LIMIT 1"
            )
        } else {
            format!("SELECT x.* FROM ({REVIEW_INNER}) x WHERE x.review_id = $1")
        };
        Ok(on_tx!(tx, |db| sqlx::query_as(&sql).bind(id).fetch_optional(db).await)?)
    }

    /// Writes a resolution; `false` if the case already has one (the first one stands).
    pub async fn insert_resolution(&self, tx: &mut Tx, r: &Resolution<'_>) -> Result<bool> {
        let done = on_tx!(tx, |db| sqlx::query(
            "INSERT INTO case_resolutions (case_id, resolution_code, note, resolved_by, resolved_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (case_id) DO NOTHING",
        )
        .bind(r.case_id)
        .bind(r.code)
        .bind(r.note)
        .bind(r.resolved_by)
        .bind(Millis(r.resolved_at))
        .execute(db)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// Whether any file was imported for `source` on `date`, read in `tx`.
    pub async fn has_run(&self, tx: &mut Tx, source: &str, date: &str) -> Result<bool> {
        let row: Option<(String,)> = on_tx!(tx, |db| sqlx::query_as(
            "SELECT id FROM recon_runs WHERE source = $1 AND business_date = $2 LIMIT 1"
        )
        .bind(source)
        .bind(date)
        .fetch_optional(db)
        .await)?;
        Ok(row.is_some())
    }

    /// Marks a day closed (the caller holds the day's lock and found it open).
    pub async fn insert_closed_day(&self, tx: &mut Tx, d: &DayRow) -> Result<()> {
        on_tx!(tx, |db| sqlx::query(
            "INSERT INTO recon_days (source, business_date, closed_by, closed_at) VALUES ($1, $2, $3, $4)"
        )
        .bind(&d.source)
        .bind(&d.business_date)
        .bind(&d.closed_by)
        .bind(Millis(d.closed_at))
        .execute(db)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Locks a source's day until the transaction ends (its close against its imports)
    /// and answers its closed record, if it is closed.
    pub async fn lock_day(&self, tx: &mut Tx, source: &str, date: &str) -> Result<Option<DayRow>> {
        self.xact_lock(tx, &format!("recon-day:{source}:{date}")).await?;
        Ok(on_tx!(tx, |db| {
            sqlx::query_as(
            "SELECT source, business_date, closed_by, closed_at FROM recon_days WHERE source = $1 AND business_date = $2",
        )
        .bind(source)
        .bind(date)
        .fetch_optional(db)
        .await
        })?)
    }

    /// The closed record of a day, if it is closed.
    pub async fn closed_day(&self, source: &str, date: &str) -> Result<Option<DayRow>> {
        Ok(on_pool!(self, |db| {
            sqlx::query_as(
            "SELECT source, business_date, closed_by, closed_at FROM recon_days WHERE source = $1 AND business_date = $2",
        )
        .bind(source)
        .bind(date)
        .fetch_optional(db)
        .await
        })?)
    }

    /// Days that have a run, newest first: (source, business date).
    pub async fn recon_day_list(
        &self,
        source: Option<&str>,
        date: Option<&str>,
        limit: i64,
    ) -> Result<Vec<(String, String)>> {
        Ok(on_pool!(self, |db| sqlx::query_as(
            "SELECT source, business_date FROM recon_runs WHERE ($1 = '' OR source = $1) \
             AND ($2 = '' OR business_date = $2) GROUP BY source, business_date \
             ORDER BY business_date DESC, source LIMIT $3",
        )
        .bind(source.unwrap_or(""))
        .bind(date.unwrap_or(""))
        .bind(limit)
        .fetch_all(db)
        .await)?)
    }
}
