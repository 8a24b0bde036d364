//! What the finance console reads: the day at a glance ([`today`]), the payment search
//! ([`search`]) and one payment with everything recorded about it ([`payment`]). Staff
//! only; a caller bound to agencies sees only theirs (another agency's payment is "not
//! found", as a missing one).

use crate::app::AppState;
use crate::domain::payment::PaymentStatus;
use crate::service::caller::{Principal, Role};
use crate::service::error::{Code, Error};
use crate::service::recon::{day_bounds, parse_date};
use crate::service::view::PaymentView;
use crate::store::audit::AuditRow;
use crate::store::payments::{AttemptRow, CollectedRow, EventRow, PaymentFilter, PaymentRow};
use crate::store::refunds::RefundRow;

/// Who may read the console: every staff role.
const READERS: &[Role] = &[Role::Admin, Role::Finance, Role::Viewer];

/// Rows of a payment search page.
pub const PAGE_SIZE: i64 = 50;

/// The day at a glance.
#[derive(Debug, Clone)]
pub struct Today {
    /// The GMT+7 business day, `YYYY-MM-DD`.
    pub date: String,
    /// Paid today per agency and gateway.
    pub collected: Vec<CollectedRow>,
    /// Payments a payer has started and not finished (`pending`).
    pub waiting: i64,
    /// Payments whose portal webhook could not be delivered.
    pub failed_webhooks: i64,
    /// Open reconciliation cases; `None` for a caller bound to agencies (cases are per
    /// gateway or bank source, not yet per agency).
    pub open_cases: Option<i64>,
}

/// Today (GMT+7) for `who`.
pub async fn today(state: &AppState, who: &Principal) -> Result<Today, Error> {
    who.require(READERS)?;
    let store = &state.store;
    let now = crate::store::now_ms();
    let date = crate::service::cases::gmt7_day(now);
    let (from, to) = day_bounds(parse_date(&date)?);
    let scope = who.agencies.as_deref();
    let collected = store.collected_between(from, to, scope).await?;
    let waiting = store.count_payments_in(PaymentStatus::Pending, scope).await?;
    let failed_webhooks = store.count_failed_webhook_payments(scope).await?;
    let open_cases = match scope {
        Some(_) => None,
        None => {
            let f = crate::store::cases::CaseFilter {
                status: crate::store::cases::CaseStatus::Open,
                source: None,
                date: None,
                day: None,
                limit: 5000,
            };
            Some((store.item_cases(&f).await?.len() + store.review_cases(&f).await?.len()) as i64)
        }
    };
    Ok(Today { date, collected, waiting, failed_webhooks, open_cases })
}

/// A payment search as typed in the form: every field optional, empty means "any".
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
pub struct Search {
    #[serde(default)]
    pub dossier: String,
    #[serde(default)]
    pub reference: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub agency: String,
    #[serde(default)]
    pub gateway: String,
    /// Created from this GMT+7 day (`YYYY-MM-DD`), inclusive.
    #[serde(default)]
    pub from: String,
    /// Created up to this GMT+7 day, inclusive.
    #[serde(default)]
    pub to: String,
    /// Paid on this GMT+7 day (the links of the Today page).
    #[serde(default)]
    pub paid_on: String,
    /// `1`: only payments whose webhook failed.
    #[serde(default)]
    pub webhook_failed: String,
    /// The keyset cursor of the next page (`<created_at>_<id>`).
    #[serde(default)]
    pub after: String,
}

fn field(v: &str) -> Option<String> {
    let v = v.trim();
    (!v.is_empty()).then(|| v.to_owned())
}

fn day(name: &str, v: &str) -> Result<Option<(i64, i64)>, Error> {
    match field(v) {
        None => Ok(None),
        Some(d) => Ok(Some(day_bounds(parse_date(&d).map_err(|e| e.with_field(name))?))),
    }
}

/// One page of payments matching `s`, newest first, and the cursor of the next page.
pub async fn search(state: &AppState, who: &Principal, s: &Search) -> Result<(Vec<PaymentRow>, Option<String>), Error> {
    who.require(READERS)?;
    for (name, v, max) in [("dossier", &s.dossier, 64), ("reference", &s.reference, 64), ("agency", &s.agency, 40)] {
        if v.chars().count() > max {
            return Err(Error::new(Code::InvalidQuery, format!("{name}: at most {max} characters")).with_field(name));
        }
    }
    let status = field(&s.status);
    if let Some(st) = &status {
        if PaymentStatus::parse(st).is_none() {
            return Err(Error::new(Code::InvalidQuery, "unknown status").with_field("status"));
        }
    }
    let gateway = field(&s.gateway);
    if let Some(g) = &gateway {
        if state.connectors.get(g).is_none() {
            return Err(Error::new(Code::InvalidQuery, "unknown gateway").with_field("gateway"));
        }
    }
    let after = match field(&s.after) {
        None => None,
        Some(c) => {
            let parsed = c.split_once('_').and_then(|(t, id)| Some((t.parse::<i64>().ok()?, id.to_owned())));
            Some(parsed.ok_or_else(|| Error::new(Code::InvalidCursor, "not a page of ours").with_field("after"))?)
        }
    };
    let from = day("from", &s.from)?.map(|d| d.0);
    let to = day("to", &s.to)?.map(|d| d.1);
    let paid = day("paid_on", &s.paid_on)?;
    let f = PaymentFilter {
        portal_id: None,
        dossier_code: field(&s.dossier),
        status,
        agency_code: field(&s.agency),
        created_from: from,
        created_to: to,
        agencies: who.agencies.clone(),
        reference: field(&s.reference).map(|r| r.to_uppercase()),
        connector_id: gateway,
        paid_from: paid.map(|d| d.0),
        paid_to: paid.map(|d| d.1),
        webhook_failed: s.webhook_failed == "1",
        after,
        limit: PAGE_SIZE + 1,
    };
    let mut rows = state.store.list_payments(&f).await?;
    let next = if rows.len() as i64 > PAGE_SIZE {
        rows.truncate(PAGE_SIZE as usize);
        rows.last().map(|r| format!("{}_{}", r.created_at, r.id))
    } else {
        None
    };
    Ok((rows, next))
}

/// A line with the account it is routed to.
#[derive(Debug, Clone)]
pub struct RoutedLine {
    pub kind: String,
    pub code: String,
    pub description: String,
    pub amount: i64,
    /// `Bank name · number · holder`, or the account id if it is gone.
    pub account: String,
}

/// One payment and everything recorded about it.
#[derive(Debug, Clone)]
pub struct PaymentDetail {
    pub row: PaymentRow,
    pub view: PaymentView,
    pub agency_name: String,
    pub lines: Vec<RoutedLine>,
    pub attempts: Vec<AttemptRow>,
    pub events: Vec<EventRow>,
    pub refunds: Vec<RefundRow>,
    pub audit: Vec<AuditRow>,
}

/// A payment `who` may see, with its lines, attempts, events, refunds and audit entries.
pub async fn payment(state: &AppState, who: &Principal, id: &str) -> Result<PaymentDetail, Error> {
    who.require(READERS)?;
    let row = crate::service::payments::visible(state, who, id).await?;
    let store = &state.store;
    let view = crate::service::payments::view(state, &row).await?;
    let accounts = store.accounts(&row.agency_code).await?;
    let agency_name = store.agency(&row.agency_code).await?.map(|a| a.name).unwrap_or_default();
    let lines = store
        .lines(&row.id)
        .await?
        .into_iter()
        .map(|l| {
            let account = accounts
                .iter()
                .find(|a| a.id == l.account_id)
                .map(|a| format!("{} · {} · {}", a.bank_name, a.account_number, a.account_name))
                .unwrap_or_else(|| l.account_id.clone());
            RoutedLine { kind: l.kind, code: l.code, description: l.description, amount: l.amount, account }
        })
        .collect();
    let attempts = store.attempts(&row.id).await?;
    let events = store.events(&row.id).await?;
    let refunds = store.refunds(&row.id).await?;
    let audit = store.audit_entries(&row.id).await?;
    Ok(PaymentDetail { row, view, agency_name, lines, attempts, events, refunds, audit })
}

/// The agencies `who` may pick in the search form (code, name).
pub async fn agencies(state: &AppState, who: &Principal) -> Result<Vec<(String, String)>, Error> {
    who.require(READERS)?;
    Ok(crate::service::admin::agencies(&state.store)
        .await?
        .into_iter()
        .filter(|a| who.sees_agency(&a.code))
        .map(|a| (a.code, a.name))
        .collect())
}

/// The gateways configured (id, display name), for the search form.
pub fn gateways(state: &AppState) -> Vec<(String, String)> {
    state.connectors.all().map(|a| (a.connector.id().to_owned(), a.connector.display_name().to_owned())).collect()
}
