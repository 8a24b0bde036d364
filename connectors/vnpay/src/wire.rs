//! VNPay wire content: the pay URL's parameters, the IPN/return fields turned into a
//! [`Notification`], and the code tables of GATEWAYS.md §1.5–§1.7 as exhaustive enums.

use crate::sign::{self, Received};
use feegate_connector::{text::ascii_fold, Locale, Notification, Outcome, StartRequest, VerifyError};
use std::collections::BTreeMap;

/// The protocol version this connector speaks.
pub const VERSION: &str = "2.1.0";

/// `vnp_ResponseCode` of a payment (Return URL / IPN), §1.5.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayCode {
    Success,
    Suspicious,
    NotRegisteredForInternetBanking,
    VerificationFailedTooOften,
    Expired,
    CardLocked,
    WrongOtp,
    CancelledByPayer,
    InsufficientBalance,
    DailyLimitExceeded,
    BankMaintenance,
    WrongPasswordTooOften,
    OtherError,
    Unknown(String),
}

impl PayCode {
    /// Reads a code; anything not in the table is `Unknown`, never success.
    pub fn parse(code: &str) -> Self {
        match code {
            "00" => Self::Success,
            "07" => Self::Suspicious,
            "09" => Self::NotRegisteredForInternetBanking,
            "10" => Self::VerificationFailedTooOften,
            "11" => Self::Expired,
            "12" => Self::CardLocked,
            "13" => Self::WrongOtp,
            "24" => Self::CancelledByPayer,
            "51" => Self::InsufficientBalance,
            "65" => Self::DailyLimitExceeded,
            "75" => Self::BankMaintenance,
            "79" => Self::WrongPasswordTooOften,
            "99" => Self::OtherError,
            other => Self::Unknown(other.to_owned()),
        }
    }

    /// The table's meaning, for people.
    pub fn message(&self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Suspicious => "money debited but flagged suspicious; accept or reject in the VNPay merchant admin",
            Self::NotRegisteredForInternetBanking => "card/account not registered for Internet Banking",
            Self::VerificationFailedTooOften => "card/account verification failed more than 3 times",
            Self::Expired => "payment wait time expired",
            Self::CardLocked => "card/account locked",
            Self::WrongOtp => "wrong OTP",
            Self::CancelledByPayer => "cancelled by the payer",
            Self::InsufficientBalance => "insufficient balance",
            Self::DailyLimitExceeded => "daily limit exceeded",
            Self::BankMaintenance => "bank under maintenance",
            Self::WrongPasswordTooOften => "wrong payment password too many times",
            Self::OtherError => "other error",
            Self::Unknown(_) => "unknown VNPay response code",
        }
    }
}

/// `vnp_TransactionStatus`, §1.5.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnStatus {
    Success,
    NotCompleted,
    Error,
    Reversed,
    RefundProcessing,
    RefundSentToBank,
    SuspectedFraud,
    RefundRejected,
    Unknown(String),
}

impl TxnStatus {
    /// Reads a status; anything not in the table is `Unknown`, never success.
    pub fn parse(code: &str) -> Self {
        match code {
            "00" => Self::Success,
            "01" => Self::NotCompleted,
            "02" => Self::Error,
            "04" => Self::Reversed,
            "05" => Self::RefundProcessing,
            "06" => Self::RefundSentToBank,
            "07" => Self::SuspectedFraud,
            "09" => Self::RefundRejected,
            other => Self::Unknown(other.to_owned()),
        }
    }

    /// The table's meaning, for people.
    pub fn message(&self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::NotCompleted => "not completed",
            Self::Error => "transaction error",
            Self::Reversed => "reversed: debited at the bank but not successful at VNPay",
            Self::RefundProcessing => "VNPay is processing the refund",
            Self::RefundSentToBank => "VNPay sent the refund to the bank",
            Self::SuspectedFraud => "suspected fraud",
            Self::RefundRejected => "refund rejected",
            Self::Unknown(_) => "unknown VNPay transaction status",
        }
    }
}

/// `vnp_ResponseCode` of the merchant API (querydr §1.6, refund §1.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiCode {
    Ok,
    InvalidTmnCode,
    BadFormat,
    NotFound,
    /// querydr: duplicate request; refund: a refund is already being processed.
    Duplicate,
    OriginalNotSuccessful,
    BadChecksum,
    OtherError,
    Unknown(String),
}

impl ApiCode {
    /// Reads a code; anything not in the table is `Unknown`.
    pub fn parse(code: &str) -> Self {
        match code {
            "00" => Self::Ok,
            "02" => Self::InvalidTmnCode,
            "03" => Self::BadFormat,
            "91" => Self::NotFound,
            "94" => Self::Duplicate,
            "95" => Self::OriginalNotSuccessful,
            "97" => Self::BadChecksum,
            "99" => Self::OtherError,
            other => Self::Unknown(other.to_owned()),
        }
    }

    /// The table's meaning, for people.
    pub fn message(&self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::InvalidTmnCode => "invalid vnp_TmnCode",
            Self::BadFormat => "data in a wrong format",
            Self::NotFound => "transaction not found",
            Self::Duplicate => "duplicate request (refund: already requested, VNPay is processing it)",
            Self::OriginalNotSuccessful => "the original transaction was not successful; refund refused",
            Self::BadChecksum => "invalid checksum",
            Self::OtherError => "other error",
            Self::Unknown(_) => "unknown VNPay API response code",
        }
    }
}

/// The outcome of a paid/declined order: success iff both codes are `00` (§1.4 step 5).
pub fn pay_outcome(response_code: &str, status_code: &str) -> Outcome {
    let code = PayCode::parse(response_code);
    let status = TxnStatus::parse(status_code);
    if code == PayCode::Success && status == TxnStatus::Success {
        return Outcome::Succeeded;
    }
    let (shown, message) =
        if code == PayCode::Success { (status_code, status.message()) } else { (response_code, code.message()) };
    Outcome::Failed {
        code: shown.to_owned(),
        message: format!("{message} (vnp_ResponseCode {response_code}, vnp_TransactionStatus {status_code})"),
    }
}

/// `vnp_Amount` (×100) back to đồng; refuses non-digits and non-multiples of 100.
pub fn parse_amount(s: &str) -> Result<i64, String> {
    if s.is_empty() || s.len() > 15 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("vnp_Amount `{s}` is not a whole number"));
    }
    let hundredths: i64 = s.parse().map_err(|_| format!("vnp_Amount `{s}` is out of range"))?;
    if hundredths % 100 != 0 {
        return Err(format!("vnp_Amount `{s}` is not a whole number of đồng ×100"));
    }
    Ok(hundredths / 100)
}

/// The most đồng one payment can be: `vnp_Amount` is the amount ×100 in at most 12 digits.
pub const MAX_AMOUNT: i64 = 9_999_999_999;

/// đồng to `vnp_Amount` (Numeric[1,12]).
pub fn format_amount(dong: i64) -> Result<String, String> {
    match dong.checked_mul(100) {
        Some(v) if dong > 0 && dong <= MAX_AMOUNT => Ok(v.to_string()),
        _ => Err(format!("amount {dong} does not fit vnp_Amount (1 to 9,999,999,999 đồng)")),
    }
}

/// A VNPay transaction number, `None` when absent or `0` (VNPay's "none").
pub fn txn_no(s: &str) -> Option<String> {
    Some(s.trim()).filter(|t| !t.is_empty() && *t != "0").map(str::to_owned)
}

/// `vnp_OrderInfo`: free text folded to ASCII without `*~!'()` (§1.3's advice, so every
/// encoder agrees), at most 255 characters; `fallback` when nothing is left.
pub fn order_info(text: &str, fallback: &str) -> String {
    let folded: String = ascii_fold(text).chars().filter(|c| !"*~!'()".contains(*c)).take(255).collect();
    let folded = folded.trim().to_owned();
    if folded.is_empty() {
        fallback.to_owned()
    } else {
        folded
    }
}

/// The `vnp_` parameters of the pay URL (§1.2), before signing.
pub fn pay_params(tmn_code: &str, order_type: &str, req: &StartRequest) -> Result<BTreeMap<String, String>, String> {
    if req.currency != "VND" {
        return Err(format!("VNPay takes VND only, not {}", req.currency));
    }
    if req.reference.is_empty()
        || req.reference.len() > 100
        || !req.reference.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err("vnp_TxnRef must be 1 to 100 ASCII letters or digits".into());
    }
    if req.return_url.is_empty() || req.return_url.len() > 255 {
        return Err("vnp_ReturnUrl must be 1 to 255 characters".into());
    }
    let ip = req.payer_ip.as_deref().map(str::trim).filter(|ip| (3..=45).contains(&ip.len())).unwrap_or("127.0.0.1");
    let locale = match req.locale {
        Locale::Vi => "vn",
        Locale::En => "en",
    };
    let pairs = [
        ("vnp_Version", VERSION.to_owned()),
        ("vnp_Command", "pay".to_owned()),
        ("vnp_TmnCode", tmn_code.to_owned()),
        ("vnp_Amount", format_amount(req.amount)?),
        ("vnp_CurrCode", "VND".to_owned()),
        ("vnp_TxnRef", req.reference.clone()),
        ("vnp_OrderInfo", order_info(&req.description, &format!("Thanh toan {}", req.reference))),
        ("vnp_OrderType", order_type.to_owned()),
        ("vnp_Locale", locale.to_owned()),
        ("vnp_ReturnUrl", req.return_url.clone()),
        ("vnp_IpAddr", ip.to_owned()),
        ("vnp_CreateDate", sign::vn_date(req.created_at)),
        ("vnp_ExpireDate", sign::vn_date(req.expires_at)),
    ];
    Ok(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// Turns the verified fields of an IPN or return URL into a notification.
pub fn notification(r: &Received, tmn_code: &str) -> Result<Notification, VerifyError> {
    let malformed = |m: String| VerifyError::Malformed(m);
    let tmn = r.get("vnp_TmnCode");
    if !tmn.is_empty() && tmn != tmn_code {
        return Err(malformed(format!("vnp_TmnCode `{tmn}` is not this terminal")));
    }
    let reference = r.get("vnp_TxnRef");
    if reference.is_empty() {
        return Err(malformed("vnp_TxnRef missing".into()));
    }
    let amount = parse_amount(r.get("vnp_Amount")).map_err(malformed)?;
    let (code, status) = (r.get("vnp_ResponseCode"), r.get("vnp_TransactionStatus"));
    if code.is_empty() || status.is_empty() {
        return Err(malformed("vnp_ResponseCode and vnp_TransactionStatus are required".into()));
    }
    let paid_at = match r.get("vnp_PayDate") {
        "" => None,
        d => Some(sign::parse_vn_date(d).ok_or_else(|| malformed(format!("vnp_PayDate `{d}` is not yyyyMMddHHmmss")))?),
    };
    Ok(Notification {
        reference: reference.to_owned(),
        gateway_txn: txn_no(r.get("vnp_TransactionNo")),
        amount,
        currency: "VND".into(),
        outcome: pay_outcome(code, status),
        paid_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_both_codes_00_is_success() {
        assert_eq!(pay_outcome("00", "00"), Outcome::Succeeded);
        assert!(matches!(pay_outcome("24", "02"), Outcome::Failed { code, .. } if code == "24"));
        assert!(matches!(pay_outcome("00", "01"), Outcome::Failed { code, .. } if code == "01"));
        assert!(matches!(pay_outcome("00", "zz"), Outcome::Failed { .. }));
        assert!(matches!(pay_outcome("xx", "00"), Outcome::Failed { code, .. } if code == "xx"));
        assert!(matches!(pay_outcome("07", "00"), Outcome::Failed { code, .. } if code == "07"));
    }

    #[test]
    fn amounts_are_hundredths_of_a_dong() {
        assert_eq!(parse_amount("13500000"), Ok(135_000));
        assert!(parse_amount("13500050").is_err());
        assert!(parse_amount("-100").is_err());
        assert!(parse_amount("1e5").is_err());
        assert!(parse_amount("").is_err());
        assert!(parse_amount("9999999999999999999").is_err());
        assert_eq!(format_amount(135_000).as_deref(), Ok("13500000"));
        assert!(format_amount(0).is_err());
        assert!(format_amount(10_000_000_000).is_err());
        assert!(format_amount(i64::MAX).is_err());
    }

    #[test]
    fn order_info_is_plain_ascii_without_the_divergent_characters() {
        assert_eq!(order_info("Lệ phí (GPLX) *~!' số 5", "x"), "Le phi GPLX so 5");
        assert_eq!(order_info("()*~!'", "Thanh toan FG1"), "Thanh toan FG1");
        assert_eq!(order_info(&"a".repeat(300), "x").len(), 255);
    }

    #[test]
    fn transaction_number_zero_means_none() {
        assert_eq!(txn_no("0"), None);
        assert_eq!(txn_no(""), None);
        assert_eq!(txn_no("14422574").as_deref(), Some("14422574"));
    }
}
