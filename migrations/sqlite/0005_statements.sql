-- Agency bank statement runs (camt.053, MT940, CSV) beside gateway settlement runs: a run
-- says which kind it is and, for a statement, which agency account; statement items are
-- credits and debits with the transfer content as booked. SQLite cannot alter a CHECK, so
-- recon_items is rebuilt (create, copy, drop, rename, index).
ALTER TABLE recon_runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'settlement' CHECK (kind IN ('settlement', 'statement'));
ALTER TABLE recon_runs ADD COLUMN account_id TEXT REFERENCES accounts(id);
CREATE INDEX recon_runs_account ON recon_runs (account_id, business_date, created_at);

CREATE TABLE recon_items_new (
    id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES recon_runs(id),
    idx BIGINT NOT NULL,
    line BIGINT,
    reference TEXT NOT NULL,
    gateway_txn TEXT,
    kind TEXT NOT NULL CHECK (kind IN ('pay', 'refund', 'credit', 'debit')),
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
    content TEXT,
    booking_date TEXT,
    batch_source TEXT,
    fee BIGINT,
    UNIQUE (run_id, idx)
);
INSERT INTO recon_items_new (id, run_id, idx, line, reference, gateway_txn, kind, amount_file, amount_feegate,
    status_file, status_feegate, outcome, reason, payment_id, attempt_id, refund_id)
SELECT id, run_id, idx, line, reference, gateway_txn, kind, amount_file, amount_feegate,
    status_file, status_feegate, outcome, reason, payment_id, attempt_id, refund_id
FROM recon_items;
DROP TABLE recon_items;
ALTER TABLE recon_items_new RENAME TO recon_items;
CREATE INDEX recon_items_outcome ON recon_items (run_id, outcome, idx);
CREATE INDEX recon_items_payment ON recon_items (payment_id);
