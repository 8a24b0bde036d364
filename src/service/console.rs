//! What the finance console reads: the day at a glance ([`today`], with the days not closed
//! and the gateways whose status queries fail, [`gateway_health`]), the payment search
//! ([`search`]), one payment with everything recorded about it ([`payment`]) and the
//! refunds ([`refunds`]); and the console's own forms on a payment: a refund with a per-form
//! idempotency key ([`refund`]) and a webhook redelivery ([`redeliver`]). Staff only; a
//! caller bound to agencies sees and acts only on theirs (another agency's payment is "not
//! found", as a missing one).

use crate::app::AppState;
use crate::domain::payment::PaymentStatus;
use crate::domain::receipt::ReceiptView;
use crate::service::caller::{Principal, Role};
use crate::service::error::{Code, Error};
use crate::service::recon::{day_bounds, parse_date};
use crate::service::view::PaymentView;
use crate::store::audit::AuditRow;
use crate::store::console::CallbackRow;
/// A refund as the refunds page lists it (with its payment's dossier and agency).
pub use crate::store::console::RefundListRow;
use crate::store::outbox::{DeliveryRow, OutboxRow};
use crate::store::payments::{AttemptRow, CollectedRow, EventRow, PaymentFilter, PaymentRow};
use crate::store::receipt_jobs::ReceiptJobRow;
use crate::store::refunds::RefundRow;

/// Who may read the console: every staff role.
const READERS: &[Role] = &[Role::Admin, Role::Finance, Role::Viewer];

/// Who may act on a payment from the console: refund, record a payout, redeliver.
const ACTORS: &[Role] = &[Role::Admin, Role::Finance];

/// The most days not closed Today lists.
const UNCLOSED_DAYS: i64 = 20;

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
    /// Days with a reconciliation run that are not closed, newest first (source, day);
    /// `None` for a caller bound to agencies (days are per source, like cases).
    pub unclosed_days: Option<Vec<(String, String)>>,
    /// The gateways with attempts whose status queries fail (see [`gateway_health`]).
    pub failing_gateways: Vec<GatewayHealth>,
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
    let unclosed_days = match scope {
        Some(_) => None,
        None => Some(store.unclosed_days(UNCLOSED_DAYS).await?),
    };
    let failing_gateways = gateway_health(state, who).await?.into_iter().filter(|g| g.unresolved > 0).collect();
    Ok(Today { date, collected, waiting, failed_webhooks, open_cases, unclosed_days, failing_gateways })
}

/// A gateway (connector) and its attempts whose status queries fail: left `unknown`, or
/// still `pending` after [`crate::store::console::FAILING_AFTER_QUERIES`] queries of the
/// resolver. Counted over the caller's agencies' payments.
#[derive(Debug, Clone)]
pub struct GatewayHealth {
    pub connector_id: String,
    /// The display name, or the id of a connector no longer configured.
    pub name: String,
    pub unresolved: i64,
    /// Of which left `unknown`.
    pub unknown: i64,
    /// The most status queries made for one of them.
    pub max_queries: i64,
    /// When the oldest of them was made (unix ms).
    pub oldest: Option<i64>,
}

/// Every configured gateway with its attempts whose status queries fail (none: healthy),
/// then any gateway no longer configured that still has some. For Today and the
/// administration's connector health.
pub async fn gateway_health(state: &AppState, who: &Principal) -> Result<Vec<GatewayHealth>, Error> {
    who.require(READERS)?;
    let mut rows = state.store.unresolved_attempts(who.agencies.as_deref()).await?;
    let mut out = Vec::new();
    for (id, name) in gateways(state) {
        let r = rows.iter().position(|r| r.connector_id == id).map(|i| rows.remove(i));
        out.push(GatewayHealth {
            unresolved: r.as_ref().map_or(0, |r| r.unresolved),
            unknown: r.as_ref().map_or(0, |r| r.unknown),
            max_queries: r.as_ref().map_or(0, |r| r.max_queries),
            oldest: r.and_then(|r| r.oldest),
            connector_id: id,
            name,
        });
    }
    out.extend(rows.into_iter().map(|r| GatewayHealth {
        name: r.connector_id.clone(),
        connector_id: r.connector_id,
        unresolved: r.unresolved,
        unknown: r.unknown,
        max_queries: r.max_queries,
        oldest: r.oldest,
    }));
    Ok(out)
}

/// A payment search as typed in the form: every field optional, empty means "any".
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
pub struct Search {
    #[serde(default)]
    pub dossier: String,
    #[serde(default)]
    pub reference: String,
    /// Part of the payer's name or identity number (CCCD).
    #[serde(default)]
    pub payer: String,
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
    /// `1`: only payments with an attempt whose status queries fail (Today's gateways).
    #[serde(default)]
    pub unresolved: String,
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
    let limits = [
        ("dossier", &s.dossier, 64),
        ("reference", &s.reference, 64),
        ("payer", &s.payer, 100),
        ("agency", &s.agency, 40),
    ];
    for (name, v, max) in limits {
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
        payer: field(&s.payer),
        webhook_failed: s.webhook_failed == "1",
        unresolved_attempts: s.unresolved == "1",
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
    /// The gateways' verified messages about its attempts, oldest first.
    pub callbacks: Vec<CallbackRow>,
    /// Its webhook events with their delivery attempts, oldest first.
    pub webhooks: Vec<(OutboxRow, Vec<DeliveryRow>)>,
    /// What is left to refund of its own collection (0 unless paid).
    pub refundable: i64,
    /// Its receipts, each with its external provider's part and the provider jobs behind it
    /// (none when its agency has no provider).
    pub receipts: Vec<(ReceiptView, Vec<ReceiptJobRow>)>,
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
    let callbacks = store.verified_callbacks(&row.id, 200).await?;
    let mut webhooks: Vec<(OutboxRow, Vec<DeliveryRow>)> =
        crate::service::events::list(state, who, Some(row.id.clone()), None, 200)
            .await?
            .into_iter()
            .map(|e| (e.event, e.deliveries))
            .collect();
    webhooks.reverse();
    let receipts = crate::service::receipt_jobs::of_payment(state, &row.id).await?;
    let refundable = match row.status {
        PaymentStatus::Succeeded | PaymentStatus::PartiallyRefunded => {
            (row.amount - store.reserved_refunds(&row.id).await?).max(0)
        }
        _ => 0,
    };
    Ok(PaymentDetail {
        row,
        view,
        agency_name,
        lines,
        attempts,
        events,
        refunds,
        audit,
        callbacks,
        webhooks,
        refundable,
        receipts,
    })
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

/// Refunds in `who`'s scope: the open ones and the latest settled ones.
#[derive(Debug, Clone)]
pub struct RefundLists {
    /// `pending` (at the gateway) and `pending_manual` (finance pays out by hand), oldest first.
    pub open: Vec<RefundListRow>,
    /// The latest 50 `succeeded` or `failed`, newest first.
    pub settled: Vec<RefundListRow>,
}

/// The refunds of the Refunds page.
pub async fn refunds(state: &AppState, who: &Principal) -> Result<RefundLists, Error> {
    who.require(READERS)?;
    let scope = who.agencies.as_deref();
    let open = state.store.console_refunds(true, scope, 500).await?;
    let settled = state.store.console_refunds(false, scope, 50).await?;
    Ok(RefundLists { open, settled })
}

/// A refund amount as a person types it: whole đồng, digits, optionally grouped by
/// thousands with dots (Vietnamese) or commas (`135.000`, `135,000`, `135 000`); a
/// trailing `₫` or `đ` is allowed. `1.5` or `1,50` are not whole đồng and are refused, never
/// read as 1 or 15.
pub fn parse_dong(text: &str) -> Result<i64, Error> {
    let bad = || {
        Error::new(Code::InvalidAmount, "the amount is a whole number of đồng above 0, such as 135000 or 135.000")
            .with_field("amount")
    };
    let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let t = t.trim_end_matches(['₫', 'đ']);
    let grouped = |sep: char| {
        let mut parts = t.split(sep);
        let first = parts.next().unwrap_or("");
        let rest: Vec<&str> = parts.collect();
        !rest.is_empty()
            && (1..=3).contains(&first.len())
            && first.bytes().all(|b| b.is_ascii_digit())
            && rest.iter().all(|p| p.len() == 3 && p.bytes().all(|b| b.is_ascii_digit()))
    };
    let digits = if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        t.to_owned()
    } else if grouped('.') || grouped(',') {
        t.replace(['.', ','], "")
    } else {
        return Err(bad());
    };
    let n: i64 = digits.parse().map_err(|_| bad())?;
    if n <= 0 || n > crate::domain::money::MAX_AMOUNT {
        return Err(bad());
    }
    Ok(n)
}

/// A refund made from a payment's page.
#[derive(Debug, Clone)]
pub struct RefundMade {
    pub id: String,
    /// `succeeded`, `pending`, `failed` or `pending_manual`.
    pub status: String,
}

/// Refunds `amount` (as typed, [`parse_dong`]) of a payment's own collection for `reason`,
/// through [`crate::service::refunds::create`] (role, scope, the race-free reservation,
/// the journal under `staff:<username>`). `form_key` is the form's idempotency key: the
/// same form sent twice (a double click) makes one refund and answers it again.
pub async fn refund(
    state: &AppState,
    who: &Principal,
    payment_id: &str,
    amount: &str,
    reason: &str,
    form_key: &str,
) -> Result<RefundMade, Error> {
    who.require(ACTORS)?;
    crate::service::payments::visible(state, who, payment_id).await?;
    let amount = parse_dong(amount)?;
    let key = crate::service::payments::idempotency_key(Some(form_key))?;
    let body = serde_json::json!({"amount": amount.to_string(), "reason": reason});
    let stored = crate::service::refunds::create(state, who, payment_id, &body, key).await?;
    let v: serde_json::Value = serde_json::from_str(&stored.body).map_err(Error::internal)?;
    let id = v["id"].as_str().unwrap_or_default();
    // A replayed answer is the refund as it was first taken: read where it stands now.
    let r = state.store.refund(id).await?.ok_or_else(|| Error::not_found("refund"))?;
    Ok(RefundMade { id: r.id, status: r.status })
}

/// Delivers a payment's webhook event again now, through
/// [`crate::service::events::redeliver`] (audited under `staff:<username>`). Finance and
/// admin only, in their scope; an event of another payment is "not found".
pub async fn redeliver(state: &AppState, who: &Principal, payment_id: &str, event_id: &str) -> Result<(), Error> {
    who.require(ACTORS)?;
    crate::service::payments::visible(state, who, payment_id).await?;
    match state.store.outbox_event(event_id).await? {
        Some(e) if e.payment_id == payment_id => {}
        _ => return Err(Error::not_found("event")),
    }
    crate::service::events::redeliver(state, who, event_id).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_dong;

    #[test]
    fn a_typed_amount_is_whole_dong_grouped_by_thousands_or_refused() {
        for (text, want) in [
            ("135000", 135000),
            (" 135.000 ", 135000),
            ("135,000", 135000),
            ("1 350 000 ₫", 1350000),
            ("1.350.000đ", 1350000),
            ("7", 7),
        ] {
            assert_eq!(parse_dong(text), Ok(want), "{text}");
        }
        for text in [
            "",
            "0",
            "000",
            "1.5",
            "1,50",
            "12.34",
            "1.0000",
            "abc",
            "-5",
            "1e3",
            "135.000,00",
            "1.000,000",
            "99999999999999999999",
        ] {
            assert!(parse_dong(text).is_err(), "{text}");
        }
        assert!(parse_dong("1000000000001").is_err(), "above the largest amount");
    }
}
