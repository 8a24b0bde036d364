-- Gateway settlement reconciliation: one run per imported file (a re-run of the same
-- file is a new version; earlier versions and their items are kept as they were), and
-- one item per file line or per feegate record the file lacks.
CREATE TABLE recon_runs (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    business_date TEXT NOT NULL,
    file_sha256 TEXT NOT NULL,
    version BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('completed')),
    lines BIGINT NOT NULL,
    matched BIGINT NOT NULL,
    missing_in_file BIGINT NOT NULL,
    missing_in_feegate BIGINT NOT NULL,
    amount_mismatch BIGINT NOT NULL,
    status_mismatch BIGINT NOT NULL,
    duplicate BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (source, business_date, file_sha256, version)
);
CREATE INDEX recon_runs_day ON recon_runs (source, business_date, created_at);

CREATE TABLE recon_items (
    id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES recon_runs(id),
    idx BIGINT NOT NULL,
    line BIGINT,
    reference TEXT NOT NULL,
    gateway_txn TEXT,
    kind TEXT NOT NULL CHECK (kind IN ('pay', 'refund')),
    amount_file BIGINT,
    amount_feegate BIGINT,
    status_file TEXT,
    status_feegate TEXT,
    outcome TEXT NOT NULL CHECK (outcome IN ('matched', 'missing_in_file', 'missing_in_feegate',
        'amount_mismatch', 'status_mismatch', 'duplicate')),
    reason TEXT NOT NULL,
    payment_id TEXT,
    attempt_id TEXT,
    refund_id TEXT,
    UNIQUE (run_id, idx)
);
CREATE INDEX recon_items_outcome ON recon_items (run_id, outcome, idx);
