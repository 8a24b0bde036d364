//! Every error code feegate answers, once, with its meaning: the one table.
//!
//! A refusal is a code from this table, a message and the field at fault
//! (`crate::service::error::Error`); the HTTP status of each code and the JSON envelope are
//! chosen in `api/error.rs` only, and `docs/errors.md` is generated from this table and that
//! mapping (a test fails when it is stale). The table lives in `domain/` because the
//! domain's own checks ([`super::Invalid`]) answer codes too, and `domain/` imports nothing
//! above it. Codes are stable: clients switch on them; never rename one.

macro_rules! codes {
    ($($(#[doc = $doc:literal])+ $name:ident = $code:literal,)+) => {
        /// A stable snake_case error code (see the module documentation).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $($(#[doc = $doc])+ $name,)+
        }

        impl Code {
            /// Every code, in the order of the table.
            pub const ALL: &'static [Code] = &[$(Code::$name,)+];

            /// The code as clients see it.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Code::$name => $code,)+
                }
            }

            /// What the code means, from the table's documentation.
            pub fn meaning(self) -> &'static str {
                match self {
                    $(Code::$name => concat!($($doc),+).trim(),)+
                }
            }
        }
    };
}

codes! {
    /// The request is malformed (a refusal of the HTTP framework itself).
    BadRequest = "bad_request",
    /// The body is not valid JSON.
    InvalidJson = "invalid_json",
    /// A query-string parameter has the wrong type; `field` names it.
    InvalidQuery = "invalid_query",
    /// A path segment cannot be read.
    InvalidPath = "invalid_path",
    /// The list cursor is not one this server issued.
    InvalidCursor = "invalid_cursor",
    /// The `Idempotency-Key` header is empty, too long or not printable ASCII.
    InvalidIdempotencyKey = "invalid_idempotency_key",
    /// The multipart form cannot be read.
    InvalidMultipart = "invalid_multipart",
    /// Another client error answered by the HTTP framework (the status it chose is kept).
    ClientError = "client_error",
    /// No `Authorization: Bearer <key>` header.
    MissingApiKey = "missing_api_key",
    /// The key is malformed, unknown or does not match.
    InvalidApiKey = "invalid_api_key",
    /// The key has been revoked.
    RevokedApiKey = "revoked_api_key",
    /// The key's role or scope may not do this.
    Forbidden = "forbidden",
    /// No such resource (or not one this key may see).
    NotFound = "not_found",
    /// The route exists but not with this method; `Allow` lists the methods.
    MethodNotAllowed = "method_not_allowed",
    /// The request took too long to arrive.
    RequestTimeout = "request_timeout",
    /// A record with this identity exists.
    Conflict = "conflict",
    /// The `Idempotency-Key` was used before with another body.
    IdempotencyKeyReused = "idempotency_key_reused",
    /// An agency with this code exists.
    AgencyExists = "agency_exists",
    /// A portal with this id exists.
    PortalExists = "portal_exists",
    /// The payment is not in a state that can take an attempt or be cancelled.
    PaymentNotPayable = "payment_not_payable",
    /// The payment is not in a state that can be refunded.
    PaymentNotRefundable = "payment_not_refundable",
    /// The refund is larger than what remains refundable.
    RefundExceedsAvailable = "refund_exceeds_available",
    /// The refund names an attempt the payment does not have.
    UnknownAttempt = "unknown_attempt",
    /// The refund names an attempt that collected nothing (it did not succeed).
    AttemptNotRefundable = "attempt_not_refundable",
    /// The refunds of a duplicate collection would exceed what that attempt collected.
    RefundExceedsAttempt = "refund_exceeds_attempt",
    /// The case was resolved before.
    CaseAlreadyResolved = "case_already_resolved",
    /// The record is not in a state that allows this action.
    InvalidState = "invalid_state",
    /// The business day is closed; it cannot change.
    DayClosed = "day_closed",
    /// The day still has open cases; resolve them first.
    OpenCases = "open_cases",
    /// The day has no reconciliation run to close.
    NoRun = "no_run",
    /// The event is not one that is delivered to a portal.
    NotAWebhookEvent = "not_a_webhook_event",
    /// The receipt's provider job is not `failed`: only a job the provider refused can be sent again.
    ReceiptJobNotFailed = "receipt_job_not_failed",
    /// The request body (or upload) is larger than the limit.
    BodyTooLarge = "body_too_large",
    /// The body's `Content-Type` is not the one expected.
    UnsupportedMediaType = "unsupported_media_type",
    /// The request cannot be processed (a refusal of the HTTP framework itself).
    Unprocessable = "unprocessable",
    /// A required field is absent or null; `field` names it.
    MissingField = "missing_field",
    /// The body has a field this endpoint does not know; `field` names it.
    UnknownField = "unknown_field",
    /// A field has the wrong JSON type; `field` names it.
    InvalidType = "invalid_type",
    /// A field's value is not acceptable (control characters, a malformed id, a field that does not apply).
    InvalidField = "invalid_field",
    /// A field is longer than its limit.
    FieldTooLong = "field_too_long",
    /// A code field has characters other than letters, digits and `.-_/`, or a bad length.
    InvalidCode = "invalid_code",
    /// An amount is not a whole, positive number of minor units the currency can hold.
    InvalidAmount = "invalid_amount",
    /// The payment has more lines than allowed.
    TooManyLines = "too_many_lines",
    /// A line's kind is neither `fee` nor `charge`.
    InvalidLineKind = "invalid_line_kind",
    /// The return URL is not an absolute http(s) URL.
    InvalidReturnUrl = "invalid_return_url",
    /// `expires_in_seconds` is outside the allowed range.
    InvalidExpiry = "invalid_expiry",
    /// The agency code has characters or a length an agency code cannot have.
    InvalidAgencyCode = "invalid_agency_code",
    /// The bank BIN is not 6 digits.
    InvalidBankBin = "invalid_bank_bin",
    /// The account number has characters or a length an account number cannot have.
    InvalidAccountNumber = "invalid_account_number",
    /// The account kind is neither `treasury` nor `bank`.
    InvalidAccountKind = "invalid_account_kind",
    /// A date is not a day as `YYYY-MM-DD`.
    InvalidDate = "invalid_date",
    /// A month is not `YYYY-MM`.
    InvalidMonth = "invalid_month",
    /// A list `limit` is outside its range.
    InvalidLimit = "invalid_limit",
    /// A status filter names no status this list knows.
    InvalidStatus = "invalid_status",
    /// A kind filter names no kind this list knows.
    InvalidKind = "invalid_kind",
    /// The role is not `portal`, `finance` or `admin`.
    InvalidRole = "invalid_role",
    /// The report format is neither `json` nor `csv`.
    InvalidFormat = "invalid_format",
    /// The resolution note is empty or too long.
    InvalidNote = "invalid_note",
    /// The resolution code is not one of the listed codes.
    InvalidResolutionCode = "invalid_resolution_code",
    /// The webhook URL is not an absolute http(s) URL.
    InvalidWebhookUrl = "invalid_webhook_url",
    /// A return origin is not an https origin like `https://portal.example.vn`.
    InvalidReturnOrigin = "invalid_return_origin",
    /// A portal has more return origins than allowed.
    TooManyReturnOrigins = "too_many_return_origins",
    /// `content_base64` is not valid base64.
    InvalidBase64 = "invalid_base64",
    /// The gateway's settlement file cannot be parsed.
    InvalidSettlementFile = "invalid_settlement_file",
    /// The uploaded file is larger than the limit.
    FileTooLarge = "file_too_large",
    /// The file is not in the format given.
    FormatMismatch = "format_mismatch",
    /// A bank statement line cannot be parsed.
    StatementParse = "statement_parse",
    /// The statement's opening balance plus its entries is not its closing balance.
    StatementUnbalanced = "statement_unbalanced",
    /// A statement line's running balance does not follow from the previous one.
    StatementRunningBalance = "statement_running_balance",
    /// The CSV column map for the statement is unusable.
    StatementColumnMap = "statement_column_map",
    /// The statement is for an account that is not (exactly one) active agency account.
    StatementWrongAccount = "statement_wrong_account",
    /// No agency with this code.
    UnknownAgency = "unknown_agency",
    /// No account with this id.
    UnknownAccount = "unknown_account",
    /// No portal with this id.
    UnknownPortal = "unknown_portal",
    /// No connector account with this id.
    UnknownConnector = "unknown_connector",
    /// No configured reconciliation source with this id.
    UnknownSource = "unknown_source",
    /// The key's portal may not bill this agency.
    AgencyNotAllowed = "agency_not_allowed",
    /// The return URL's origin is not one of the portal's return origins.
    ReturnUrlNotAllowed = "return_url_not_allowed",
    /// The agency has no active account that receives this line's kind.
    NoAccountForLine = "no_account_for_line",
    /// The connector account cannot pay this payment (its agency, currency or lines).
    ConnectorNotApplicable = "connector_not_applicable",
    /// The gateway does not take this amount (outside its minimum and maximum).
    AmountNotAccepted = "amount_not_accepted",
    /// The gateway has no settlement file to reconcile.
    SettlementNotSupported = "settlement_not_supported",
    /// The database refused the change (a check or reference constraint).
    ConstraintViolation = "constraint_violation",
    /// Too many requests; `Retry-After` says when to try again.
    RateLimited = "rate_limited",
    /// The request's headers are larger than the limit.
    HeadersTooLarge = "headers_too_large",
    /// An error on our side; it has been logged.
    InternalError = "internal_error",
    /// The gateway refused the request.
    GatewayRejected = "gateway_rejected",
    /// The gateway could not be reached or did not answer.
    GatewayUnavailable = "gateway_unavailable",
    /// The service cannot answer now (a timeout); retry later.
    Unavailable = "unavailable",
    /// The database is unreachable; retry later.
    DatabaseUnavailable = "database_unavailable",
}

impl Code {
    /// Whether the fault is on our side (or a gateway's) rather than in the request: the
    /// service uses it to tell a refusal to report from a failure to retry.
    pub fn is_server_fault(self) -> bool {
        matches!(
            self,
            Code::InternalError
                | Code::GatewayRejected
                | Code::GatewayUnavailable
                | Code::Unavailable
                | Code::DatabaseUnavailable
        )
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::Code;
    use std::collections::HashSet;

    #[test]
    fn every_code_is_unique_snake_case_and_has_a_meaning() {
        let mut seen = HashSet::new();
        for &c in Code::ALL {
            let s = c.as_str();
            assert!(seen.insert(s), "{s} is in the table twice");
            assert!(
                !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{s} is not snake_case"
            );
            assert!(
                s.starts_with(|c: char| c.is_ascii_lowercase()) && !s.ends_with('_') && !s.contains("__"),
                "{s} is not snake_case"
            );
            assert!(c.meaning().len() > 10, "{s} has no meaning");
        }
    }
}
