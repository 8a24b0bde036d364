//! Settlement matching: a gateway's settlement lines against feegate's records of one
//! business day, giving each line (and each record the file lacks) an outcome and a
//! sentence a person can read. Pure: the store fetches, this decides.
//!
//! Built for a million lines a day: lines and records are packed (their text in one
//! buffer each, rows of fixed size), the only index is over the file's references, and an
//! item is a pair of row numbers with an outcome; only items that are not matched carry a
//! reason of their own.

use feegate_connector::{SettlementKind, SettlementLine};
use std::collections::HashMap;

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

fn kind_slot(k: SettlementKind) -> usize {
    match k {
        SettlementKind::Pay => 0,
        SettlementKind::Refund => 1,
    }
}

/// More text than one packed buffer holds (4 GiB).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too much text to reconcile at once")]
pub struct TooLarge;

/// Where a string lies in a [`Text`] buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: u32,
    len: u32,
}

/// Strings packed end to end: one allocation instead of one per string.
#[derive(Debug, Default)]
struct Text(String);

impl Text {
    fn push(&mut self, s: &str) -> Result<Span, TooLarge> {
        let start = u32::try_from(self.0.len()).map_err(|_| TooLarge)?;
        let len = u32::try_from(s.len()).map_err(|_| TooLarge)?;
        start.checked_add(len).ok_or(TooLarge)?;
        self.0.push_str(s);
        Ok(Span { start, len })
    }

    fn get(&self, s: Span) -> &str {
        let start = s.start as usize;
        self.0.get(start..start + s.len as usize).unwrap_or("")
    }
}

/// A settlement file's lines, packed.
#[derive(Debug, Default)]
pub struct Lines {
    text: Text,
    rows: Vec<LineRow>,
}

#[derive(Debug)]
struct LineRow {
    line: u32,
    kind: SettlementKind,
    succeeded: bool,
    amount: i64,
    fee: i64,
    reference: Span,
    gateway_txn: Span,
    status: Span,
}

/// One settlement line, borrowed from [`Lines`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// 1-based line number in the file (header is line 1).
    pub line: i64,
    pub reference: &'a str,
    pub gateway_txn: &'a str,
    pub kind: SettlementKind,
    pub amount: i64,
    pub fee: i64,
    pub succeeded: bool,
    pub status: &'a str,
}

impl Lines {
    /// Packs parsed lines, freeing each one's strings as it goes.
    pub fn pack(lines: Vec<SettlementLine>) -> Result<Lines, TooLarge> {
        let mut out = Lines { text: Text::default(), rows: Vec::with_capacity(lines.len()) };
        for l in lines {
            let row = LineRow {
                line: u32::try_from(l.line).map_err(|_| TooLarge)?,
                kind: l.kind,
                succeeded: l.succeeded,
                amount: l.amount,
                fee: l.fee,
                reference: out.text.push(&l.reference)?,
                gateway_txn: out.text.push(&l.gateway_txn)?,
                status: out.text.push(&l.status)?,
            };
            out.rows.push(row);
        }
        out.text.0.shrink_to_fit();
        Ok(out)
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The `i`th line (0-based).
    pub fn get(&self, i: usize) -> Option<Line<'_>> {
        let r = self.rows.get(i)?;
        Some(Line {
            line: i64::from(r.line),
            reference: self.text.get(r.reference),
            gateway_txn: self.text.get(r.gateway_txn),
            kind: r.kind,
            amount: r.amount,
            fee: r.fee,
            succeeded: r.succeeded,
            status: self.text.get(r.status),
        })
    }

    fn reference(&self, i: usize) -> (&str, SettlementKind) {
        match self.rows.get(i) {
            Some(r) => (self.text.get(r.reference), r.kind),
            None => ("", SettlementKind::Pay),
        }
    }
}

/// One of our attempts or refunds at this connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    pub kind: SettlementKind,
    pub reference: &'a str,
    pub gateway_txn: Option<&'a str>,
    pub amount: i64,
    /// Our status (`succeeded`, `failed`, `pending`, ...).
    pub status: &'a str,
    /// Succeeded within the business day being reconciled.
    pub in_day: bool,
    pub payment_id: &'a str,
    /// The attempt's id for a pay, the refund's for a refund.
    pub id: &'a str,
}

impl<'a> Record<'a> {
    pub fn attempt_id(&self) -> Option<&'a str> {
        (self.kind == SettlementKind::Pay).then_some(self.id)
    }

    pub fn refund_id(&self) -> Option<&'a str> {
        (self.kind == SettlementKind::Refund).then_some(self.id)
    }
}

/// Our records to match a file against, packed.
#[derive(Debug, Default)]
pub struct Records {
    text: Text,
    rows: Vec<RecordRow>,
}

#[derive(Debug)]
struct RecordRow {
    kind: SettlementKind,
    in_day: bool,
    amount: i64,
    reference: Span,
    gateway_txn: Option<Span>,
    status: Span,
    payment_id: Span,
    id: Span,
}

impl Records {
    pub fn push(&mut self, r: Record<'_>) -> Result<(), TooLarge> {
        let t = &mut self.text;
        let row = RecordRow {
            kind: r.kind,
            in_day: r.in_day,
            amount: r.amount,
            reference: t.push(r.reference)?,
            gateway_txn: r.gateway_txn.map(|g| t.push(g)).transpose()?,
            status: t.push(r.status)?,
            payment_id: t.push(r.payment_id)?,
            id: t.push(r.id)?,
        };
        self.rows.push(row);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The `i`th record (0-based).
    pub fn get(&self, i: usize) -> Option<Record<'_>> {
        let r = self.rows.get(i)?;
        let t = &self.text;
        Some(Record {
            kind: r.kind,
            reference: t.get(r.reference),
            gateway_txn: r.gateway_txn.map(|g| t.get(g)),
            amount: r.amount,
            status: t.get(r.status),
            in_day: r.in_day,
            payment_id: t.get(r.payment_id),
            id: t.get(r.id),
        })
    }
}

/// One result row of a run: a line of the file and/or one of our records (by position
/// in [`Lines`] and [`Records`]), with its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub line: Option<u32>,
    pub record: Option<u32>,
    pub outcome: Outcome,
    /// What differs, in words; `None` when matched.
    pub reason: Option<Box<str>>,
}

/// An item with everything a stored item row holds, borrowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemFields<'a> {
    /// The file line number, when the item comes from the file.
    pub line: Option<i64>,
    pub reference: &'a str,
    pub gateway_txn: Option<&'a str>,
    pub kind: SettlementKind,
    pub amount_file: Option<i64>,
    pub amount_feegate: Option<i64>,
    pub status_file: Option<&'a str>,
    pub status_feegate: Option<&'a str>,
    pub fee: Option<i64>,
    pub outcome: Outcome,
    /// Empty when matched.
    pub reason: &'a str,
    pub payment_id: Option<&'a str>,
    pub attempt_id: Option<&'a str>,
    pub refund_id: Option<&'a str>,
}

impl Item {
    /// The item's columns, read from the lines and records it points at.
    pub fn fields<'a>(&'a self, lines: &'a Lines, records: &'a Records) -> ItemFields<'a> {
        let line = self.line.and_then(|i| lines.get(i as usize));
        let rec = self.record.and_then(|i| records.get(i as usize));
        ItemFields {
            line: line.map(|l| l.line),
            reference: line.map(|l| l.reference).or(rec.map(|r| r.reference)).unwrap_or(""),
            gateway_txn: match line {
                Some(l) => Some(l.gateway_txn),
                None => rec.and_then(|r| r.gateway_txn),
            },
            kind: line.map(|l| l.kind).or(rec.map(|r| r.kind)).unwrap_or(SettlementKind::Pay),
            amount_file: line.map(|l| l.amount),
            amount_feegate: rec.map(|r| r.amount),
            status_file: line.map(|l| l.status),
            status_feegate: rec.map(|r| r.status),
            fee: line.map(|l| l.fee),
            outcome: self.outcome,
            reason: self.reason.as_deref().unwrap_or(""),
            payment_id: rec.map(|r| r.payment_id),
            attempt_id: rec.and_then(|r| r.attempt_id()),
            refund_id: rec.and_then(|r| r.refund_id()),
        }
    }
}

/// No record (or line) in this slot.
const NONE: u32 = u32::MAX;
/// This line repeats an earlier line's reference and kind.
const DUP: u32 = u32::MAX - 1;

/// Matches records to the lines of one file as they arrive, in batches (the day's records,
/// then those of the [`unknown_references`](Matcher::unknown_references)), then
/// [`finish`](Matcher::finish)es. Memory: one hash entry per distinct reference of the
/// file and two `u32` per line.
pub struct Matcher<'a> {
    lines: &'a Lines,
    /// The first line of each reference, per kind (`NONE` if the file has none).
    index: HashMap<&'a str, [u32; 2]>,
    /// Per line: the record of its reference and kind, `NONE`, or `DUP`.
    slot: Vec<u32>,
    /// Per line: a record with its reference but of the other kind (explains a miss).
    other: Vec<u32>,
    /// Records of the day that no line names with their kind.
    lacking: Vec<u32>,
    /// Records already looked at.
    seen: usize,
}

impl<'a> Matcher<'a> {
    pub fn new(lines: &'a Lines) -> Result<Matcher<'a>, TooLarge> {
        let n = u32::try_from(lines.len()).ok().filter(|n| *n < DUP).ok_or(TooLarge)?;
        let mut index: HashMap<&'a str, [u32; 2]> = HashMap::with_capacity(lines.len());
        let mut slot = vec![NONE; lines.len()];
        for i in 0..n {
            let (reference, kind) = lines.reference(i as usize);
            let first = &mut index.entry(reference).or_insert([NONE; 2])[kind_slot(kind)];
            if *first == NONE {
                *first = i;
            } else {
                slot[i as usize] = DUP;
            }
        }
        Ok(Matcher { lines, index, slot, other: vec![NONE; lines.len()], lacking: Vec::new(), seen: 0 })
    }

    /// Takes the records added to `records` since the last call.
    pub fn add(&mut self, records: &Records) -> Result<(), TooLarge> {
        let end = u32::try_from(records.len()).ok().filter(|n| *n < DUP).ok_or(TooLarge)?;
        for j in self.seen as u32..end {
            let Some(r) = records.get(j as usize) else { break };
            let k = kind_slot(r.kind);
            let mut named = false;
            if let Some(first) = self.index.get(r.reference) {
                if first[k] != NONE {
                    // Two records of one reference and kind: the later one is matched,
                    // neither is lacking.
                    self.slot[first[k] as usize] = j;
                    named = true;
                }
                if first[1 - k] != NONE {
                    self.other[first[1 - k] as usize] = j;
                }
            }
            if !named && r.in_day {
                self.lacking.push(j);
            }
        }
        self.seen = end as usize;
        Ok(())
    }

    /// References of lines no record so far has (of either kind), each once: the ones to
    /// look up beyond the day's records.
    pub fn unknown_references(&self) -> Vec<&'a str> {
        let mut out: Vec<&'a str> = (0..self.lines.len())
            .filter(|i| self.slot[*i] == NONE && self.other[*i] == NONE)
            .map(|i| self.lines.reference(i).0)
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The items: file lines in file order, then the day's records the file lacks by kind
    /// and reference. Amounts that differ by at most `tolerance` đồng match.
    pub fn finish(self, records: &Records, tolerance: i64) -> Vec<Item> {
        let tolerance = tolerance.max(0);
        let mut out = Vec::with_capacity(self.lines.len() + self.lacking.len());
        for i in 0..self.lines.len() {
            let Some(l) = self.lines.get(i) else { break };
            let line = Some(i as u32);
            let item = match self.slot[i] {
                DUP => {
                    let first = self.index.get(l.reference).map_or(NONE, |f| f[kind_slot(l.kind)]);
                    let record = self.slot.get(first as usize).copied().filter(|j| *j < DUP);
                    let reason = format!("{} {} appears more than once in the file", kind_str(l.kind), l.reference);
                    Item { line, record, outcome: Outcome::Duplicate, reason: Some(reason.into()) }
                }
                NONE => {
                    let reason = match records.get(self.other[i] as usize) {
                        Some(r) => format!(
                            "the file has {} as a {}, feegate has it as a {}",
                            l.reference,
                            kind_str(l.kind),
                            kind_str(r.kind)
                        ),
                        None => format!("feegate has no {} with reference {}", kind_str(l.kind), l.reference),
                    };
                    Item { line, record: None, outcome: Outcome::MissingInFeegate, reason: Some(reason.into()) }
                }
                j => match records.get(j as usize) {
                    Some(r) => {
                        let (outcome, reason) = compare(&l, &r, tolerance);
                        Item { line, record: Some(j), outcome, reason }
                    }
                    None => Item { line, record: None, outcome: Outcome::MissingInFeegate, reason: None },
                },
            };
            out.push(item);
        }
        let mut lacking: Vec<(SettlementKind, &str, u32)> =
            self.lacking.iter().filter_map(|j| records.get(*j as usize).map(|r| (r.kind, r.reference, *j))).collect();
        lacking.sort_by(|a, b| (kind_str(a.0), a.1).cmp(&(kind_str(b.0), b.1)));
        for (_, _, j) in lacking {
            let Some(r) = records.get(j as usize) else { continue };
            let reason = format!(
                "{} {} of {} succeeded in feegate but is not in the file",
                kind_str(r.kind),
                r.reference,
                r.amount
            );
            out.push(Item {
                line: None,
                record: Some(j),
                outcome: Outcome::MissingInFile,
                reason: Some(reason.into()),
            });
        }
        out
    }
}

/// Matches all of `lines` against all of `records` (the day's succeeded records, `in_day`,
/// plus any other record whose reference the file names) in one go.
pub fn reconcile(lines: &Lines, records: &Records, tolerance: i64) -> Result<Vec<Item>, TooLarge> {
    let mut m = Matcher::new(lines)?;
    m.add(records)?;
    Ok(m.finish(records, tolerance))
}

fn compare(l: &Line<'_>, r: &Record<'_>, tolerance: i64) -> (Outcome, Option<Box<str>>) {
    let what = kind_str(l.kind);
    let ours_ok = r.status == "succeeded";
    if l.succeeded != ours_ok {
        let file = if l.succeeded { "succeeded" } else { "failed" };
        let reason = format!("{what} {}: {file} in file (status {}), {} in feegate", l.reference, l.status, r.status);
        return (Outcome::StatusMismatch, Some(reason.into()));
    }
    if l.amount.abs_diff(r.amount) > tolerance.unsigned_abs() {
        let reason = format!("amount {} in file, {} in feegate", l.amount, r.amount);
        return (Outcome::AmountMismatch, Some(reason.into()));
    }
    (Outcome::Matched, None)
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

    fn rec<'a>(reference: &'a str, kind: SettlementKind, amount: i64, status: &'a str, in_day: bool) -> Record<'a> {
        Record {
            kind,
            reference,
            gateway_txn: None,
            amount,
            status,
            in_day,
            payment_id: "pay_1",
            id: if kind == SettlementKind::Pay { "att_1" } else { "rfd_1" },
        }
    }

    fn pack(lines: Vec<SettlementLine>, recs: &[Record<'_>]) -> (Lines, Records) {
        let mut records = Records::default();
        for r in recs {
            records.push(*r).unwrap();
        }
        (Lines::pack(lines).unwrap(), records)
    }

    /// (reference, outcome, reason) of each item.
    type Seen = Vec<(String, Outcome, String)>;

    /// Reconciles and returns what each item says, and the items.
    fn run(lines: Vec<SettlementLine>, recs: &[Record<'_>], tolerance: i64) -> (Seen, Vec<Item>, Lines, Records) {
        let (lines, records) = pack(lines, recs);
        let items = reconcile(&lines, &records, tolerance).unwrap();
        let seen = items
            .iter()
            .map(|i| {
                let f = i.fields(&lines, &records);
                (f.reference.to_owned(), f.outcome, f.reason.to_owned())
            })
            .collect();
        (seen, items, lines, records)
    }

    use SettlementKind::{Pay, Refund};

    fn outcomes(seen: &[(String, Outcome, String)]) -> Vec<(&str, Outcome)> {
        seen.iter().map(|(r, o, _)| (r.as_str(), *o)).collect()
    }

    #[test]
    fn lines_that_agree_with_our_records_are_matched() {
        let (seen, items, lines, records) = run(
            vec![line(2, "FGA", Pay, 135000, true), line(3, "FGR", Refund, 35000, true)],
            &[rec("FGA", Pay, 135000, "succeeded", true), rec("FGR", Refund, 35000, "succeeded", true)],
            0,
        );
        assert_eq!(outcomes(&seen), vec![("FGA", Outcome::Matched), ("FGR", Outcome::Matched)]);
        let f = items[1].fields(&lines, &records);
        assert_eq!((f.refund_id, f.attempt_id, f.line, f.reason), (Some("rfd_1"), None, Some(3), ""));
        assert_eq!(counts(&items), [2, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn a_different_amount_is_a_mismatch_with_both_amounts_in_the_reason() {
        let (seen, ..) = run(vec![line(2, "FGA", Pay, 135000, true)], &[rec("FGA", Pay, 153000, "succeeded", true)], 0);
        assert_eq!(seen[0].1, Outcome::AmountMismatch);
        assert_eq!(seen[0].2, "amount 135000 in file, 153000 in feegate");
    }

    #[test]
    fn a_difference_within_the_configured_tolerance_matches_and_one_beyond_it_does_not() {
        let recs = [rec("FGA", Pay, 135000, "succeeded", true), rec("FGB", Pay, 135000, "succeeded", true)];
        let lines = || vec![line(2, "FGA", Pay, 135010, true), line(3, "FGB", Pay, 134989, true)];
        let (seen, ..) = run(lines(), &recs, 10);
        assert_eq!(outcomes(&seen), vec![("FGA", Outcome::Matched), ("FGB", Outcome::AmountMismatch)]);
        assert_eq!(seen[1].2, "amount 134989 in file, 135000 in feegate");
        let (seen, ..) = run(lines(), &recs, 0);
        assert_eq!(outcomes(&seen), vec![("FGA", Outcome::AmountMismatch), ("FGB", Outcome::AmountMismatch)]);
        let (seen, ..) = run(lines(), &recs, -50);
        assert_eq!(seen[0].1, Outcome::AmountMismatch, "a negative tolerance is no tolerance");
    }

    #[test]
    fn records_without_a_line_are_missing_in_file_and_unknown_lines_missing_in_feegate() {
        let (seen, items, lines, records) =
            run(vec![line(2, "FGX", Pay, 1000, true)], &[rec("FGA", Pay, 135000, "succeeded", true)], 0);
        assert_eq!(outcomes(&seen), vec![("FGX", Outcome::MissingInFeegate), ("FGA", Outcome::MissingInFile)]);
        assert_eq!(seen[0].2, "feegate has no pay with reference FGX");
        let f = items[1].fields(&lines, &records);
        assert_eq!((f.line, f.amount_file, f.amount_feegate, f.payment_id), (None, None, Some(135000), Some("pay_1")));
        assert_eq!(seen[1].2, "pay FGA of 135000 succeeded in feegate but is not in the file");
    }

    #[test]
    fn a_reference_we_hold_but_not_as_succeeded_is_a_status_mismatch() {
        let (seen, ..) = run(vec![line(2, "FGA", Pay, 135000, true)], &[rec("FGA", Pay, 135000, "failed", false)], 0);
        assert_eq!(seen[0].1, Outcome::StatusMismatch);
        assert_eq!(seen[0].2, "pay FGA: succeeded in file (status succeeded), failed in feegate");
        let (seen, ..) =
            run(vec![line(2, "FGA", Pay, 135000, false)], &[rec("FGA", Pay, 135000, "succeeded", true)], 0);
        assert_eq!(seen[0].1, Outcome::StatusMismatch);
        let (seen, ..) = run(vec![line(2, "FGA", Pay, 135000, false)], &[rec("FGA", Pay, 135000, "failed", false)], 0);
        assert_eq!(seen[0].1, Outcome::Matched, "both say it failed");
    }

    #[test]
    fn the_second_line_of_a_reference_is_a_duplicate_and_counted_once() {
        let l = line(2, "FGA", Pay, 135000, true);
        let mut again = l.clone();
        again.line = 3;
        let (seen, items, lines, records) = run(vec![l, again], &[rec("FGA", Pay, 135000, "succeeded", true)], 0);
        assert_eq!(outcomes(&seen), vec![("FGA", Outcome::Matched), ("FGA", Outcome::Duplicate)]);
        assert_eq!(seen[1].2, "pay FGA appears more than once in the file");
        let f = items[1].fields(&lines, &records);
        assert_eq!((f.line, f.attempt_id), (Some(3), Some("att_1")), "a duplicate still names our record");
    }

    #[test]
    fn a_pay_line_for_our_refund_reference_is_missing_in_feegate_and_says_why() {
        let (seen, ..) = run(vec![line(2, "FGR", Pay, 1000, true)], &[rec("FGR", Refund, 1000, "succeeded", false)], 0);
        assert_eq!(seen[0].1, Outcome::MissingInFeegate);
        assert_eq!(seen[0].2, "the file has FGR as a pay, feegate has it as a refund");
    }

    #[test]
    fn records_found_in_a_second_batch_match_the_lines_the_first_left_unknown() {
        let (lines, mut records) = pack(
            vec![line(2, "FGA", Pay, 1000, true), line(3, "FGB", Pay, 2000, true), line(4, "FGB", Pay, 2000, true)],
            &[rec("FGA", Pay, 1000, "succeeded", true)],
        );
        let mut m = Matcher::new(&lines).unwrap();
        m.add(&records).unwrap();
        assert_eq!(m.unknown_references(), vec!["FGB"], "once, though two lines name it");
        records.push(rec("FGB", Pay, 2000, "failed", false)).unwrap();
        m.add(&records).unwrap();
        assert!(m.unknown_references().is_empty());
        let items = m.finish(&records, 0);
        let got: Vec<Outcome> = items.iter().map(|i| i.outcome).collect();
        assert_eq!(got, vec![Outcome::Matched, Outcome::StatusMismatch, Outcome::Duplicate]);
        assert_eq!(items[1].record, Some(1));
    }

    #[test]
    fn missing_records_come_after_the_lines_ordered_by_kind_and_reference() {
        let recs = [
            rec("FGZ", Refund, 5, "succeeded", true),
            rec("FGB", Pay, 5, "succeeded", true),
            rec("FGA", Pay, 5, "succeeded", true),
            rec("FGQ", Pay, 5, "failed", false),
        ];
        let (seen, ..) = run(vec![line(2, "FGM", Pay, 5, true)], &recs, 0);
        assert_eq!(
            outcomes(&seen),
            vec![
                ("FGM", Outcome::MissingInFeegate),
                ("FGA", Outcome::MissingInFile),
                ("FGB", Outcome::MissingInFile),
                ("FGZ", Outcome::MissingInFile)
            ],
            "a record outside the day that the file does not name is no item"
        );
    }

    #[test]
    fn outcomes_parse_back_from_their_names() {
        for o in Outcome::ALL {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
        }
        assert_eq!(Outcome::parse("nope"), None);
    }
}
