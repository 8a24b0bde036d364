//! VNPay's merchant API (`POST {api_url}`, JSON): querydr (§1.6) and refund (§1.7), each
//! request signed with its `|`-joined checksum and each response's checksum verified.

use crate::sign::{self, QUERYDR_REQUEST, QUERYDR_RESPONSE, REFUND_REQUEST, REFUND_RESPONSE};
use crate::wire::{self, ApiCode, TxnStatus, VERSION};
use crate::Settings;
use feegate_connector::{
    ConnectorError, Outcome, QueryRequest, QueryResult, RefundOutcome, RefundRequest, RefundResult,
};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use time::OffsetDateTime;

type Fields = BTreeMap<String, String>;

/// A `vnp_RequestId` (Alphanumeric[1,32]) unique per request and day.
pub fn request_id() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed) & 0xffff;
    let t = OffsetDateTime::now_utc().unix_timestamp_nanos() as u64;
    format!("{t:x}{n:04x}")
}

fn bad(msg: impl Into<String>) -> ConnectorError {
    ConnectorError::BadResponse(msg.into())
}

fn field<'a>(m: &'a Fields, k: &str) -> &'a str {
    m.get(k).map(String::as_str).unwrap_or("")
}

async fn post(s: &Settings, http: &reqwest::Client, req: &Fields, order: &[&str]) -> Result<Fields, ConnectorError> {
    let r = http.post(&s.api_url).json(req).send().await?;
    let status = r.status().as_u16();
    if status >= 500 {
        return Err(ConnectorError::Transport(format!("VNPay answered HTTP {status}")));
    }
    let body = feegate_connector::http::read_capped(r).await?;
    if status != 200 {
        return Err(bad(format!("VNPay answered HTTP {status}")));
    }
    let msg = sign::json_fields(&body).ok_or_else(|| bad("response is not a flat JSON object"))?;
    if !sign::verify_message(s.key(), &msg, order) {
        return Err(bad(format!(
            "response checksum does not verify (unverified vnp_ResponseCode `{}`)",
            field(&msg, "vnp_ResponseCode")
        )));
    }
    let command = field(&msg, "vnp_Command");
    if !command.is_empty() && command != field(req, "vnp_Command") {
        return Err(bad(format!("answer to `{command}`, not to `{}`", field(req, "vnp_Command"))));
    }
    let (tmn, txn_ref) = (field(&msg, "vnp_TmnCode"), field(&msg, "vnp_TxnRef"));
    if !tmn.is_empty() && tmn != s.tmn_code {
        return Err(bad(format!("answer for terminal `{tmn}`")));
    }
    if !txn_ref.is_empty() && txn_ref != field(req, "vnp_TxnRef") {
        return Err(bad(format!("answer for vnp_TxnRef `{txn_ref}`")));
    }
    Ok(msg)
}

fn rejected(msg: &Fields, code: &ApiCode) -> ConnectorError {
    let text = field(msg, "vnp_Message");
    ConnectorError::Rejected {
        code: field(msg, "vnp_ResponseCode").to_owned(),
        message: if text.is_empty() { code.message().to_owned() } else { text.to_owned() },
    }
}

/// Sends querydr for `reference` and gives the verified response with `vnp_ResponseCode` 00
/// or 91 (not found); other codes are `Rejected`.
async fn querydr(
    s: &Settings,
    http: &reqwest::Client,
    reference: &str,
    txn: Option<&str>,
    created_at: OffsetDateTime,
) -> Result<(ApiCode, Fields), ConnectorError> {
    let mut m = Fields::new();
    for (k, v) in [
        ("vnp_RequestId", request_id()),
        ("vnp_Version", VERSION.to_owned()),
        ("vnp_Command", "querydr".to_owned()),
        ("vnp_TmnCode", s.tmn_code.clone()),
        ("vnp_TxnRef", reference.to_owned()),
        ("vnp_OrderInfo", format!("Truy van giao dich {reference}")),
        ("vnp_TransactionDate", sign::vn_date(created_at)),
        ("vnp_CreateDate", sign::vn_date(OffsetDateTime::now_utc())),
        ("vnp_IpAddr", s.server_ip.clone()),
    ] {
        m.insert(k.to_owned(), v);
    }
    if let Some(t) = txn.and_then(wire::txn_no) {
        // Sent but not part of the querydr checksum (§1.6).
        m.insert("vnp_TransactionNo".into(), t);
    }
    let hash = sign::message_checksum(s.key(), &m, &QUERYDR_REQUEST);
    m.insert("vnp_SecureHash".into(), hash);
    let msg = post(s, http, &m, &QUERYDR_RESPONSE).await?;
    let code = ApiCode::parse(field(&msg, "vnp_ResponseCode"));
    match code {
        ApiCode::Ok | ApiCode::NotFound => Ok((code, msg)),
        ApiCode::InvalidTmnCode
        | ApiCode::BadFormat
        | ApiCode::Duplicate
        | ApiCode::OriginalNotSuccessful
        | ApiCode::BadChecksum
        | ApiCode::OtherError
        | ApiCode::Unknown(_) => Err(rejected(&msg, &code)),
    }
}

/// Where a payment stands, by querydr.
pub async fn query(s: &Settings, http: &reqwest::Client, req: &QueryRequest) -> Result<QueryResult, ConnectorError> {
    let (code, msg) = querydr(s, http, &req.reference, req.gateway_txn.as_deref(), req.created_at).await?;
    if code == ApiCode::NotFound {
        // VNPay has no record yet: the payer has not finished (or never opened the page).
        return Ok(QueryResult { outcome: Outcome::Pending, gateway_txn: None, amount: None });
    }
    query_result(&msg, req.gateway_txn.clone())
}

/// Maps a verified querydr answer (code 00) for a payment.
pub fn query_result(msg: &Fields, known_txn: Option<String>) -> Result<QueryResult, ConnectorError> {
    let status_code = field(msg, "vnp_TransactionStatus");
    let status = TxnStatus::parse(status_code);
    match field(msg, "vnp_TransactionType") {
        "01" | "" => {}
        // The latest transaction on this order is a refund, so the payment was paid.
        // (Unsure: VNPay's doc does not say which transaction querydr shows after a refund.)
        "02" | "03" => return Ok(QueryResult { outcome: Outcome::Succeeded, gateway_txn: known_txn, amount: None }),
        other => return Err(bad(format!("unknown vnp_TransactionType `{other}`"))),
    }
    let failed =
        |status: &TxnStatus| Outcome::Failed { code: status_code.to_owned(), message: status.message().into() };
    let outcome = match &status {
        TxnStatus::Success => Outcome::Succeeded,
        TxnStatus::NotCompleted | TxnStatus::SuspectedFraud => Outcome::Pending,
        TxnStatus::Error | TxnStatus::Reversed => failed(&status),
        TxnStatus::RefundProcessing | TxnStatus::RefundSentToBank | TxnStatus::RefundRejected => {
            return Err(bad(format!("refund status `{status_code}` on a payment transaction")))
        }
        TxnStatus::Unknown(code) => return Err(bad(format!("unknown vnp_TransactionStatus `{code}`"))),
    };
    let amount = match field(msg, "vnp_Amount") {
        "" => None,
        a => Some(wire::parse_amount(a).map_err(bad)?),
    };
    let gateway_txn = wire::txn_no(field(msg, "vnp_TransactionNo")).or(known_txn);
    Ok(QueryResult { outcome, gateway_txn, amount })
}

/// Refunds (part of) a payment. `vnp_RequestId` is our refund reference, so a retried
/// request is the same request to VNPay.
pub async fn refund(s: &Settings, http: &reqwest::Client, req: &RefundRequest) -> Result<RefundResult, ConnectorError> {
    let amount = wire::format_amount(req.amount)
        .map_err(|message| ConnectorError::Rejected { code: "invalid_request".into(), message })?;
    let kind = if req.amount == req.original_amount { "02" } else { "03" };
    let request_id = Some(req.refund_reference.as_str())
        .filter(|r| !r.is_empty() && r.len() <= 32 && r.bytes().all(|b| b.is_ascii_alphanumeric()))
        .map(str::to_owned)
        .unwrap_or_else(request_id);
    let created_by = wire::order_info(&req.requested_by, "feegate").chars().take(100).collect::<String>();
    let mut m = Fields::new();
    for (k, v) in [
        ("vnp_RequestId", request_id),
        ("vnp_Version", VERSION.to_owned()),
        ("vnp_Command", "refund".to_owned()),
        ("vnp_TmnCode", s.tmn_code.clone()),
        ("vnp_TransactionType", kind.to_owned()),
        ("vnp_TxnRef", req.payment_reference.clone()),
        ("vnp_Amount", amount),
        ("vnp_TransactionNo", req.gateway_txn.as_deref().and_then(wire::txn_no).unwrap_or_else(|| "0".into())),
        ("vnp_TransactionDate", sign::vn_date(req.payment_created_at)),
        ("vnp_CreateBy", created_by),
        ("vnp_CreateDate", sign::vn_date(OffsetDateTime::now_utc())),
        ("vnp_IpAddr", s.server_ip.clone()),
        ("vnp_OrderInfo", wire::order_info(&req.reason, &format!("Hoan tien {}", req.payment_reference))),
    ] {
        m.insert(k.to_owned(), v);
    }
    let hash = sign::message_checksum(s.key(), &m, &REFUND_REQUEST);
    m.insert("vnp_SecureHash".into(), hash);
    let msg = post(s, http, &m, &REFUND_RESPONSE).await?;
    refund_result(&msg)
}

/// Maps a verified refund answer.
pub fn refund_result(msg: &Fields) -> Result<RefundResult, ConnectorError> {
    let code = ApiCode::parse(field(msg, "vnp_ResponseCode"));
    match code {
        ApiCode::Ok => {}
        // The same refund was already asked for and VNPay is on it: not a refusal.
        // 99 "other error" does not say whether VNPay recorded the refund (the notes are
        // unsure what it covers), so it is not a refusal either: the resolver asks.
        ApiCode::Duplicate | ApiCode::OtherError => {
            return Ok(RefundResult { outcome: RefundOutcome::Pending, gateway_refund_ref: None })
        }
        ApiCode::InvalidTmnCode
        | ApiCode::BadFormat
        | ApiCode::NotFound
        | ApiCode::OriginalNotSuccessful
        | ApiCode::BadChecksum
        | ApiCode::Unknown(_) => return Err(rejected(msg, &code)),
    }
    let status_code = field(msg, "vnp_TransactionStatus");
    let outcome = if status_code.is_empty() {
        // Accepted without a status: its fate comes from query_refund.
        RefundOutcome::Pending
    } else {
        refund_outcome(status_code)?
    };
    Ok(RefundResult { outcome, gateway_refund_ref: wire::txn_no(field(msg, "vnp_TransactionNo")) })
}

fn refund_outcome(status_code: &str) -> Result<RefundOutcome, ConnectorError> {
    let status = TxnStatus::parse(status_code);
    Ok(match &status {
        TxnStatus::Success => RefundOutcome::Succeeded,
        TxnStatus::NotCompleted
        | TxnStatus::RefundProcessing
        | TxnStatus::RefundSentToBank
        | TxnStatus::SuspectedFraud
        | TxnStatus::Reversed => RefundOutcome::Pending,
        TxnStatus::Error | TxnStatus::RefundRejected => {
            RefundOutcome::Failed { code: status_code.to_owned(), message: status.message().into() }
        }
        TxnStatus::Unknown(code) => return Err(bad(format!("unknown vnp_TransactionStatus `{code}`"))),
    })
}

/// Where a refund stands. VNPay has no refund query: this asks querydr for the payment
/// and reads the refund off it, recognising it by VNPay's own number for the refund
/// (`gateway_refund_ref`, from the refund answer), never by its amount: two equal refunds
/// of one payment must not both be settled by one answer (docs/connectors/vnpay.md).
pub async fn query_refund(
    s: &Settings,
    http: &reqwest::Client,
    req: &RefundRequest,
) -> Result<RefundResult, ConnectorError> {
    let (code, msg) =
        querydr(s, http, &req.payment_reference, req.gateway_txn.as_deref(), req.payment_created_at).await?;
    if code == ApiCode::NotFound {
        // 91: VNPay shows nothing (yet). That says nothing about the refund.
        return Ok(RefundResult { outcome: RefundOutcome::Pending, gateway_refund_ref: None });
    }
    refund_query_result(&msg, req.gateway_refund_ref.as_deref())
}

/// Maps a verified querydr answer (code 00) for the refund VNPay numbered `ours` (`None`:
/// the refund answer was lost, so no answer can be told to be about this refund).
pub fn refund_query_result(msg: &Fields, ours: Option<&str>) -> Result<RefundResult, ConnectorError> {
    let pending = RefundResult { outcome: RefundOutcome::Pending, gateway_refund_ref: None };
    let status_code = field(msg, "vnp_TransactionStatus");
    match field(msg, "vnp_TransactionType") {
        "02" | "03" => {
            let (shown, ours) = (wire::txn_no(field(msg, "vnp_TransactionNo")), ours.and_then(wire::txn_no));
            if shown.is_none() || shown != ours {
                // Another refund of this payment is shown, or ours cannot be recognised.
                return Ok(pending);
            }
            Ok(RefundResult { outcome: refund_outcome(status_code)?, gateway_refund_ref: shown })
        }
        // The payment itself is shown; a refund state on it (05/06/09) cannot be told to
        // be this refund's when the payment has several, so it settles nothing.
        "01" | "" => Ok(pending),
        other => Err(bad(format!("unknown vnp_TransactionType `{other}`"))),
    }
}

#[cfg(test)]
mod tests;
