-- Reconciliation cases and day close. A case is derived, not copied: every non-matched
-- item of the latest run of a (source, business day), and every payment with a review.
-- Only its resolution is stored, keyed by the case id (the item's `rci_...` or the
-- payment's `pay_...`), so a case is resolved at most once.
CREATE TABLE case_resolutions (
    case_id TEXT PRIMARY KEY,
    resolution_code TEXT NOT NULL CHECK (resolution_code IN ('corrected', 'refunded', 'accepted_difference',
        'gateway_error', 'bank_error', 'duplicate_ignored', 'other')),
    note TEXT NOT NULL,
    resolved_by TEXT NOT NULL,
    resolved_at BIGINT NOT NULL
);

-- A (source, GMT+7 business day) that finance signed off: all its cases were resolved.
-- No file may be imported into a closed day.
CREATE TABLE recon_days (
    source TEXT NOT NULL,
    business_date TEXT NOT NULL,
    closed_by TEXT NOT NULL,
    closed_at BIGINT NOT NULL,
    PRIMARY KEY (source, business_date)
);

-- Review cases are found by the day their review opened.
CREATE INDEX payments_review ON payments (review_opened_at) WHERE review_opened_at IS NOT NULL;
-- The settlement report reads a day's payments by the time they were paid.
CREATE INDEX payments_paid ON payments (paid_at) WHERE paid_at IS NOT NULL;
-- ... and the day's succeeded refunds by the time they succeeded.
CREATE INDEX refunds_succeeded ON refunds (updated_at) WHERE status = 'succeeded';
