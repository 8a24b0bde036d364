//! Store conformance (issue 12): the same bodies run against SQLite and PostgreSQL
//! through `feegate::store::Store` directly, no HTTP: round trips, listing, and the
//! guarded updates with their races (transitions, attempt successes, refund
//! reservations, idempotency claims, outbox leases, audit appends, review dedupe) and
//! reconciliation runs.
//!
//! Every test exists twice: `sqlite::NAME` and `postgres::NAME`. The PostgreSQL ones use
//! the server `FEEGATE_TEST_DATABASE_URL` names (which must then answer), else
//! postgres://postgres@127.0.0.1:5432/test when it answers, else they say so and pass.
//! Each test gets a database of its own (a temp SQLite file, or a new PostgreSQL
//! database dropped afterwards).

#[path = "store/harness.rs"]
mod harness;
#[path = "store/journal.rs"]
mod journal;
#[path = "store/money.rs"]
mod money;
#[path = "store/payments.rs"]
mod payments;
#[path = "store/work.rs"]
mod work;

/// Declares each `module::test` body once per database.
macro_rules! on_both_databases {
    ($($module:ident :: $name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    crate::harness::run(crate::harness::Db::Sqlite, crate::$module::$name).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    crate::harness::run(crate::harness::Db::Postgres, crate::$module::$name).await
                }
            )*
        }
    };
}

on_both_databases!(
    payments::a_payment_with_lines_and_attempts_reads_back_field_by_field,
    payments::listing_filters_and_keyset_pages_cover_every_payment_once,
    payments::a_transition_from_a_wrong_state_changes_nothing,
    payments::two_concurrent_transitions_of_one_payment_have_one_winner,
    payments::eight_racing_successes_of_one_attempt_have_one_winner,
    payments::closing_other_attempts_closes_only_the_open_ones,
    payments::two_attempts_succeeding_at_once_leave_one_paying_attempt,
    money::concurrent_refunds_never_reserve_more_than_was_paid,
    money::concurrent_refunds_of_a_duplicate_collection_stay_within_it,
    money::concurrent_claims_of_one_idempotency_key_do_the_work_once,
    work::claimers_running_at_once_never_get_the_same_event,
    work::a_claim_passes_over_an_event_another_node_is_closing,
    work::an_expired_lease_passes_to_another_owner_and_the_old_one_cannot_close_it,
    work::a_payments_events_are_claimed_one_at_a_time_in_order,
    journal::concurrent_appends_to_one_chain_keep_it_contiguous_and_verifiable,
    journal::tampering_with_an_audit_row_breaks_verification,
    journal::the_same_dedupe_key_opens_one_review_case,
    journal::a_reconciliation_run_reads_back_by_outcome,
);
