//! ISO 20022 camt.053 (BankToCustomerStatement, .001.02 to .001.08), read with quick-xml's
//! event reader. Elements are matched by local name and path inside `Stmt`; namespaces ignored.

use super::{
    check_balance, line_at, minor_units, normalise, parse_error, utf8, Balance, Direction, Entry, Statement,
    StatementError,
};
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;
use quick_xml::Reader;
use time::{Date, Month};

/// Parses every `Stmt` of a camt.053 document; each one is balance-checked.
pub fn parse(bytes: &[u8]) -> Result<Vec<Statement>, StatementError> {
    let text = utf8(bytes)?;
    let mut reader = Reader::from_str(text);
    let mut lines = Lines { text, offset: 0, line: 1 };
    let mut path: Vec<String> = Vec::new();
    let mut content = String::new();
    let mut doc = Doc::default();
    loop {
        let line = lines.at(reader.buffer_position());
        let event = reader.read_event().map_err(|e| {
            parse_error(line_at(text, usize::try_from(reader.error_position()).unwrap_or(0)), format!("bad XML: {e}"))
        })?;
        match event {
            Event::Start(e) | Event::Empty(e) if path.len() >= 64 => {
                let name = e.local_name().as_ref().to_owned();
                return Err(parse_error(line, format!("<{name}> is nested too deep")));
            }
            Event::Start(e) => {
                path.push(e.local_name().as_ref().to_owned());
                doc.open(&path, currency_attribute(&e), line);
                content.clear();
            }
            Event::Empty(e) => {
                path.push(e.local_name().as_ref().to_owned());
                doc.open(&path, currency_attribute(&e), line);
                doc.close(&path, "", line)?;
                path.pop();
                content.clear();
            }
            Event::End(_) => {
                doc.close(&path, &content, line)?;
                path.pop();
                content.clear();
            }
            Event::Text(t) => content.push_str(&t),
            Event::CData(t) => content.push_str(&t),
            Event::GeneralRef(r) => match r.resolve_char_ref() {
                Ok(Some(c)) => content.push(c),
                _ => match resolve_predefined_entity(&r) {
                    Some(s) => content.push_str(s),
                    None => return Err(parse_error(line, format!("unknown entity &{};", &*r))),
                },
            },
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if let Some(open) = path.last() {
        return Err(parse_error(lines.at(reader.buffer_position()), format!("the file ends inside <{open}>")));
    }
    if doc.statements.is_empty() {
        return Err(parse_error(1, "no camt.053 statement (BkToCstmrStmt/Stmt) in the file"));
    }
    Ok(doc.statements)
}

/// Turns byte offsets into line numbers, counting forward from the last offset asked.
struct Lines<'a> {
    text: &'a str,
    offset: usize,
    line: usize,
}

impl Lines<'_> {
    fn at(&mut self, offset: u64) -> usize {
        let offset = usize::try_from(offset).unwrap_or(usize::MAX).min(self.text.len());
        if offset < self.offset {
            return line_at(self.text, offset);
        }
        self.line += self.text.as_bytes()[self.offset..offset].iter().filter(|b| **b == b'\n').count();
        self.offset = offset;
        self.line
    }
}

fn currency_attribute(e: &quick_xml::events::BytesStart<'_>) -> Option<String> {
    e.try_get_attribute("Ccy").ok().flatten().map(|a| a.value.trim().to_owned())
}

/// Everything read so far: finished statements and the one being read.
#[derive(Default)]
struct Doc {
    statements: Vec<Statement>,
    stmt: Option<StmtDraft>,
    /// Depth of the `Stmt` element in the path.
    depth: usize,
    /// `Ccy` of the last `Amt` opened.
    currency: Option<String>,
}

#[derive(Default)]
struct StmtDraft {
    line: usize,
    id: String,
    account: String,
    currency: String,
    openings: Vec<(String, Money, Date)>,
    closing: Option<(Money, Date, usize)>,
    bal: Option<BalDraft>,
    ntry: Option<NtryDraft>,
    entries: Vec<Entry>,
    /// Every currency seen on an amount, with its line, checked against the statement's.
    currencies: Vec<(String, usize)>,
}

/// An amount as read: minor units and its currency.
type Money = (i64, String);

#[derive(Default)]
struct BalDraft {
    line: usize,
    code: String,
    amount: Option<Money>,
    sign: String,
    date: Option<Date>,
}

#[derive(Default)]
struct NtryDraft {
    line: usize,
    amount: Option<Money>,
    sign: String,
    status: String,
    booking: Option<Date>,
    value: Option<Date>,
    reference: String,
    tx_reference: String,
    entry_ref: String,
    unstructured: Vec<String>,
    additional: String,
}

impl Doc {
    fn open(&mut self, path: &[String], currency: Option<String>, line: usize) {
        let n = path.len();
        if n >= 2 && path[n - 1] == "Stmt" && path[n - 2] == "BkToCstmrStmt" && self.stmt.is_none() {
            self.stmt = Some(StmtDraft { line, ..StmtDraft::default() });
            self.depth = n;
            return;
        }
        let Some(stmt) = self.stmt.as_mut() else { return };
        let rel: Vec<&str> = path[self.depth..].iter().map(String::as_str).collect();
        match rel.as_slice() {
            ["Bal"] => stmt.bal = Some(BalDraft { line, ..BalDraft::default() }),
            ["Ntry"] => stmt.ntry = Some(NtryDraft { line, ..NtryDraft::default() }),
            ["Bal" | "Ntry", "Amt"] => self.currency = currency,
            _ => {}
        }
    }

    fn close(&mut self, path: &[String], text: &str, line: usize) -> Result<(), StatementError> {
        let Some(stmt) = self.stmt.as_mut() else { return Ok(()) };
        if path.len() < self.depth {
            return Ok(());
        }
        let rel: Vec<&str> = path[self.depth..].iter().map(String::as_str).collect();
        let t = text.trim();
        match rel.as_slice() {
            [] => {
                if let Some(stmt) = self.stmt.take() {
                    self.statements.push(stmt.finish()?);
                }
            }
            ["Id"] => stmt.id = t.to_owned(),
            ["Acct", "Id", "IBAN"] | ["Acct", "Id", "Othr", "Id"] => stmt.account = t.to_owned(),
            ["Acct", "Ccy"] => stmt.currency = t.to_owned(),
            ["Bal" | "Ntry", "Amt"] => {
                let ccy = self.currency.take().ok_or_else(|| parse_error(line, "<Amt> without a Ccy"))?;
                let money = (minor_units(t, &ccy, line)?, ccy.clone());
                stmt.currencies.push((ccy, line));
                match (rel[0], stmt.bal.as_mut(), stmt.ntry.as_mut()) {
                    ("Bal", Some(b), _) => b.amount = Some(money),
                    (_, _, Some(n)) => n.amount = Some(money),
                    _ => {}
                }
            }
            ["Bal", rest @ ..] => {
                if let Some(b) = stmt.bal.as_mut() {
                    match rest {
                        ["Tp", "CdOrPrtry", "Cd"] => b.code = t.to_owned(),
                        ["CdtDbtInd"] => b.sign = t.to_owned(),
                        ["Dt", "Dt" | "DtTm"] => b.date = Some(iso_date(t, line)?),
                        [] => {
                            let draft = std::mem::take(b);
                            stmt.bal = None;
                            stmt.add_balance(draft)?;
                        }
                        _ => {}
                    }
                }
            }
            ["Ntry", rest @ ..] => {
                if let Some(n) = stmt.ntry.as_mut() {
                    match rest {
                        ["CdtDbtInd"] => n.sign = t.to_owned(),
                        ["Sts"] | ["Sts", "Cd"] => n.status = t.to_owned(),
                        ["BookgDt", "Dt" | "DtTm"] => n.booking = Some(iso_date(t, line)?),
                        ["ValDt", "Dt" | "DtTm"] => n.value = Some(iso_date(t, line)?),
                        ["AcctSvcrRef"] => n.reference = t.to_owned(),
                        ["NtryRef"] => n.entry_ref = t.to_owned(),
                        ["AddtlNtryInf"] => n.additional = normalise(t),
                        ["NtryDtls", "TxDtls", "Refs", "AcctSvcrRef"] if n.tx_reference.is_empty() => {
                            n.tx_reference = t.to_owned()
                        }
                        ["NtryDtls", "TxDtls", "RmtInf", "Ustrd"] => n.unstructured.push(normalise(t)),
                        [] => {
                            let draft = std::mem::take(n);
                            stmt.ntry = None;
                            if let Some(entry) = draft.finish()? {
                                stmt.entries.push(entry);
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

impl StmtDraft {
    fn add_balance(&mut self, b: BalDraft) -> Result<(), StatementError> {
        if !matches!(b.code.as_str(), "OPBD" | "PRCD" | "CLBD") {
            return Ok(());
        }
        let (amount, ccy) = b.amount.ok_or_else(|| parse_error(b.line, format!("{} balance without <Amt>", b.code)))?;
        let date = b.date.ok_or_else(|| parse_error(b.line, format!("{} balance without <Dt>", b.code)))?;
        let signed = match b.sign.as_str() {
            "CRDT" => amount,
            "DBIT" => -amount,
            other => return Err(parse_error(b.line, format!("balance CdtDbtInd {other:?} is not CRDT or DBIT"))),
        };
        if b.code == "CLBD" {
            if self.closing.is_some() {
                return Err(parse_error(b.line, "a second CLBD balance"));
            }
            self.closing = Some(((signed, ccy), date, b.line));
        } else {
            if self.openings.iter().any(|(code, _, _)| *code == b.code) {
                return Err(parse_error(b.line, format!("a second {} balance", b.code)));
            }
            self.openings.push((b.code, (signed, ccy), date));
        }
        Ok(())
    }

    fn finish(self) -> Result<Statement, StatementError> {
        let at = self.line;
        let missing = |what: &str| parse_error(at, format!("statement without {what}"));
        if self.id.is_empty() {
            return Err(missing("<Id>"));
        }
        if self.account.is_empty() {
            return Err(missing("an account (Acct/Id/IBAN or Acct/Id/Othr/Id)"));
        }
        // OPBD is the booked opening balance; PRCD (previous closing) stands in for it when alone.
        let opening = self
            .openings
            .iter()
            .find(|(code, _, _)| code == "OPBD")
            .or_else(|| self.openings.first())
            .ok_or_else(|| missing("an opening balance (OPBD or PRCD)"))?;
        let ((closing, _), closing_date, closing_line) = self.closing.ok_or_else(|| missing("a CLBD balance"))?;
        let currency = if self.currency.is_empty() { opening.1 .1.clone() } else { self.currency };
        if let Some((other, line)) = self.currencies.iter().find(|(c, _)| *c != currency) {
            return Err(parse_error(*line, format!("amount in {other} on a {currency} statement")));
        }
        let statement = Statement {
            account: self.account,
            currency,
            statement_id: self.id,
            opening: Balance { date: opening.2, amount: opening.1 .0 },
            closing: Balance { date: closing_date, amount: closing },
            entries: self.entries,
        };
        check_balance(&statement, closing_line)?;
        Ok(statement)
    }
}

impl NtryDraft {
    /// The entry, or `None` for a pending or information-only one (not in the booked balance).
    fn finish(self) -> Result<Option<Entry>, StatementError> {
        if matches!(self.status.as_str(), "PDNG" | "INFO") {
            return Ok(None);
        }
        let (amount, currency) = self.amount.ok_or_else(|| parse_error(self.line, "entry without <Amt>"))?;
        // CdtDbtInd is the booked direction even for reversals (RvslInd only says where it came from).
        let direction = match self.sign.as_str() {
            "CRDT" => Direction::Credit,
            "DBIT" => Direction::Debit,
            other => return Err(parse_error(self.line, format!("entry CdtDbtInd {other:?} is not CRDT or DBIT"))),
        };
        let booking_date = self
            .booking
            .or(self.value)
            .ok_or_else(|| parse_error(self.line, "entry without a booking date (BookgDt)"))?;
        let reference =
            [self.reference, self.tx_reference, self.entry_ref].into_iter().find(|r| !r.is_empty()).unwrap_or_default();
        let unstructured: Vec<String> = self.unstructured.into_iter().filter(|s| !s.is_empty()).collect();
        let content = if unstructured.is_empty() { self.additional } else { unstructured.join(" ") };
        Ok(Some(Entry {
            line: self.line,
            booking_date,
            value_date: self.value,
            amount,
            currency,
            direction,
            reference,
            content,
        }))
    }
}

/// Reads the date of `YYYY-MM-DD` or `YYYY-MM-DDThh:mm:ss…` as written (no time-zone shift).
fn iso_date(text: &str, line: usize) -> Result<Date, StatementError> {
    let bad = || parse_error(line, format!("{text:?} is not an ISO date"));
    let b = text.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' || (b.len() > 10 && b[10] != b'T') {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let s = text.get(r)?;
        if s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    let (y, m, d) = (num(0..4).ok_or_else(bad)?, num(5..7).ok_or_else(bad)?, num(8..10).ok_or_else(bad)?);
    let month = Month::try_from(u8::try_from(m).map_err(|_| bad())?).map_err(|_| bad())?;
    Date::from_calendar_date(i32::try_from(y).map_err(|_| bad())?, month, u8::try_from(d).map_err(|_| bad())?)
        .map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::statement::test_support::{fixture, never_panics};
    use time::macros::date;

    #[test]
    fn a_vietinbank_statement_reads_balances_and_fee_credits() {
        let s = parse(&fixture("camt053_vietinbank.xml")).unwrap();
        assert_eq!(s.len(), 1);
        let s = &s[0];
        assert_eq!(s.account, "113000012345");
        assert_eq!(s.currency, "VND");
        assert_eq!(s.statement_id, "CTG-STMT-20250315-113000012345");
        assert_eq!(s.opening, Balance { date: date!(2025 - 03 - 14), amount: 52_400_000 });
        assert_eq!(s.closing, Balance { date: date!(2025 - 03 - 15), amount: 52_906_000 });
        assert_eq!(s.entries.len(), 5);
        let e = &s.entries[0];
        assert_eq!(e.amount, 135_000);
        assert_eq!(e.direction, Direction::Credit);
        assert_eq!(e.booking_date, date!(2025 - 03 - 15));
        assert_eq!(e.value_date, Some(date!(2025 - 03 - 15)));
        assert_eq!(e.reference, "FT25074300117");
        assert_eq!(e.content, "MBVCB.3278614911.FG8WCR2FK0AM.CT tu 0011004 NGUYEN VAN A toi 113000012345");
        assert_eq!(e.line, 49);
        let fee = s.entries.iter().find(|e| e.direction == Direction::Debit).unwrap();
        assert_eq!(fee.amount, 11_000);
        assert_eq!(fee.content, "Phi dich vu SMS Banking thang 02/2025");
    }

    #[test]
    fn several_remittance_lines_are_joined_and_pending_entries_are_left_out() {
        let s = parse(&fixture("camt053_vietinbank.xml")).unwrap();
        let batch = s[0].entries.iter().find(|e| e.reference == "FT25074800231").unwrap();
        assert_eq!(batch.content, "VNPAY QT 20250314 FEEGATE BATCH 0314-01 12 GD");
        assert!(s[0].entries.iter().all(|e| e.reference != "FT25074999999"), "pending entry must be skipped");
    }

    #[test]
    fn a_multi_statement_eur_file_gives_one_statement_each() {
        let s = parse(&fixture("camt053_multi.xml")).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].currency, "EUR");
        assert_eq!(s[0].account, "DE89370400440532013000");
        assert_eq!(s[0].opening.amount, 1_250_075);
        assert_eq!(s[1].opening.amount, s[0].closing.amount);
        assert_eq!(s[1].entries[0].direction, Direction::Debit);
        assert_eq!(s[1].entries[0].content, "Gebuehren Kontofuehrung 02/2025");
        assert_eq!(s[0].entries[0].content, "VISA-Antrag 2025-0417 Tran Thi B");
        assert_eq!(s[0].entries[0].booking_date, date!(2025 - 03 - 03));
    }

    #[test]
    fn an_unbalanced_camt053_is_rejected_with_its_numbers() {
        let e = parse(&fixture("camt053_unbalanced.xml")).unwrap_err();
        match e {
            StatementError::Unbalanced { line, opening, movements, closing, .. } => {
                assert_eq!((opening, movements, closing), (10_000_000, 405_000, 10_450_000));
                assert_eq!(line, 20);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_public_genkgo_sample_imports_and_adds_up() {
        let s = parse(&fixture("genkgo-camt053.v2.multi.statement.xml")).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].statement_id, "253EURNL26VAYB8060476890");
        assert_eq!(s[0].account, "NL26VAYB8060476890");
        assert_eq!((s[0].opening.amount, s[0].closing.amount), (1_815, 2_700));
        assert_eq!((s[1].opening.amount, s[1].closing.amount), (2_700, 2_000));
        assert_eq!(s[0].entries[0].amount, 885);
        assert_eq!(s[0].entries[0].content, "Transaction Description 1");
        assert_eq!(s[0].entries[0].value_date, Some(date!(2015 - 01 - 02)));
        assert_eq!(s[1].entries[0].direction, Direction::Debit);
    }

    #[test]
    fn prefixes_namespaces_entities_and_date_times_are_understood() {
        let xml = r#"<?xml version="1.0"?>
<c:Document xmlns:c="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><c:BkToCstmrStmt><c:Stmt>
<c:Id>S1</c:Id><c:Acct><c:Id><c:Othr><c:Id>0011004</c:Id></c:Othr></c:Id></c:Acct>
<c:Bal><c:Tp><c:CdOrPrtry><c:Cd>PRCD</c:Cd></c:CdOrPrtry></c:Tp><c:Amt Ccy="VND">100</c:Amt>
<c:CdtDbtInd>DBIT</c:CdtDbtInd><c:Dt><c:DtTm>2025-03-14T23:59:59+07:00</c:DtTm></c:Dt></c:Bal>
<c:Bal><c:Tp><c:CdOrPrtry><c:Cd>CLBD</c:Cd></c:CdOrPrtry></c:Tp><c:Amt Ccy="VND">50</c:Amt>
<c:CdtDbtInd>CRDT</c:CdtDbtInd><c:Dt><c:Dt>2025-03-15</c:Dt></c:Dt></c:Bal>
<c:Ntry><c:Amt Ccy="VND">150</c:Amt><c:CdtDbtInd>CRDT</c:CdtDbtInd><c:Sts><c:Cd>BOOK</c:Cd></c:Sts>
<c:BookgDt><c:DtTm>2025-03-15T08:00:00</c:DtTm></c:BookgDt><c:AddtlNtryInf>A &amp; B &#x41;</c:AddtlNtryInf></c:Ntry>
</c:Stmt></c:BkToCstmrStmt></c:Document>"#;
        let s = parse(xml.as_bytes()).unwrap();
        assert_eq!(s[0].account, "0011004");
        assert_eq!(s[0].currency, "VND");
        assert_eq!(s[0].opening, Balance { date: date!(2025 - 03 - 14), amount: -100 });
        assert_eq!(s[0].entries[0].content, "A & B A");
        assert_eq!(s[0].entries[0].reference, "");
        assert_eq!(s[0].entries[0].value_date, None);
    }

    #[test]
    fn broken_files_are_errors_that_name_the_line() {
        let good = String::from_utf8(fixture("camt053_vietinbank.xml")).unwrap();
        let fraction = good.replacen(">135000<", ">135000.50<", 1);
        let e = parse(fraction.as_bytes()).unwrap_err();
        assert_eq!(e.line(), 50, "{e}");
        assert!(e.to_string().contains("whole"), "{e}");
        let unknown = good.replacen(r#"Ccy="VND">135000"#, r#"Ccy="XYZ">135000"#, 1);
        assert!(parse(unknown.as_bytes()).unwrap_err().to_string().contains("unknown currency"));
        let mixed = good.replacen(r#"Ccy="VND">135000"#, r#"Ccy="USD">135000"#, 1);
        assert_eq!(parse(mixed.as_bytes()).unwrap_err().line(), 50);
        let e = parse(&fixture("camt053_vietinbank.xml")[..900]).unwrap_err();
        assert!(e.line() > 1, "{e}");
        assert_eq!(parse(b"<Document/>").unwrap_err().line(), 1);
        assert!(parse(b"<a><b></a>").is_err());
        assert!(parse(b"<a>&bogus;</a>").is_err());
    }

    #[test]
    fn no_input_makes_the_camt053_parser_panic() {
        for name in ["camt053_vietinbank.xml", "camt053_multi.xml", "genkgo-camt053.v2.multi.statement.xml"] {
            never_panics(&fixture(name), 3000, |b| {
                let _ = parse(b);
            });
        }
    }
}
