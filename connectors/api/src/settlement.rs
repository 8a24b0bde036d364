//! The canonical settlement line every gateway's file is parsed into, and a CSV helper.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Whether a settlement row moved money to the merchant or back to the payer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SettlementKind {
    Pay,
    Refund,
}

/// One row of a gateway settlement file, in feegate's terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementLine {
    /// 1-based line number in the file (header is line 1).
    pub line: usize,
    /// Our reference (attempt or refund), gateway prefixes removed.
    pub reference: String,
    pub gateway_txn: String,
    pub kind: SettlementKind,
    /// Gross amount in minor units, always positive.
    pub amount: i64,
    /// Gateway fee in minor units (0 when the file has none).
    pub fee: i64,
    /// `true` when the gateway reports the transaction as successful.
    pub succeeded: bool,
    /// The gateway's own status text/code.
    pub status: String,
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
}

/// A settlement file that cannot be used, with the line at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettlementError {
    #[error("line {line}: {reason}")]
    Row { line: usize, reason: String },
    #[error("header: {0}")]
    Header(String),
    #[error("{operation} is not supported by this gateway")]
    NotSupported { operation: &'static str },
}

/// The settlement CSV layout all simulators write and all parsers read, column for column:
/// `reference,gateway_txn,type,amount,fee,status,time` where `type` is `pay` or `refund`,
/// `amount` and `fee` are whole đồng, `status` is the gateway's own code and `time` is
/// RFC 3339. `success_status` says which status codes mean success for that gateway.
pub const CSV_HEADER: [&str; 7] = ["reference", "gateway_txn", "type", "amount", "fee", "status", "time"];

/// Parses the settlement CSV layout (see [`CSV_HEADER`]). `strip_prefix` removes a
/// gateway prefix from references. Every malformed row is reported with its line.
pub fn parse_csv(
    bytes: &[u8],
    success_status: &[&str],
    strip_prefix: impl Fn(&str) -> String,
) -> Result<Vec<SettlementLine>, SettlementError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut rdr = csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(bytes);
    let headers = rdr.headers().map_err(|e| SettlementError::Header(e.to_string()))?.clone();
    let got: Vec<&str> = headers.iter().map(str::trim).collect();
    if got != CSV_HEADER {
        return Err(SettlementError::Header(format!("expected {}, found {}", CSV_HEADER.join(","), got.join(","))));
    }
    let mut out = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let line = i + 2;
        let rec = rec.map_err(|e| SettlementError::Row { line, reason: e.to_string() })?;
        let row = |reason: String| SettlementError::Row { line, reason };
        let field = |n: usize| rec.get(n).map(str::trim).unwrap_or("");
        let reference = strip_prefix(field(0));
        if reference.is_empty() {
            return Err(row("empty reference".into()));
        }
        let kind = match field(2) {
            "pay" => SettlementKind::Pay,
            "refund" => SettlementKind::Refund,
            other => return Err(row(format!("type `{other}` is neither pay nor refund"))),
        };
        let amount = parse_dong(field(3)).ok_or_else(|| row(format!("amount `{}` is not whole đồng", field(3))))?;
        if amount <= 0 {
            return Err(row(format!("amount `{amount}` must be positive")));
        }
        let fee = if field(4).is_empty() {
            0
        } else {
            parse_dong(field(4)).ok_or_else(|| row(format!("fee `{}` is not whole đồng", field(4))))?
        };
        let status = field(5).to_owned();
        let time = OffsetDateTime::parse(field(6), &time::format_description::well_known::Rfc3339)
            .map_err(|_| row(format!("time `{}` is not RFC 3339", field(6))))?;
        out.push(SettlementLine {
            line,
            reference,
            gateway_txn: field(1).to_owned(),
            kind,
            amount,
            fee,
            succeeded: success_status.contains(&status.as_str()),
            status,
            time,
        });
    }
    Ok(out)
}

/// Writes settlement lines in the shared CSV layout (used by simulators).
pub fn write_csv(rows: &[(String, String, SettlementKind, i64, i64, String, OffsetDateTime)]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(CSV_HEADER);
    for (reference, txn, kind, amount, fee, status, time) in rows {
        let kind = match kind {
            SettlementKind::Pay => "pay",
            SettlementKind::Refund => "refund",
        };
        let time = time.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
        let _ = w.write_record([reference, txn, kind, &amount.to_string(), &fee.to_string(), status, &time]);
    }
    w.into_inner().unwrap_or_default()
}

fn parse_dong(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 15 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_rows_are_reported_with_their_line_number() {
        let file = "reference,gateway_txn,type,amount,fee,status,time\n\
                    FG1,T1,pay,135000,0,00,2026-11-27T10:00:00+07:00\n\
                    FG2,T2,pay,13.5,0,00,2026-11-27T10:00:00+07:00\n";
        assert_eq!(
            parse_csv(file.as_bytes(), &["00"], str::to_owned),
            Err(SettlementError::Row { line: 3, reason: "amount `13.5` is not whole đồng".into() })
        );
    }

    #[test]
    fn written_rows_parse_back() {
        let t = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let bytes = write_csv(&[("FG1".into(), "T1".into(), SettlementKind::Refund, 5000, 10, "00".into(), t)]);
        let lines = parse_csv(&bytes, &["00"], str::to_owned).unwrap();
        assert_eq!(lines.len(), 1);
        assert_eq!(
            (lines[0].amount, lines[0].fee, lines[0].kind, lines[0].succeeded),
            (5000, 10, SettlementKind::Refund, true)
        );
    }

    #[test]
    fn a_wrong_header_is_refused() {
        assert!(matches!(parse_csv(b"a,b\n1,2\n", &[], str::to_owned), Err(SettlementError::Header(_))));
    }
}
