//! Statement matching: an agency account's booked entries against what feegate expects on
//! that account. A credit matches one payment by the reference in its transfer content, or a
//! gateway's settlement batch by amount and day; a debit matches a refund paid out by hand.
//! Every other item gets an outcome and a sentence a person can read. Pure: the store
//! fetches, this decides.

use crate::domain::recon::Outcome;
use crate::domain::statement::Direction;
use feegate_connector::reference::{find_reference, find_truncated, ContentError};
use std::collections::HashSet;
use time::Date;

/// One booked statement entry, as matching needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub line: i64,
    pub booking_date: Date,
    /// Minor units of `currency`.
    pub amount: i64,
    /// ISO 4217 code of the amount.
    pub currency: String,
    pub direction: Direction,
    /// The bank's reference for the entry.
    pub bank_ref: String,
    pub content: String,
}

/// One of our attempts that a credit may prove, with its payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub reference: String,
    pub payment_id: String,
    pub attempt_id: String,
    pub connector_id: String,
    pub attempt_status: String,
    pub payment_status: String,
    pub currency: String,
    /// The payment's lines routed to this account (0: the money belongs elsewhere).
    pub routed: i64,
    /// A direct transfer (VietQR) that succeeded in the statement's period: the statement
    /// must carry its credit.
    pub expected: bool,
}

/// What one gateway's settlement file of one day says it pays to this account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub source: String,
    pub date: Date,
    /// Pay lines routed here, minus refunds, net of the gateway's fee.
    pub amount: i64,
    /// Due on this statement (T+1) and not credited on an earlier one.
    pub expected: bool,
}

impl Batch {
    /// The identity a credit item keeps: `{source}@{YYYY-MM-DD}`.
    pub fn key(&self) -> String {
        format!("{}@{}", self.source, self.date)
    }
}

/// A refund that a debit may be the payout of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub refund_id: String,
    pub payment_id: String,
    pub reference: String,
    pub bank_reference: Option<String>,
    pub amount: i64,
    pub status: String,
}

/// One result row of a statement run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub line: Option<i64>,
    /// Our reference (payment or refund), the batch key, or the bank's reference.
    pub reference: String,
    /// The bank's reference for the entry.
    pub bank_ref: Option<String>,
    pub direction: Direction,
    pub amount_file: Option<i64>,
    /// The currency of the amounts: the entry's as booked, or feegate's for what the
    /// statement lacks.
    pub currency: Option<String>,
    pub amount_feegate: Option<i64>,
    pub status_feegate: Option<String>,
    pub outcome: Outcome,
    pub reason: String,
    pub payment_id: Option<String>,
    pub attempt_id: Option<String>,
    pub refund_id: Option<String>,
    pub content: Option<String>,
    pub booking_date: Option<Date>,
    pub batch_source: Option<String>,
    /// The credit proves an attempt feegate has not seen succeed: ask its connector.
    pub correct: bool,
}

/// Everything a statement is matched against.
#[derive(Debug, Clone, Default)]
pub struct Book {
    pub payments: Vec<Payment>,
    pub batches: Vec<Batch>,
    pub refunds: Vec<Refund>,
    /// The currency feegate books the account's money in (VND): an entry in another
    /// currency is never matched as that currency, nor a payment in another one.
    pub currency: String,
    /// Largest amount difference still matched, in minor units.
    pub tolerance: i64,
}

/// The references a statement names: whole ones, and prefixes of truncated ones.
pub fn wanted(entries: &[Entry]) -> (Vec<String>, Vec<String>) {
    let mut whole = Vec::new();
    let mut cut = Vec::new();
    for e in entries {
        match reference_in(e) {
            Found::Whole(r) => whole.push(r),
            Found::Truncated(p) => cut.push(p),
            Found::Several(_) | Found::Nothing => {}
        }
    }
    whole.sort();
    whole.dedup();
    cut.sort();
    cut.dedup();
    (whole, cut)
}

enum Found {
    Whole(String),
    Truncated(String),
    Several(Vec<String>),
    Nothing,
}

fn reference_in(e: &Entry) -> Found {
    for text in [e.content.as_str(), e.bank_ref.as_str()] {
        match find_reference(text) {
            Ok(r) => return Found::Whole(r),
            Err(ContentError::Ambiguous(found)) => return Found::Several(found),
            Err(ContentError::None) => {}
        }
    }
    match find_truncated(&e.content) {
        Some(p) => Found::Truncated(p),
        None => Found::Nothing,
    }
}

/// Matches the entries (in file order) against `book`. File items come first, then what the
/// statement lacks: expected direct transfers, then expected batches.
pub fn match_statement(entries: &[Entry], book: &Book) -> Vec<Item> {
    let mut m = Matcher { book, paid: HashSet::new(), batched: HashSet::new(), refunded: HashSet::new(), out: vec![] };
    for e in entries {
        match e.direction {
            Direction::Credit => m.credit(e),
            Direction::Debit => m.debit(e),
        }
    }
    m.lacking();
    m.out
}

struct Matcher<'a> {
    book: &'a Book,
    /// Attempt references already credited, batch keys already matched, refunds already paid.
    paid: HashSet<String>,
    batched: HashSet<String>,
    refunded: HashSet<String>,
    out: Vec<Item>,
}

fn base(e: &Entry) -> Item {
    Item {
        line: Some(e.line),
        reference: e.bank_ref.clone(),
        bank_ref: (!e.bank_ref.is_empty()).then(|| e.bank_ref.clone()),
        direction: e.direction,
        amount_file: Some(e.amount),
        currency: Some(e.currency.clone()),
        amount_feegate: None,
        status_feegate: None,
        outcome: Outcome::MissingInFeegate,
        reason: String::new(),
        payment_id: None,
        attempt_id: None,
        refund_id: None,
        content: Some(e.content.clone()),
        booking_date: Some(e.booking_date),
        batch_source: None,
        correct: false,
    }
}

/// Payment states in which the money has been received.
fn paid_state(status: &str) -> bool {
    matches!(status, "succeeded" | "partially_refunded" | "refunded")
}

/// An amount as a person reads it: `100.50 USD`, `135000 VND`.
pub fn shown(amount: i64, currency: &str) -> String {
    match crate::domain::statement::exponent(currency) {
        Some(exp) if exp > 0 => {
            let unit = 10i64.pow(exp);
            let sign = if amount < 0 { "-" } else { "" };
            let a = amount.unsigned_abs();
            let unit = unit.unsigned_abs();
            format!("{sign}{}.{:0width$} {currency}", a / unit, a % unit, width = exp as usize)
        }
        _ => format!("{amount} {currency}"),
    }
}

impl Matcher<'_> {
    /// An entry in another currency than the book's: an item of its own, never matched.
    fn foreign(&self, e: &Entry) -> Option<Item> {
        if e.currency == self.book.currency {
            return None;
        }
        let mut item = base(e);
        let what = match e.direction {
            Direction::Credit => "credit",
            Direction::Debit => "debit",
        };
        item.reason = format!(
            "{what} of {} is not in {}: feegate does not match an amount in another currency",
            shown(e.amount, &e.currency),
            self.book.currency
        );
        Some(item)
    }

    fn credit(&mut self, e: &Entry) {
        if let Some(item) = self.foreign(e) {
            self.out.push(item);
            return;
        }
        let mut item = base(e);
        let payment = match reference_in(e) {
            Found::Whole(r) => match self.book.payments.iter().find(|p| p.reference == r) {
                Some(p) => Some(p),
                None => {
                    item.reference = r.clone();
                    item.reason = format!("credit of {} names {r}, which no feegate payment has", e.amount);
                    self.out.push(item);
                    return;
                }
            },
            Found::Several(found) => {
                item.reason = format!(
                    "credit of {} names several references ({}); feegate will not guess which one",
                    e.amount,
                    found.join(", ")
                );
                self.out.push(item);
                return;
            }
            Found::Truncated(prefix) => {
                let fits: Vec<&Payment> =
                    self.book.payments.iter().filter(|p| p.reference.starts_with(&prefix)).collect();
                match fits.as_slice() {
                    [one] => Some(*one),
                    [] => None,
                    many => {
                        item.reference = prefix.clone();
                        item.reason = format!(
                            "credit of {} names the cut-short reference {prefix}, which fits {} payments",
                            e.amount,
                            many.len()
                        );
                        self.out.push(item);
                        return;
                    }
                }
            }
            Found::Nothing => None,
        };
        match payment {
            Some(p) => self.credit_for_payment(e, item, p),
            None => self.credit_for_batch(e, item),
        }
    }

    fn credit_for_payment(&mut self, e: &Entry, mut item: Item, p: &Payment) {
        item.reference = p.reference.clone();
        item.payment_id = Some(p.payment_id.clone());
        item.attempt_id = Some(p.attempt_id.clone());
        item.amount_feegate = Some(p.routed);
        item.status_feegate = Some(p.payment_status.clone());
        let (outcome, reason) = if !self.paid.insert(p.reference.clone()) {
            (Outcome::Duplicate, format!("{} is credited more than once on the statement", p.reference))
        } else if p.routed == 0 {
            (
                Outcome::MissingInFeegate,
                format!("credit names {} (payment {}), whose lines go to other accounts", p.reference, p.payment_id),
            )
        } else if p.attempt_status != "succeeded" {
            item.correct = true;
            (
                Outcome::StatusMismatch,
                format!(
                    "credit of {} on {} proves {} (payment {}), which feegate has as {} (attempt {})",
                    e.amount, e.booking_date, p.reference, p.payment_id, p.payment_status, p.attempt_status
                ),
            )
        } else if !paid_state(&p.payment_status) {
            (
                Outcome::StatusMismatch,
                format!("{} succeeded but its payment {} is {}", p.reference, p.payment_id, p.payment_status),
            )
        } else if p.currency != self.book.currency {
            (
                Outcome::AmountMismatch,
                format!("{} {} on the statement, {} {} in feegate", e.amount, self.book.currency, p.routed, p.currency),
            )
        } else if (e.amount - p.routed).abs() > self.book.tolerance {
            (Outcome::AmountMismatch, format!("amount {} on the statement, {} in feegate", e.amount, p.routed))
        } else {
            (Outcome::Matched, String::new())
        };
        item.outcome = outcome;
        item.reason = reason;
        self.out.push(item);
    }

    fn credit_for_batch(&mut self, e: &Entry, mut item: Item) {
        let day_before = e.booking_date.previous_day();
        let due = |b: &&Batch| b.date == e.booking_date || Some(b.date) == day_before;
        let open: Vec<&Batch> =
            self.book.batches.iter().filter(|b| !self.batched.contains(&b.key())).filter(due).collect();
        // The closest amount first; on a tie the older batch (T+1 is the usual payout).
        let best = open
            .iter()
            .filter(|b| (b.amount - e.amount).abs() <= self.book.tolerance)
            .min_by_key(|b| ((b.amount - e.amount).abs(), b.date, b.source.clone()));
        if let Some(b) = best {
            self.batched.insert(b.key());
            item.reference = b.key();
            item.batch_source = Some(b.source.clone());
            item.amount_feegate = Some(b.amount);
            item.outcome = Outcome::Matched;
            self.out.push(item);
            return;
        }
        // One open batch whose gateway the content names: the same payout with a wrong amount.
        let folded = feegate_connector::text::alnum_fold(&e.content).to_ascii_uppercase();
        let named: Vec<&&Batch> = open.iter().filter(|b| names_source(&folded, &b.source)).collect();
        if let [b] = named.as_slice() {
            self.batched.insert(b.key());
            item.reference = b.key();
            item.batch_source = Some(b.source.clone());
            item.amount_feegate = Some(b.amount);
            item.outcome = Outcome::AmountMismatch;
            item.reason = format!(
                "amount {} on the statement, {} in the {} settlement of {}",
                e.amount, b.amount, b.source, b.date
            );
            self.out.push(item);
            return;
        }
        let batches: Vec<String> = open.iter().map(|b| format!("{} {}", b.key(), b.amount)).collect();
        item.reason = if batches.is_empty() {
            format!("credit of {} names no feegate reference and no settlement batch is due", e.amount)
        } else {
            format!(
                "credit of {} names no feegate reference and matches no settlement batch (open: {})",
                e.amount,
                batches.join(", ")
            )
        };
        self.out.push(item);
    }

    fn debit(&mut self, e: &Entry) {
        let folded = feegate_connector::text::alnum_fold(&format!("{} {}", e.bank_ref, e.content)).to_ascii_uppercase();
        let proves = |r: &&Refund| {
            let bank = r.bank_reference.as_deref().map(|b| feegate_connector::text::alnum_fold(b).to_ascii_uppercase());
            bank.is_some_and(|b| b.len() >= 6 && folded.contains(&b))
                || folded.contains(&r.reference.to_ascii_uppercase())
        };
        // A debit that pays out none of our refunds is the bank's business (fees, transfers
        // to the treasury): it is not an item, so finance is not handed a case for it.
        let Some(r) = self.book.refunds.iter().find(proves) else { return };
        if let Some(item) = self.foreign(e) {
            self.out.push(item);
            return;
        }
        let mut item = base(e);
        item.reference = r.reference.clone();
        item.payment_id = Some(r.payment_id.clone());
        item.refund_id = Some(r.refund_id.clone());
        item.amount_feegate = Some(r.amount);
        item.status_feegate = Some(r.status.clone());
        let (outcome, reason) = if !self.refunded.insert(r.refund_id.clone()) {
            (Outcome::Duplicate, format!("refund {} is paid out more than once on the statement", r.reference))
        } else if r.status != "succeeded" {
            (
                Outcome::StatusMismatch,
                format!(
                    "the statement pays out refund {} on {}; feegate has it as {}: record the payout",
                    r.reference, e.booking_date, r.status
                ),
            )
        } else if (e.amount - r.amount).abs() > self.book.tolerance {
            (Outcome::AmountMismatch, format!("refund of {} on the statement, {} in feegate", e.amount, r.amount))
        } else {
            (Outcome::Matched, String::new())
        };
        item.outcome = outcome;
        item.reason = reason;
        self.out.push(item);
    }

    fn lacking(&mut self) {
        let mut missing: Vec<&Payment> = self
            .book
            .payments
            .iter()
            .filter(|p| p.expected && p.routed > 0 && !self.paid.contains(&p.reference))
            .collect();
        missing.sort_by(|a, b| a.reference.cmp(&b.reference));
        for p in missing {
            self.out.push(Item {
                line: None,
                reference: p.reference.clone(),
                bank_ref: None,
                direction: Direction::Credit,
                amount_file: None,
                currency: Some(p.currency.clone()),
                amount_feegate: Some(p.routed),
                status_feegate: Some(p.payment_status.clone()),
                outcome: Outcome::MissingInFile,
                reason: format!(
                    "{} of {} (payment {}) succeeded at {} in feegate but is not credited on the statement",
                    p.reference, p.routed, p.payment_id, p.connector_id
                ),
                payment_id: Some(p.payment_id.clone()),
                attempt_id: Some(p.attempt_id.clone()),
                refund_id: None,
                content: None,
                booking_date: None,
                batch_source: None,
                correct: false,
            });
        }
        for b in self.book.batches.iter().filter(|b| b.expected && b.amount != 0) {
            if self.batched.contains(&b.key()) {
                continue;
            }
            self.out.push(Item {
                line: None,
                reference: b.key(),
                bank_ref: None,
                direction: Direction::Credit,
                amount_file: None,
                currency: Some(self.book.currency.clone()),
                amount_feegate: Some(b.amount),
                status_feegate: None,
                outcome: Outcome::MissingInFile,
                reason: format!(
                    "the {} settlement of {} pays {} to this account, but no credit on the statement matches it",
                    b.source, b.date, b.amount
                ),
                payment_id: None,
                attempt_id: None,
                refund_id: None,
                content: None,
                booking_date: None,
                batch_source: Some(b.source.clone()),
                correct: false,
            });
        }
    }
}

/// Whether a folded content names a connector id (`vnpay-main` is named by `VNPAY`).
fn names_source(folded: &str, source: &str) -> bool {
    let head = source.split(['-', '_']).next().unwrap_or(source);
    let word = feegate_connector::text::alnum_fold(head).to_ascii_uppercase();
    word.len() >= 4 && folded.contains(&word)
}

/// One settlement file line as a batch is summed from: its kind, the amount and fee the
/// file gives, whether the file says it succeeded, the payment's amount and its lines
/// routed to the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchLine {
    pub refund: bool,
    pub amount: i64,
    pub fee: i64,
    pub succeeded: bool,
    pub payment_amount: i64,
    pub routed: i64,
    pub payment_id: String,
    /// Our refund the line settles, when the file names one.
    pub refund_id: Option<String>,
    /// That refund's share routed to the account, when the line settles it whole: the
    /// settlement report's figure (`crate::domain::money::refund_line_shares`, among the
    /// payment's other refunds), filled by the service.
    pub routed_refund: Option<i64>,
}

/// What the gateway pays this account for these lines: each line's share routed here
/// (`amount × routed ÷ payment amount` by [`crate::domain::money::share`], the whole line for
/// a one-account payment; a refund of ours its `routed_refund`), pays
/// minus refunds, and the fee deducted in the same share. Failed lines move no money.
pub fn batch_amount(lines: &[BatchLine]) -> i64 {
    let mut total: i64 = 0;
    for l in lines.iter().filter(|l| l.succeeded && l.payment_amount > 0) {
        // The rule of the settlement report, so the expected credit and the report agree.
        let share = |x: i64| crate::domain::money::share(x, l.routed, l.payment_amount);
        let net = share(l.amount) - share(l.fee);
        total += if l.refund { -l.routed_refund.unwrap_or_else(|| share(l.amount)) - share(l.fee) } else { net };
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn credit(line: i64, amount: i64, content: &str) -> Entry {
        Entry {
            line,
            booking_date: date!(2026 - 11 - 27),
            amount,
            currency: "VND".into(),
            direction: Direction::Credit,
            bank_ref: format!("FT{line}"),
            content: content.into(),
        }
    }

    fn pay(reference: &str, routed: i64, status: &str, expected: bool) -> Payment {
        Payment {
            reference: reference.into(),
            payment_id: format!("pay_{reference}"),
            attempt_id: format!("att_{reference}"),
            connector_id: "vietqr".into(),
            attempt_status: if status == "pending" { "pending" } else { "succeeded" }.into(),
            payment_status: status.into(),
            currency: "VND".into(),
            routed,
            expected,
        }
    }

    fn book(payments: Vec<Payment>, batches: Vec<Batch>) -> Book {
        Book { payments, batches, refunds: vec![], currency: "VND".into(), tolerance: 0 }
    }

    fn outcomes(items: &[Item]) -> Vec<(&str, Outcome)> {
        items.iter().map(|i| (i.reference.as_str(), i.outcome)).collect()
    }

    #[test]
    fn credits_match_payments_by_a_rewritten_reference_and_amount() {
        let b = book(
            vec![
                pay("FG0123456789", 135000, "succeeded", true),
                pay("FGABCDEFGHJK", 200000, "succeeded", true),
                pay("FG9999999999", 50000, "succeeded", true),
            ],
            vec![],
        );
        let items = match_statement(
            &[
                credit(2, 135000, "MBVCB.1.fg0123456789.CT tu 001"),
                credit(3, 153000, "Nộp phí FGABCDE FGHJK"),
                credit(4, 70000, "chuyen tien hoc phi"),
            ],
            &b,
        );
        assert_eq!(
            outcomes(&items),
            vec![
                ("FG0123456789", Outcome::Matched),
                ("FGABCDEFGHJK", Outcome::AmountMismatch),
                ("FT4", Outcome::MissingInFeegate),
                ("FG9999999999", Outcome::MissingInFile),
            ]
        );
        assert_eq!(items[1].reason, "amount 153000 on the statement, 200000 in feegate");
        assert!(items[3].reason.contains("not credited"), "{}", items[3].reason);
    }

    #[test]
    fn a_truncated_reference_matches_only_when_one_payment_fits() {
        let b = book(vec![pay("FG0123456789", 135000, "succeeded", false)], vec![]);
        let items = match_statement(&[credit(2, 135000, "MBVCB.1.FG012345")], &b);
        assert_eq!(outcomes(&items), vec![("FG0123456789", Outcome::Matched)]);
        let b = book(
            vec![pay("FG0123456789", 135000, "succeeded", false), pay("FG0123456700", 1, "succeeded", false)],
            vec![],
        );
        let items = match_statement(&[credit(2, 135000, "MBVCB.1.FG01234567")], &b);
        assert_eq!(items[0].outcome, Outcome::MissingInFeegate);
        assert!(items[0].reason.contains("fits 2 payments"), "{}", items[0].reason);
    }

    #[test]
    fn a_credit_for_a_pending_payment_asks_for_a_correction() {
        let b = book(vec![pay("FG0123456789", 135000, "pending", false)], vec![]);
        let items = match_statement(&[credit(2, 135000, "FG0123456789")], &b);
        assert_eq!((items[0].outcome, items[0].correct), (Outcome::StatusMismatch, true));
        assert!(items[0].reason.contains("which feegate has as pending"), "{}", items[0].reason);
    }

    #[test]
    fn an_entry_in_another_currency_is_never_matched_as_dong() {
        let batch = Batch { source: "sandbox".into(), date: date!(2026 - 11 - 27), amount: 13500, expected: false };
        let mut b = book(vec![pay("FG0123456789", 13500, "pending", false)], vec![batch]);
        b.refunds = vec![Refund {
            refund_id: "rfd_1".into(),
            payment_id: "pay_1".into(),
            reference: "FGR123".into(),
            bank_reference: None,
            amount: 13500,
            status: "succeeded".into(),
        }];
        let mut usd = credit(2, 13500, "FG0123456789");
        usd.currency = "USD".into();
        let mut eur = credit(3, 13500, "QT");
        eur.currency = "EUR".into();
        let mut out = credit(4, 13500, "hoan FGR123");
        (out.currency, out.direction) = ("USD".into(), Direction::Debit);
        let items = match_statement(&[usd, eur, out], &b);
        assert_eq!(
            outcomes(&items),
            vec![
                ("FT2", Outcome::MissingInFeegate),
                ("FT3", Outcome::MissingInFeegate),
                ("FT4", Outcome::MissingInFeegate)
            ]
        );
        assert!(items.iter().all(|i| !i.correct && i.payment_id.is_none() && i.batch_source.is_none()));
        assert_eq!(items[0].currency.as_deref(), Some("USD"));
        assert_eq!(
            items[0].reason,
            "credit of 135.00 USD is not in VND: feegate does not match an amount in another currency"
        );
        assert!(items[2].reason.starts_with("debit of 135.00 USD"), "{}", items[2].reason);
        assert_eq!(shown(-5, "EUR"), "-0.05 EUR");
        assert_eq!(shown(135000, "VND"), "135000 VND");
    }

    #[test]
    fn the_same_reference_twice_is_a_duplicate() {
        let b = book(vec![pay("FG0123456789", 135000, "succeeded", true)], vec![]);
        let items = match_statement(&[credit(2, 135000, "FG0123456789"), credit(3, 135000, "FG0123456789")], &b);
        assert_eq!(items.iter().map(|i| i.outcome).collect::<Vec<_>>(), [Outcome::Matched, Outcome::Duplicate]);
    }

    #[test]
    fn a_credit_without_reference_matches_a_batch_by_amount_and_day() {
        let batch =
            |source: &str, date: Date, amount, expected| Batch { source: source.into(), date, amount, expected };
        let b = book(
            vec![],
            vec![
                batch("sandbox", date!(2026 - 11 - 26), 270000, true),
                batch("vnpay", date!(2026 - 11 - 26), 99000, true),
                batch("momo", date!(2026 - 11 - 27), 5000, false),
            ],
        );
        let items = match_statement(&[credit(2, 270000, "SANDBOX QT 26/11"), credit(3, 98000, "VNPAY QT 26/11")], &b);
        assert_eq!(
            outcomes(&items),
            vec![("sandbox@2026-11-26", Outcome::Matched), ("vnpay@2026-11-26", Outcome::AmountMismatch)]
        );
        assert_eq!(items[0].batch_source.as_deref(), Some("sandbox"));
        assert_eq!(items[1].reason, "amount 98000 on the statement, 99000 in the vnpay settlement of 2026-11-26");
        // Not due yet (T+0 batch not credited today) is not missing; an expected one is.
        let items = match_statement(&[], &b);
        assert_eq!(
            outcomes(&items),
            vec![("sandbox@2026-11-26", Outcome::MissingInFile), ("vnpay@2026-11-26", Outcome::MissingInFile)]
        );
        let mut tolerant = b.clone();
        tolerant.tolerance = 1000;
        let items = match_statement(&[credit(2, 98000, "QT")], &tolerant);
        assert_eq!(outcomes(&items)[0], ("vnpay@2026-11-26", Outcome::Matched));
    }

    #[test]
    fn debits_match_manual_refunds_and_unrelated_debits_are_no_items() {
        let mut b = book(vec![], vec![]);
        b.refunds = vec![Refund {
            refund_id: "rfd_1".into(),
            payment_id: "pay_1".into(),
            reference: "FGR123".into(),
            bank_reference: Some("FT26332000123".into()),
            amount: 135000,
            status: "succeeded".into(),
        }];
        let mut fee = credit(2, 5500, "Phi quan ly tai khoan");
        fee.direction = Direction::Debit;
        let mut out = credit(3, 135000, "hoan tien ho so");
        out.direction = Direction::Debit;
        out.bank_ref = "FT26332000123".into();
        let items = match_statement(&[fee, out], &b);
        assert_eq!(outcomes(&items), vec![("FGR123", Outcome::Matched)]);
        assert_eq!(items[0].refund_id.as_deref(), Some("rfd_1"));
    }

    #[test]
    fn a_batch_is_each_lines_routed_share_minus_refunds_net_of_fees() {
        let l = |refund, amount, fee, succeeded, payment_amount, routed| BatchLine {
            refund,
            amount,
            fee,
            succeeded,
            payment_amount,
            routed,
            payment_id: "pay_1".into(),
            refund_id: None,
            routed_refund: None,
        };
        assert_eq!(
            batch_amount(&[
                l(false, 135000, 1000, true, 135000, 135000),
                l(false, 300000, 0, true, 300000, 100000),
                l(false, 50000, 0, false, 50000, 50000),
                l(true, 35000, 0, true, 135000, 135000),
            ]),
            134000 + 100000 - 35000
        );
        // 35_000 refunded of a payment routed 135_000 here and 50_000 elsewhere: 25_541 here,
        // as the report splits it (largest remainder), not 25_540.
        assert_eq!(batch_amount(&[l(true, 35000, 0, true, 185000, 135000)]), -25_541);
        // A refund of ours counts its share among the payment's refunds, as the report does.
        let ours = BatchLine { routed_refund: Some(25_540), ..l(true, 35000, 0, true, 185000, 135000) };
        assert_eq!(batch_amount(&[ours]), -25_540);
    }
}
