//! Reports (DESIGN §8): the settlement report (per agency account and GMT+7 day: what
//! feegate expects, what each gateway settled, what the statement credited, the
//! differences and the open cases) and the monthly summary (per agency, fee kind,
//! procedure and gateway). This module builds their figures (the numbers that tie out);
//! [`render`] turns a report into CSV a spreadsheet opens or an aligned terminal table (the
//! API answers JSON itself).
//!
//! A refund of a multi-line payment is split across the payment's lines in proportion to
//! their amounts (largest remainder, ties to the earlier line), cumulatively: refund k
//! takes `split(r1 + ... + rk) - split(r1 + ... + r(k-1))`, so the refunds of a payment
//! never take more from a line than it carried, and a full refund gives every line back
//! exactly. A settlement line whose amount is not the payment's is split the same way.
//!
//! A duplicate collection (an attempt that succeeded but did not pay its payment) is not
//! the payment's money: `paid` counts the payment once, so a refund of a duplicate is not
//! in `refunded` either. It is money out of that attempt's collection: the gateway's file
//! settles the duplicate's pay and its refund, which net to what is left of it, and its
//! refunds are split cumulatively among themselves, apart from the payment's.

use crate::app::AppState;
use crate::domain::money::{refund_line_shares, split};
use crate::service::caller::{Principal, Role};
use crate::service::error::Code;
use crate::service::error::Error;
use crate::service::recon::{day_bounds, parse_date};
use crate::store::cases::{CaseFilter, CaseStatus};
use crate::store::reports::{AccountInfo, LineInfo, RefundInfo};
use crate::store::Store;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub mod render;
pub mod xlsx;

const READERS: &[Role] = &[Role::Finance, Role::Admin, Role::Viewer];

/// Each refund's share of its payment's lines (same order as the lines), by the
/// cumulative rule of this module's doc ([`refund_line_shares`]), the refunds of a payment
/// in the order they succeeded.
pub fn refund_shares(lines: &[LineInfo], refunds: &[RefundInfo]) -> HashMap<String, Vec<i64>> {
    // The payment's own refunds, and each duplicate collection's, are split apart.
    let mut by_payment: HashMap<(&str, Option<&str>), Vec<&RefundInfo>> = HashMap::new();
    for r in refunds {
        by_payment.entry((r.payment_id.as_str(), r.duplicate_attempt_id.as_deref())).or_default().push(r);
    }
    let mut lines_of: HashMap<&str, Vec<&LineInfo>> = HashMap::new();
    for l in lines {
        lines_of.entry(l.payment_id.as_str()).or_default().push(l);
    }
    let mut out = HashMap::new();
    for ((pid, _), mut rs) in by_payment {
        let Some(ls) = lines_of.get(pid) else { continue };
        // A leg of a transfer to several accounts brought only its account's lines: the
        // refunds of such a duplicate are split over those lines alone.
        let only = rs.first().and_then(|r| r.duplicate_account_id.as_deref());
        let weights: Vec<i64> =
            ls.iter().map(|l| if only.is_none_or(|a| a == l.account_id) { l.amount } else { 0 }).collect();
        rs.sort_by(|a, b| (a.updated_at, &a.id).cmp(&(b.updated_at, &b.id)));
        let amounts: Vec<i64> = rs.iter().map(|r| r.amount).collect();
        for (r, share) in rs.iter().zip(refund_line_shares(&weights, &amounts)) {
            out.insert(r.id.clone(), share);
        }
    }
    out
}

/// Each of `refunds`' share routed to `account_id`, by the report's rule
/// ([`refund_shares`]): placed among every succeeded refund of its payment (one not yet
/// succeeded after them all, where its success will fall), split over the payment's lines,
/// the lines routed to the account summed. What a statement expects of a refund, so the
/// statement and the report never differ by a đồng.
pub async fn routed_refund_shares(
    store: &Store,
    account_id: &str,
    refunds: &[RefundInfo],
) -> Result<HashMap<String, i64>, Error> {
    if refunds.is_empty() {
        return Ok(HashMap::new());
    }
    let pids: BTreeSet<String> = refunds.iter().map(|r| r.payment_id.clone()).collect();
    let lines = lines_by_payment(store, &pids).await?;
    let mut all = store.refunds_of(&pids.iter().cloned().collect::<Vec<_>>()).await?;
    let known: BTreeSet<String> = all.iter().map(|r| r.id.clone()).collect();
    all.extend(
        refunds.iter().filter(|r| !known.contains(&r.id)).map(|r| RefundInfo { updated_at: i64::MAX, ..r.clone() }),
    );
    let flat: Vec<LineInfo> = lines.values().flatten().cloned().collect();
    let shares = refund_shares(&flat, &all);
    let mut out = HashMap::new();
    for r in refunds {
        if let (Some(share), Some(ls)) = (shares.get(&r.id), lines.get(&r.payment_id)) {
            let here = ls.iter().zip(share).filter(|(l, _)| l.account_id == account_id).map(|(_, p)| p).sum();
            out.insert(r.id.clone(), here);
        }
    }
    Ok(out)
}

/// One agency account on one day.
#[derive(Debug, Clone, Serialize)]
pub struct AccountDay {
    pub agency_code: String,
    pub agency_name: String,
    pub account_id: String,
    pub bank_name: String,
    pub account_number: String,
    pub account_name: String,
    /// Lines routed to this account of the payments that succeeded this day.
    pub paid: String,
    /// This account's share of the refunds that succeeded this day.
    pub refunded: String,
    /// `paid - refunded`.
    pub expected: String,
    /// Net settled by all gateways (their pays minus their refunds) per the latest
    /// settlement runs of the day.
    pub settled: String,
    /// The same per gateway (every gateway with a settlement run that day).
    pub settled_by_gateway: BTreeMap<String, String>,
    /// Credits minus debits on the account's latest statement of the day; null when no
    /// statement of it was imported for the day.
    pub credited: Option<String>,
    /// `settled - expected`.
    pub difference_settled: String,
    /// `credited - expected`; null without a statement.
    pub difference_credited: Option<String>,
    /// Open cases of the day that concern this account.
    pub open_cases: i64,
}

/// `GET /v1/reports/settlement`.
#[derive(Debug, Clone, Serialize)]
pub struct SettlementReport {
    pub date: String,
    pub agency_code: Option<String>,
    /// Gateways with a settlement run this day.
    pub gateways: Vec<String>,
    pub accounts: Vec<AccountDay>,
    /// Open cases of the day that no account can be named for (a file line feegate does
    /// not know, a statement without an account).
    pub unattributed_open_cases: i64,
}

#[derive(Default)]
struct Sums {
    paid: i64,
    refunded: i64,
    settled: BTreeMap<String, i64>,
    credited: Option<i64>,
    open: i64,
}

/// Lines per payment, in line order.
async fn lines_by_payment(store: &Store, ids: &BTreeSet<String>) -> Result<HashMap<String, Vec<LineInfo>>, Error> {
    let ids: Vec<String> = ids.iter().cloned().collect();
    let mut out: HashMap<String, Vec<LineInfo>> = HashMap::new();
    for l in store.lines_of(&ids).await? {
        out.entry(l.payment_id.clone()).or_default().push(l);
    }
    Ok(out)
}

/// The refunds of a window with their shares, and the lines of their payments.
async fn refunds_with_shares(
    store: &Store,
    start: i64,
    end: i64,
) -> Result<(Vec<RefundInfo>, HashMap<String, Vec<i64>>, HashMap<String, Vec<LineInfo>>), Error> {
    let refunds = store.refunds_succeeded(start, end).await?;
    let pids: BTreeSet<String> = refunds.iter().map(|r| r.payment_id.clone()).collect();
    let lines = lines_by_payment(store, &pids).await?;
    let all = store.refunds_of(&pids.iter().cloned().collect::<Vec<_>>()).await?;
    let flat: Vec<LineInfo> = lines.values().flatten().cloned().collect();
    Ok((refunds, refund_shares(&flat, &all), lines))
}

/// Refuses an agency the caller is not bound to: "not found", as a missing one (a sở's
/// accountant learns nothing of another sở, not even that it is there).
fn scoped_agency<'a>(who: &Principal, agency_code: Option<&'a str>) -> Result<Option<&'a str>, Error> {
    match agency_code {
        Some(a) if !who.sees_agency(a) => Err(Error::not_found("agency")),
        other => Ok(other),
    }
}

/// The settlement report of a GMT+7 day as `who` may see it (finance, admin, viewer): a
/// caller bound to agencies gets only their accounts (asking for another agency is 404) and
/// no count of the open cases no account can be named for (those concern no agency of
/// theirs). The API and the console both come through here.
pub async fn settlement(
    state: &AppState,
    who: &Principal,
    date: &str,
    agency_code: Option<&str>,
) -> Result<SettlementReport, Error> {
    may_read(who)?;
    let agency_code = scoped_agency(who, agency_code)?;
    let mut report = settlement_unscoped(state, date, agency_code).await?;
    if who.agencies.is_some() {
        report.accounts.retain(|a| who.sees_agency(&a.agency_code));
        report.unattributed_open_cases = 0;
    }
    Ok(report)
}

/// Builds the settlement report of a GMT+7 day over every agency (or one): for the
/// operator's CLI, which has no caller to scope; requests go through [`settlement`].
pub async fn settlement_unscoped(
    state: &AppState,
    date: &str,
    agency_code: Option<&str>,
) -> Result<SettlementReport, Error> {
    let (start, end) = day_bounds(parse_date(date)?);
    let store = &state.store;
    let accounts = store.report_accounts(agency_code).await?;
    let mut sums: HashMap<String, Sums> = HashMap::new();
    for (account, amount) in store.paid_by_account(start, end).await? {
        sums.entry(account).or_default().paid += amount;
    }
    let (refunds, shares, lines) = refunds_with_shares(store, start, end).await?;
    for r in refunds.iter().filter(|r| r.duplicate_attempt_id.is_none()) {
        if let (Some(share), Some(ls)) = (shares.get(&r.id), lines.get(&r.payment_id)) {
            for (l, part) in ls.iter().zip(share) {
                sums.entry(l.account_id.clone()).or_default().refunded += part;
            }
        }
    }
    let gateways = store.settlement_sources(date).await?;
    for (source, account, amount) in store.settled_whole(date).await? {
        *sums.entry(account).or_default().settled.entry(source).or_default() += amount;
    }
    let parts = store.settled_parts(date).await?;
    if !parts.is_empty() {
        let pids: BTreeSet<String> = parts.iter().map(|p| p.payment_id.clone()).collect();
        let lines = lines_by_payment(store, &pids).await?;
        let all = store.refunds_of(&pids.iter().cloned().collect::<Vec<_>>()).await?;
        let flat: Vec<LineInfo> = lines.values().flatten().cloned().collect();
        let shares = refund_shares(&flat, &all);
        let amount_of: HashMap<&str, i64> = all.iter().map(|r| (r.id.as_str(), r.amount)).collect();
        for p in &parts {
            let Some(ls) = lines.get(&p.payment_id) else { continue };
            let ours = p.refund_id.as_deref().filter(|id| amount_of.get(id) == Some(&p.amount));
            let split_parts = match ours.and_then(|id| shares.get(id)) {
                Some(share) => share.clone(),
                None => split(p.amount, &ls.iter().map(|l| l.amount).collect::<Vec<_>>()),
            };
            let sign = if p.kind == "refund" { -1 } else { 1 };
            for (l, part) in ls.iter().zip(split_parts) {
                *sums.entry(l.account_id.clone()).or_default().settled.entry(p.source.clone()).or_default() +=
                    sign * part;
            }
        }
    }
    for (account, kind, amount) in store.statement_sums(date).await? {
        let c = sums.entry(account).or_default().credited.get_or_insert(0);
        *c += if kind == "debit" { -amount } else { amount };
    }
    let unattributed = count_open_cases(state, date, (start, end), &mut sums).await?;
    let rows = account_rows(accounts, sums, &gateways, agency_code.is_none());
    Ok(SettlementReport {
        date: date.to_owned(),
        agency_code: agency_code.map(str::to_owned),
        gateways,
        accounts: rows,
        unattributed_open_cases: unattributed,
    })
}

/// The report's row of each account, from its sums; without an agency asked for, only the
/// accounts with something on the day.
fn account_rows(
    accounts: Vec<AccountInfo>,
    mut sums: HashMap<String, Sums>,
    gateways: &[String],
    only_active: bool,
) -> Vec<AccountDay> {
    let mut rows = Vec::new();
    for a in accounts {
        let s = sums.remove(&a.id).unwrap_or_default();
        let settled: i64 = s.settled.values().sum();
        let active = s.paid != 0 || s.refunded != 0 || settled != 0 || s.credited.is_some() || s.open != 0;
        if only_active && !active {
            continue;
        }
        let expected = s.paid - s.refunded;
        rows.push(AccountDay {
            agency_code: a.agency_code,
            agency_name: a.agency_name,
            account_id: a.id,
            bank_name: a.bank_name,
            account_number: a.account_number,
            account_name: a.account_name,
            paid: s.paid.to_string(),
            refunded: s.refunded.to_string(),
            expected: expected.to_string(),
            settled: settled.to_string(),
            settled_by_gateway: gateways
                .iter()
                .map(|g| (g.clone(), s.settled.get(g).copied().unwrap_or(0).to_string()))
                .collect(),
            credited: s.credited.map(|c| c.to_string()),
            difference_settled: (settled - expected).to_string(),
            difference_credited: s.credited.map(|c| (c - expected).to_string()),
            open_cases: s.open,
        });
    }
    rows
}

/// Counts the day's open cases into the accounts they concern; answers how many concern
/// none.
async fn count_open_cases(
    state: &AppState,
    date: &str,
    day: (i64, i64),
    sums: &mut HashMap<String, Sums>,
) -> Result<i64, Error> {
    let store = &state.store;
    let f = CaseFilter {
        status: CaseStatus::Open,
        source: None,
        date: Some(date.to_owned()),
        day: Some(day),
        limit: i64::MAX,
    };
    let items = store.item_cases(&f).await?;
    let reviews = store.review_cases(&f).await?;
    let pids: BTreeSet<String> =
        items.iter().filter_map(|i| i.payment_id.clone()).chain(reviews.iter().map(|r| r.id.clone())).collect();
    let lines = lines_by_payment(store, &pids).await?;
    let mut unattributed = 0;
    let mut count = |accounts: BTreeSet<&String>| {
        if accounts.is_empty() {
            unattributed += 1;
        }
        for a in accounts {
            sums.entry(a.clone()).or_default().open += 1;
        }
    };
    let accounts_of = |pid: &str| -> BTreeSet<&String> {
        lines.get(pid).map(|ls| ls.iter().map(|l| &l.account_id).collect()).unwrap_or_default()
    };
    for i in &items {
        match (&i.payment_id, &i.account_id) {
            (Some(pid), _) => count(accounts_of(pid)),
            (None, Some(acc)) => count(BTreeSet::from([acc])),
            (None, None) => count(BTreeSet::new()),
        }
    }
    for r in &reviews {
        count(accounts_of(&r.id));
    }
    Ok(unattributed)
}

/// One group of the monthly summary.
#[derive(Debug, Clone, Serialize)]
pub struct MonthRow {
    pub agency_code: String,
    pub agency_name: String,
    /// `fee` (phí) or `charge` (lệ phí).
    pub kind: String,
    /// `Phí` or `Lệ phí`.
    pub kind_name: String,
    pub procedure_code: String,
    /// The connector account that took the payments.
    pub gateway: String,
    /// Payments paid this month with a line of this kind.
    pub count: i64,
    /// Their lines of this kind.
    pub amount: String,
    /// This group's share of the refunds that succeeded this month.
    pub refunded: String,
}

/// Totals of an agency and fee kind.
#[derive(Debug, Clone, Serialize)]
pub struct MonthTotal {
    pub agency_code: String,
    pub agency_name: String,
    pub kind: String,
    pub kind_name: String,
    pub count: i64,
    pub amount: String,
    pub refunded: String,
}

/// `GET /v1/reports/monthly`.
#[derive(Debug, Clone, Serialize)]
pub struct MonthlyReport {
    /// `YYYY-MM`.
    pub month: String,
    pub agency_code: Option<String>,
    pub rows: Vec<MonthRow>,
    pub totals: Vec<MonthTotal>,
}

fn kind_name(kind: &str) -> &'static str {
    match kind {
        "fee" => "Phí",
        "charge" => "Lệ phí",
        _ => "",
    }
}

/// `[start, end)` in unix ms of a GMT+7 calendar month `YYYY-MM`.
pub fn month_bounds(month: &str) -> Result<(i64, i64), Error> {
    let bad = || Error::new(Code::InvalidMonth, "month must be YYYY-MM").with_field("month");
    let (y, m) = month.split_once('-').filter(|(y, m)| y.len() == 4 && m.len() == 2).ok_or_else(bad)?;
    let year: i32 = y.parse().map_err(|_| bad())?;
    let m: u8 = m.parse().map_err(|_| bad())?;
    let m = time::Month::try_from(m).map_err(|_| bad())?;
    let first = time::Date::from_calendar_date(year, m, 1).map_err(|_| bad())?;
    let next_year = if m == time::Month::December { year + 1 } else { year };
    let next = time::Date::from_calendar_date(next_year, m.next(), 1).map_err(|_| bad())?;
    Ok((day_bounds(first).0, day_bounds(next).0))
}

/// The monthly summary of a GMT+7 month as `who` may see it: a caller bound to agencies
/// gets only their agencies' rows and totals (asking for another agency is 404).
pub async fn monthly(
    state: &AppState,
    who: &Principal,
    month: &str,
    agency_code: Option<&str>,
) -> Result<MonthlyReport, Error> {
    may_read(who)?;
    let agency_code = scoped_agency(who, agency_code)?;
    let mut report = monthly_unscoped(state, month, agency_code).await?;
    if who.agencies.is_some() {
        report.rows.retain(|r| who.sees_agency(&r.agency_code));
        report.totals.retain(|t| who.sees_agency(&t.agency_code));
    }
    Ok(report)
}

/// The agencies `who` may ask a report of, as (code, name), by code.
pub async fn agencies(state: &AppState, who: &Principal) -> Result<Vec<(String, String)>, Error> {
    may_read(who)?;
    let mut all = state.store.agency_names().await?;
    all.retain(|(code, _)| who.sees_agency(code));
    all.sort();
    Ok(all)
}

/// Builds the monthly summary of a GMT+7 month over every agency (or one): for the
/// operator's CLI; requests go through [`monthly`].
pub async fn monthly_unscoped(
    state: &AppState,
    month: &str,
    agency_code: Option<&str>,
) -> Result<MonthlyReport, Error> {
    let (start, end) = month_bounds(month)?;
    let store = &state.store;
    let names: HashMap<String, String> = store.agency_names().await?.into_iter().collect();
    type Key = (String, String, String, String);
    let mut groups: BTreeMap<Key, (i64, i64, i64)> = BTreeMap::new();
    for g in store.paid_groups(start, end).await? {
        let e = groups.entry((g.agency_code, g.kind, g.procedure_code, g.connector)).or_default();
        e.0 += g.payments;
        e.1 += g.amount;
    }
    let (refunds, shares, lines) = refunds_with_shares(store, start, end).await?;
    for r in refunds.iter().filter(|r| r.duplicate_attempt_id.is_none()) {
        if let (Some(share), Some(ls)) = (shares.get(&r.id), lines.get(&r.payment_id)) {
            for (l, part) in ls.iter().zip(share) {
                let key = (l.agency_code.clone(), l.kind.clone(), l.procedure_code.clone(), r.connector_id.clone());
                groups.entry(key).or_default().2 += part;
            }
        }
    }
    let mut rows = Vec::new();
    let mut totals: BTreeMap<(String, String), (i64, i64, i64)> = BTreeMap::new();
    for ((agency, kind, procedure, gateway), (count, amount, refunded)) in groups {
        if agency_code.is_some_and(|a| a != agency) || (amount == 0 && refunded == 0) {
            continue;
        }
        let t = totals.entry((agency.clone(), kind.clone())).or_default();
        t.0 += count;
        t.1 += amount;
        t.2 += refunded;
        rows.push(MonthRow {
            agency_name: names.get(&agency).cloned().unwrap_or_default(),
            agency_code: agency,
            kind_name: kind_name(&kind).to_owned(),
            kind,
            procedure_code: procedure,
            gateway,
            count,
            amount: amount.to_string(),
            refunded: refunded.to_string(),
        });
    }
    let totals = totals
        .into_iter()
        .map(|((agency, kind), (count, amount, refunded))| MonthTotal {
            agency_name: names.get(&agency).cloned().unwrap_or_default(),
            agency_code: agency,
            kind_name: kind_name(&kind).to_owned(),
            kind,
            count,
            amount: amount.to_string(),
            refunded: refunded.to_string(),
        })
        .collect();
    Ok(MonthlyReport { month: month.to_owned(), agency_code: agency_code.map(str::to_owned), rows, totals })
}

/// Checks the caller may read reports: finance, admin, and the console's viewer (who reads
/// everything in scope; no API key is a viewer).
pub fn may_read(who: &Principal) -> Result<(), Error> {
    who.require(READERS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(pid: &str, idx: i64, amount: i64, account: &str) -> LineInfo {
        LineInfo {
            payment_id: pid.into(),
            idx,
            kind: "fee".into(),
            amount,
            account_id: account.into(),
            agency_code: "A".into(),
            procedure_code: "P".into(),
        }
    }

    fn refund(id: &str, pid: &str, amount: i64, at: i64) -> RefundInfo {
        RefundInfo {
            id: id.into(),
            payment_id: pid.into(),
            connector_id: "sandbox".into(),
            amount,
            updated_at: at,
            duplicate_attempt_id: None,
            duplicate_account_id: None,
        }
    }

    #[test]
    fn a_duplicate_collections_refunds_are_split_apart_from_the_payments() {
        let lines = [line("p", 0, 1, "a"), line("p", 1, 2, "b")];
        // A refund of the payment, then refunds of its duplicate collection: the duplicate's
        // are split as if the payment's were not there (mixed, d1 would take 1 from `a`).
        let dup = |id: &str, at| RefundInfo { duplicate_attempt_id: Some("att_2".into()), ..refund(id, "p", 1, at) };
        let refunds = [refund("r1", "p", 1, 1), dup("d1", 2), dup("d2", 3), dup("d3", 4)];
        let s = refund_shares(&lines, &refunds);
        assert_eq!((s["r1"].clone(), s["d1"].clone()), (vec![0, 1], vec![0, 1]));
        let a: i64 = ["d1", "d2", "d3"].iter().map(|r| s[*r][0]).sum();
        let b: i64 = ["d1", "d2", "d3"].iter().map(|r| s[*r][1]).sum();
        assert_eq!((a, b), (1, 2), "the duplicate's refunds give each line back exactly");
    }

    #[test]
    fn split_is_proportional_and_adds_up() {
        assert_eq!(split(35_000, &[135_000, 50_000]), vec![25_541, 9_459]);
        assert_eq!(split(185_000, &[135_000, 50_000]), vec![135_000, 50_000]);
        assert_eq!(split(1, &[1, 1]), vec![1, 0], "ties go to the earlier line");
        assert_eq!(split(10, &[]), Vec::<i64>::new());
        for total in [0, 1, 7, 99_999, 1_000_001] {
            assert_eq!(split(total, &[3, 5, 7, 11]).iter().sum::<i64>(), total);
        }
    }

    #[test]
    fn refunds_of_a_payment_are_split_cumulatively_and_never_exceed_a_line() {
        let lines = [line("p", 0, 1, "a"), line("p", 1, 2, "b")];
        // Three refunds of 1 each: split alone each would go 0/1 every time and take 3 from b.
        let refunds = [refund("r1", "p", 1, 1), refund("r2", "p", 1, 2), refund("r3", "p", 1, 3)];
        let s = refund_shares(&lines, &refunds);
        assert_eq!((s["r1"].clone(), s["r2"].clone(), s["r3"].clone()), (vec![0, 1], vec![1, 0], vec![0, 1]));
        let a: i64 = ["r1", "r2", "r3"].iter().map(|r| s[*r][0]).sum();
        let b: i64 = ["r1", "r2", "r3"].iter().map(|r| s[*r][1]).sum();
        assert_eq!((a, b), (1, 2), "a full refund gives each line back exactly");
    }

    #[test]
    fn months_are_gmt7_and_december_rolls_over() {
        let (s, e) = month_bounds("2026-12").unwrap();
        assert_eq!(e - s, 31 * 86_400_000);
        assert_eq!(s, 1_796_058_000_000, "2026-12-01T00:00+07:00");
        for bad in ["2026-13", "2026-1", "26-01", "2026/01", ""] {
            assert_eq!(month_bounds(bad).unwrap_err().code, "invalid_month", "{bad}");
        }
    }
}
