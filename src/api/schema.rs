//! The OpenAPI schemas of the types the service answers and reads. The service's types are
//! plain serde types (`service/` knows nothing of `utoipa`); each is described here by a
//! mirror with the same fields that derives the schema, under the same name. The compiler
//! keeps each mirror honest: a field added to or removed from a service type and not here
//! breaks the build (the exhaustive pattern in `schema_of!`).

use crate::domain::payment::Payer;
use crate::service::cases::*;
use crate::service::recon::*;
use crate::service::reports::*;
use crate::service::view::*;
use std::collections::BTreeMap;

/// Describes the service type `$svc` by a mirror struct (same name and fields) that derives
/// `utoipa::ToSchema`; `$svc`'s `ToSchema` answers the mirror's schema.
macro_rules! schema_of {
    ($svc:path => $(#[$m:meta])* struct $name:ident { $($(#[$fm:meta])* $f:ident : $t:ty,)* }) => {
        const _: () = {
            #[allow(dead_code)]
            $(#[$m])*
            struct $name { $($(#[$fm])* $f: $t,)* }

            /// The mirror has exactly the fields of the service type.
            #[allow(dead_code)]
            fn same_fields(v: $svc) {
                let $svc { $($f: _,)* } = v;
            }

            impl utoipa::PartialSchema for $svc {
                fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                    <$name as utoipa::PartialSchema>::schema()
                }
            }

            impl utoipa::ToSchema for $svc {
                fn name() -> std::borrow::Cow<'static, str> {
                    <$name as utoipa::ToSchema>::name()
                }
                fn schemas(
                    schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>,
                ) {
                    <$name as utoipa::ToSchema>::schemas(schemas)
                }
            }
        };
    };
}

/// As [`schema_of!`], for a query the API documents as parameters (`utoipa::IntoParams`).
macro_rules! params_of {
    ($svc:path => $(#[$m:meta])* struct $name:ident { $($(#[$fm:meta])* $f:ident : $t:ty,)* }) => {
        const _: () = {
            #[allow(dead_code)]
            $(#[$m])*
            struct $name { $($(#[$fm])* $f: $t,)* }

            /// The mirror has exactly the fields of the service type.
            #[allow(dead_code)]
            fn same_fields(v: $svc) {
                let $svc { $($f: _,)* } = v;
            }

            impl utoipa::IntoParams for $svc {
                fn into_params(
                    parameter_in_provider: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
                ) -> Vec<utoipa::openapi::path::Parameter> {
                    <$name as utoipa::IntoParams>::into_params(parameter_in_provider)
                }
            }
        };
    };
}

schema_of! {
    crate::service::view::PaymentView =>
    /// A payment as the API shows it.
    #[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
    struct PaymentView {
        id: String,
        status: String,
        agency_code: String,
        dossier_code: String,
        procedure_code: String,
        description: String,
        currency: String,
        /// Whole đồng as a string of digits.
        amount: String,
        refunded_amount: String,
        lines: Vec<LineView>,
        payer: Payer,
        checkout_url: String,
        return_url: String,
        attempts: Vec<AttemptView>,
        created_at: String,
        updated_at: String,
        expires_at: String,
        paid_at: Option<String>,
        review: Option<ReviewView>,
        #[schema(value_type = Object)]
        metadata: serde_json::Value,
    }
}

schema_of! {
    crate::service::view::LineView =>
    #[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
    struct LineView {
        kind: String,
        code: String,
        description: String,
        amount: String,
        account_id: String,
    }
}

schema_of! {
    crate::service::view::AttemptView =>
    #[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
    struct AttemptView {
        id: String,
        connector: String,
        status: String,
        reference: String,
        gateway_ref: Option<String>,
        /// What this attempt collects: the payment's amount, or one leg's.
        amount: String,
        /// For a bank transfer to a payment whose lines go to several accounts: the legs'
        /// group (its first leg's id), this leg's place in it, and its account.
        leg_group: Option<String>,
        leg: Option<i64>,
        account_id: Option<String>,
        created_at: String,
    }
}

schema_of! {
    crate::service::view::ReviewView =>
    #[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
    struct ReviewView {
        reason: String,
        opened_at: String,
    }
}

schema_of! {
    crate::service::view::EventView =>
    /// One entry of a payment's status history.
    #[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
    struct EventView {
        id: String,
        #[serde(rename = "type")]
        kind: String,
        status_from: Option<String>,
        status_to: Option<String>,
        created_at: String,
        #[schema(value_type = Object)]
        data: serde_json::Value,
    }
}

schema_of! {
    crate::service::cases::CaseView =>
    /// A case as the API shows it.
    #[derive(serde::Serialize, utoipa::ToSchema)]
    struct CaseView {
        /// The run item's id (`rci_...`) or the review's id (`rev_...`; a review opened before
        /// reviews had their own records keeps its payment's id, `pay_...`).
        id: String,
        /// `settlement` or `statement` (an item of a run of that kind), or `review` (one review
        /// of a payment; a payment may have several).
        kind: String,
        /// `open` or `resolved`.
        status: String,
        /// The connector account or statement source; for a review, the connector of the
        /// payment's latest attempt.
        source: Option<String>,
        /// The GMT+7 business day: the run's day, or the day the review opened.
        date: String,
        /// The item's outcome (`missing_in_file`, ...) or the review's reason (`late_success`, ...).
        outcome: String,
        /// What differs, in words.
        reason: String,
        reference: Option<String>,
        amount_file: Option<String>,
        amount_feegate: Option<String>,
        payment_id: Option<String>,
        run_id: Option<String>,
        opened_at: String,
        resolution: Option<ResolutionView>,
    }
}

schema_of! {
    crate::service::cases::ResolutionView =>
    /// Who resolved a case, when, and how.
    #[derive(serde::Serialize, utoipa::ToSchema)]
    struct ResolutionView {
        /// One of `corrected`, `refunded`, `accepted_difference`, `gateway_error`,
        /// `bank_error`, `duplicate_ignored`, `other`.
        code: String,
        note: String,
        resolved_by: String,
        resolved_at: String,
    }
}

params_of! {
    crate::service::cases::CaseQuery =>
    /// Query of the case list.
    #[derive(serde::Deserialize, utoipa::IntoParams)]
    struct CaseQuery {
        /// `open` (the default), `resolved` or `all`.
        status: Option<String>,
        /// A connector account or statement source id.
        source: Option<String>,
        /// A GMT+7 business day, `YYYY-MM-DD`.
        date: Option<String>,
        /// `settlement`, `statement` or `review`.
        kind: Option<String>,
        /// At most this many cases (default and maximum 5000).
        limit: Option<i64>,
    }
}

schema_of! {
    crate::service::cases::ResolveCase =>
    /// The resolve request body.
    #[derive(serde::Deserialize, utoipa::ToSchema)]
    #[serde(deny_unknown_fields)]
    struct ResolveCase {
        /// One of `corrected`, `refunded`, `accepted_difference`, `gateway_error`,
        /// `bank_error`, `duplicate_ignored`, `other`.
        code: String,
        /// What was found and done, for the next person who reads it (required).
        note: String,
    }
}

schema_of! {
    crate::service::cases::DayView =>
    /// A reconciliation day as the API shows it.
    #[derive(serde::Serialize, utoipa::ToSchema)]
    struct DayView {
        source: String,
        date: String,
        /// `open` or `closed`.
        status: String,
        /// Open cases of this source and day.
        open_cases: i64,
        closed_by: Option<String>,
        closed_at: Option<String>,
    }
}

schema_of! {
    crate::service::recon::ImportRun =>
    /// The import request body.
    #[derive(serde::Deserialize, utoipa::ToSchema)]
    #[serde(deny_unknown_fields)]
    struct ImportRun {
        /// The connector account id whose settlement file this is.
        source: String,
        /// The GMT+7 business day, `YYYY-MM-DD` (required for a settlement file; a statement's
        /// defaults to its closing balance's day).
        date: Option<String>,
        /// The file's text (CSV).
        content: Option<String>,
        /// Or the file's bytes in standard base64.
        content_base64: Option<String>,
    }
}

schema_of! {
    crate::service::recon::OutcomeCounts =>
    /// How many items of a run have each outcome.
    #[derive(serde::Serialize, utoipa::ToSchema)]
    struct OutcomeCounts {
        matched: i64,
        missing_in_file: i64,
        missing_in_feegate: i64,
        amount_mismatch: i64,
        status_mismatch: i64,
        duplicate: i64,
    }
}

schema_of! {
    crate::service::recon::RunView =>
    /// A reconciliation run as the API shows it.
    #[derive(serde::Serialize, utoipa::ToSchema)]
    struct RunView {
        id: String,
        source: String,
        date: String,
        file_sha256: String,
        /// 1 for the first run of its source and day; each `rerun` of that day (the same file or
        /// a corrected one) is the next.
        version: i64,
        status: String,
        /// Lines in the file (header excluded).
        lines: i64,
        counts: OutcomeCounts,
        created_by: String,
        created_at: String,
        /// `settlement` (a gateway's file) or `statement` (an agency account's bank statement).
        kind: String,
        /// The agency account of a statement run.
        account_id: Option<String>,
        /// A statement run's statements in file order, each with what became of it (empty for a
        /// settlement run): one bad statement of a file does not refuse the others.
        statements: Vec<StatementSummary>,
        /// The corrections the run queued (`GET /v1/reconciliation/runs/{id}` only): how many the
        /// worker has still to do and how many are done; each result is in its item's reason.
        #[serde(skip_serializing_if = "Option::is_none")]
        corrections: Option<CorrectionCounts>,
    }
}

schema_of! {
    crate::service::recon::CorrectionCounts =>
    /// A run's queued corrections.
    #[derive(serde::Serialize, utoipa::ToSchema)]
    struct CorrectionCounts {
        pending: i64,
        done: i64,
    }
}

schema_of! {
    crate::service::recon::StatementSummary =>
    /// One statement of an imported statement file.
    #[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
    struct StatementSummary {
        /// The bank's statement reference (camt `Stmt/Id`; MT940 `:20:`/`:28C:`), as far as read.
        statement_id: String,
        /// The account the statement names, as far as read.
        account: String,
        /// `imported` (its entries are the run's items), `refused` (it could not be read or does
        /// not add up: `code` and `reason` say why) or `other_account` (not this source's).
        status: String,
        /// ISO 4217 code of an imported statement.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        currency: Option<String>,
        /// Booked entries of an imported statement.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        entries: Option<i64>,
        /// Why a statement was refused: the stable error code…
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<String>,
        /// …and the reason in words, naming the line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    }
}

schema_of! {
    crate::service::recon::ItemView =>
    /// One item of a run.
    #[derive(serde::Serialize, utoipa::ToSchema)]
    struct ItemView {
        id: String,
        /// The file line (header is line 1); absent for a record the file lacks.
        line: Option<i64>,
        reference: String,
        gateway_txn: Option<String>,
        /// `pay` or `refund`.
        kind: String,
        amount_file: Option<String>,
        amount_feegate: Option<String>,
        status_file: Option<String>,
        status_feegate: Option<String>,
        /// `matched`, `missing_in_file`, `missing_in_feegate`, `amount_mismatch`,
        /// `status_mismatch` or `duplicate`.
        outcome: String,
        /// What differs, in words (empty when matched).
        reason: String,
        payment_id: Option<String>,
        attempt_id: Option<String>,
        refund_id: Option<String>,
        /// A statement entry's transfer content as booked.
        content: Option<String>,
        /// A statement entry's booking day.
        booking_date: Option<String>,
        /// The connector whose settlement batch a statement credit is.
        batch_source: Option<String>,
        /// The ISO 4217 currency of a statement entry's amounts (absent: the payment's).
        currency: Option<String>,
    }
}

schema_of! {
    crate::service::refunds::RefundView =>
    /// A refund as the API shows it.
    #[derive(serde::Serialize, utoipa::ToSchema)]
    struct RefundView {
        id: String,
        payment_id: String,
        amount: String,
        reason: String,
        /// `pending`, `succeeded`, `failed` or `pending_manual`.
        status: String,
        connector: String,
        /// The attempt whose collection the refund returns.
        attempt_id: String,
        /// Whether that attempt is a duplicate collection (not the one that paid the
        /// payment): its refund leaves the payment's status and refunded amount as they are.
        duplicate: bool,
        reference: String,
        gateway_refund_ref: Option<String>,
        bank_reference: Option<String>,
        failure_code: Option<String>,
        created_at: String,
        updated_at: String,
    }
}

schema_of! {
    crate::service::reports::AccountDay =>
    /// One agency account on one day.
    #[derive(serde::Serialize, utoipa::ToSchema)]
    struct AccountDay {
        agency_code: String,
        agency_name: String,
        account_id: String,
        bank_name: String,
        account_number: String,
        account_name: String,
        /// Lines routed to this account of the payments that succeeded this day.
        paid: String,
        /// This account's share of the refunds that succeeded this day.
        refunded: String,
        /// `paid - refunded`.
        expected: String,
        /// Net settled by all gateways (their pays minus their refunds) per the latest
        /// settlement runs of the day.
        settled: String,
        /// The same per gateway (every gateway with a settlement run that day).
        settled_by_gateway: BTreeMap<String, String>,
        /// Credits minus debits on the account's latest statement of the day; null when no
        /// statement of it was imported for the day.
        credited: Option<String>,
        /// `settled - expected`.
        difference_settled: String,
        /// `credited - expected`; null without a statement.
        difference_credited: Option<String>,
        /// Open cases of the day that concern this account.
        open_cases: i64,
    }
}

schema_of! {
    crate::service::reports::SettlementReport =>
    /// `GET /v1/reports/settlement`.
    #[derive(serde::Serialize, utoipa::ToSchema)]
    struct SettlementReport {
        date: String,
        agency_code: Option<String>,
        /// Gateways with a settlement run this day.
        gateways: Vec<String>,
        accounts: Vec<AccountDay>,
        /// Open cases of the day that no account can be named for (a file line feegate does
        /// not know, a statement without an account).
        unattributed_open_cases: i64,
    }
}

schema_of! {
    crate::service::reports::MonthRow =>
    /// One group of the monthly summary.
    #[derive(serde::Serialize, utoipa::ToSchema)]
    struct MonthRow {
        agency_code: String,
        agency_name: String,
        /// `fee` (phí) or `charge` (lệ phí).
        kind: String,
        /// `Phí` or `Lệ phí`.
        kind_name: String,
        procedure_code: String,
        /// The connector account that took the payments.
        gateway: String,
        /// Payments paid this month with a line of this kind.
        count: i64,
        /// Their lines of this kind.
        amount: String,
        /// This group's share of the refunds that succeeded this month.
        refunded: String,
    }
}

schema_of! {
    crate::service::reports::MonthTotal =>
    /// Totals of an agency and fee kind.
    #[derive(serde::Serialize, utoipa::ToSchema)]
    struct MonthTotal {
        agency_code: String,
        agency_name: String,
        kind: String,
        kind_name: String,
        count: i64,
        amount: String,
        refunded: String,
    }
}

schema_of! {
    crate::service::reports::MonthlyReport =>
    /// `GET /v1/reports/monthly`.
    #[derive(serde::Serialize, utoipa::ToSchema)]
    struct MonthlyReport {
        /// `YYYY-MM`.
        month: String,
        agency_code: Option<String>,
        rows: Vec<MonthRow>,
        totals: Vec<MonthTotal>,
    }
}
