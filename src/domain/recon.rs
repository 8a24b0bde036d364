//! Settlement matching: a gateway's settlement lines against feegate's records of one
//! business day, giving each line (and each record the file lacks) an outcome and a
//! sentence a person can read. Pure: the store fetches, this decides.

use feegate_connector::{SettlementKind, SettlementLine};
use std::collections::{BTreeMap, HashSet};

/// What became of one line or record (DESIGN §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    Matched,
    MissingInFile,
    MissingInFeegate,
    AmountMismatch,
    StatusMismatch,
    Duplicate,
}

impl Outcome {
    /// Every outcome, in the order reports list them.
    pub const ALL: [Outcome; 6] = [
        Outcome::Matched,
        Outcome::MissingInFile,
        Outcome::MissingInFeegate,
        Outcome::AmountMismatch,
        Outcome::StatusMismatch,
        Outcome::Duplicate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Matched => "matched",
            Outcome::MissingInFile => "missing_in_file",
            Outcome::MissingInFeegate => "missing_in_feegate",
            Outcome::AmountMismatch => "amount_mismatch",
            Outcome::StatusMismatch => "status_mismatch",
            Outcome::Duplicate => "duplicate",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// `pay` or `refund`.
pub fn kind_str(k: SettlementKind) -> &'static str {
    match k {
        SettlementKind::Pay => "pay",
        SettlementKind::Refund => "refund",
    }
}

/// One of our attempts or refunds at this connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub kind: SettlementKind,
    pub reference: String,
    pub gateway_txn: Option<String>,
    pub amount: i64,
    /// Our status (`succeeded`, `failed`, `pending`, ...).
    pub status: String,
    /// Succeeded within the business day being reconciled.
    pub in_day: bool,
    pub payment_id: String,
    pub attempt_id: Option<String>,
    pub refund_id: Option<String>,
}

/// One result row of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The file line, when the item comes from the file.
    pub line: Option<i64>,
    pub reference: String,
    pub gateway_txn: Option<String>,
    pub kind: SettlementKind,
    pub amount_file: Option<i64>,
    pub amount_feegate: Option<i64>,
    pub status_file: Option<String>,
    pub status_feegate: Option<String>,
    pub outcome: Outcome,
    /// Empty when matched; otherwise what differs, in words.
    pub reason: String,
    pub payment_id: Option<String>,
    pub attempt_id: Option<String>,
    pub refund_id: Option<String>,
}

/// Matches `lines` against `records` (the day's succeeded records, `in_day`, plus any
/// other record whose reference the file names). File items come first in line order,
/// then the records the file lacks. Zero tolerance on amounts.
pub fn reconcile(lines: &[SettlementLine], records: &[Record]) -> Vec<Item> {
    let by_key: BTreeMap<(&str, &'static str), &Record> =
        records.iter().map(|r| ((r.reference.as_str(), kind_str(r.kind)), r)).collect();
    let mut seen: HashSet<(&str, &'static str)> = HashSet::new();
    let mut out = Vec::with_capacity(lines.len());
    for l in lines {
        let key = (l.reference.as_str(), kind_str(l.kind));
        let ours = by_key.get(&key).copied();
        let mut item = Item {
            line: Some(l.line as i64),
            reference: l.reference.clone(),
            gateway_txn: Some(l.gateway_txn.clone()),
            kind: l.kind,
            amount_file: Some(l.amount),
            amount_feegate: ours.map(|r| r.amount),
            status_file: Some(l.status.clone()),
            status_feegate: ours.map(|r| r.status.clone()),
            outcome: Outcome::Matched,
            reason: String::new(),
            payment_id: ours.map(|r| r.payment_id.clone()),
            attempt_id: ours.and_then(|r| r.attempt_id.clone()),
            refund_id: ours.and_then(|r| r.refund_id.clone()),
        };
        let what = kind_str(l.kind);
        let (outcome, reason) = if !seen.insert(key) {
            (Outcome::Duplicate, format!("{what} {} appears more than once in the file", l.reference))
        } else {
            match ours {
                None => (Outcome::MissingInFeegate, missing_reason(l, records)),
                Some(r) => compare(l, r),
            }
        };
        item.outcome = outcome;
        item.reason = reason;
        out.push(item);
    }
    let mut lacking: Vec<&Record> =
        records.iter().filter(|r| r.in_day && !seen.contains(&(r.reference.as_str(), kind_str(r.kind)))).collect();
    lacking.sort_by(|a, b| (kind_str(a.kind), &a.reference).cmp(&(kind_str(b.kind), &b.reference)));
    for r in lacking {
        out.push(Item {
            line: None,
            reference: r.reference.clone(),
            gateway_txn: r.gateway_txn.clone(),
            kind: r.kind,
            amount_file: None,
            amount_feegate: Some(r.amount),
            status_file: None,
            status_feegate: Some(r.status.clone()),
            outcome: Outcome::MissingInFile,
            reason: format!(
                "{} {} of {} succeeded in feegate but is not in the file",
                kind_str(r.kind),
                r.reference,
                r.amount
            ),
            payment_id: Some(r.payment_id.clone()),
            attempt_id: r.attempt_id.clone(),
            refund_id: r.refund_id.clone(),
        });
    }
    out
}

fn missing_reason(l: &SettlementLine, records: &[Record]) -> String {
    let what = kind_str(l.kind);
    match records.iter().find(|r| r.reference == l.reference) {
        Some(r) => format!("the file has {} as a {what}, feegate has it as a {}", l.reference, kind_str(r.kind)),
        None => format!("feegate has no {what} with reference {}", l.reference),
    }
}

fn compare(l: &SettlementLine, r: &Record) -> (Outcome, String) {
    let what = kind_str(l.kind);
    let ours_ok = r.status == "succeeded";
    if l.succeeded != ours_ok {
        let file = if l.succeeded { "succeeded" } else { "failed" };
        return (
            Outcome::StatusMismatch,
            format!("{what} {}: {file} in file (status {}), {} in feegate", l.reference, l.status, r.status),
        );
    }
    if l.amount != r.amount {
        return (Outcome::AmountMismatch, format!("amount {} in file, {} in feegate", l.amount, r.amount));
    }
    (Outcome::Matched, String::new())
}

/// How many items have each outcome, in [`Outcome::ALL`] order.
pub fn counts(items: &[Item]) -> [i64; 6] {
    let mut n = [0i64; 6];
    for i in items {
        if let Some(k) = Outcome::ALL.iter().position(|o| *o == i.outcome) {
            n[k] += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    fn line(n: usize, reference: &str, kind: SettlementKind, amount: i64, ok: bool) -> SettlementLine {
        SettlementLine {
            line: n,
            reference: reference.into(),
            gateway_txn: format!("T{n}"),
            kind,
            amount,
            fee: 0,
            succeeded: ok,
            status: if ok { "succeeded" } else { "failed" }.into(),
            time: OffsetDateTime::UNIX_EPOCH,
        }
    }

    fn rec(reference: &str, kind: SettlementKind, amount: i64, status: &str, in_day: bool) -> Record {
        Record {
            kind,
            reference: reference.into(),
            gateway_txn: None,
            amount,
            status: status.into(),
            in_day,
            payment_id: "pay_1".into(),
            attempt_id: (kind == SettlementKind::Pay).then(|| "att_1".into()),
            refund_id: (kind == SettlementKind::Refund).then(|| "rfd_1".into()),
        }
    }

    use SettlementKind::{Pay, Refund};

    fn outcomes(items: &[Item]) -> Vec<(&str, Outcome)> {
        items.iter().map(|i| (i.reference.as_str(), i.outcome)).collect()
    }

    #[test]
    fn lines_that_agree_with_our_records_are_matched() {
        let items = reconcile(
            &[line(2, "FGA", Pay, 135000, true), line(3, "FGR", Refund, 35000, true)],
            &[rec("FGA", Pay, 135000, "succeeded", true), rec("FGR", Refund, 35000, "succeeded", true)],
        );
        assert_eq!(outcomes(&items), vec![("FGA", Outcome::Matched), ("FGR", Outcome::Matched)]);
        assert_eq!(items[1].refund_id.as_deref(), Some("rfd_1"));
        assert_eq!(counts(&items), [2, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn a_different_amount_is_a_mismatch_with_both_amounts_in_the_reason() {
        let items = reconcile(&[line(2, "FGA", Pay, 135000, true)], &[rec("FGA", Pay, 153000, "succeeded", true)]);
        assert_eq!(items[0].outcome, Outcome::AmountMismatch);
        assert_eq!(items[0].reason, "amount 135000 in file, 153000 in feegate");
    }

    #[test]
    fn records_without_a_line_are_missing_in_file_and_unknown_lines_missing_in_feegate() {
        let items = reconcile(&[line(2, "FGX", Pay, 1000, true)], &[rec("FGA", Pay, 135000, "succeeded", true)]);
        assert_eq!(outcomes(&items), vec![("FGX", Outcome::MissingInFeegate), ("FGA", Outcome::MissingInFile)]);
        assert_eq!(items[0].reason, "feegate has no pay with reference FGX");
        assert_eq!(items[1].line, None);
        assert!(items[1].reason.contains("not in the file"), "{}", items[1].reason);
    }

    #[test]
    fn a_reference_we_hold_but_not_as_succeeded_is_a_status_mismatch() {
        let items = reconcile(&[line(2, "FGA", Pay, 135000, true)], &[rec("FGA", Pay, 135000, "failed", false)]);
        assert_eq!(items[0].outcome, Outcome::StatusMismatch);
        assert_eq!(items[0].reason, "pay FGA: succeeded in file (status succeeded), failed in feegate");
        let items = reconcile(&[line(2, "FGA", Pay, 135000, false)], &[rec("FGA", Pay, 135000, "succeeded", true)]);
        assert_eq!(items[0].outcome, Outcome::StatusMismatch);
        let items = reconcile(&[line(2, "FGA", Pay, 135000, false)], &[rec("FGA", Pay, 135000, "failed", false)]);
        assert_eq!(items[0].outcome, Outcome::Matched, "both say it failed");
    }

    #[test]
    fn the_second_line_of_a_reference_is_a_duplicate_and_counted_once() {
        let l = line(2, "FGA", Pay, 135000, true);
        let mut again = l.clone();
        again.line = 3;
        let items = reconcile(&[l, again], &[rec("FGA", Pay, 135000, "succeeded", true)]);
        assert_eq!(outcomes(&items), vec![("FGA", Outcome::Matched), ("FGA", Outcome::Duplicate)]);
        assert_eq!(items[1].line, Some(3));
    }

    #[test]
    fn a_pay_line_for_our_refund_reference_is_missing_in_feegate_and_says_why() {
        let items = reconcile(&[line(2, "FGR", Pay, 1000, true)], &[rec("FGR", Refund, 1000, "succeeded", false)]);
        assert_eq!(items[0].outcome, Outcome::MissingInFeegate);
        assert_eq!(items[0].reason, "the file has FGR as a pay, feegate has it as a refund");
    }

    #[test]
    fn outcomes_parse_back_from_their_names() {
        for o in Outcome::ALL {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
        }
        assert_eq!(Outcome::parse("nope"), None);
    }
}
