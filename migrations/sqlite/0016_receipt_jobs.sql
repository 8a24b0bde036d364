-- External e-receipt providers (issue 11; connectors/receipts). When an agency's receipts
-- also go to a provider, the job to issue one is written in the transaction that issues
-- feegate's own receipt (and the job to cancel one in the refund's), so that none is lost;
-- a worker on any node claims due jobs by lease and calls the provider, which is idempotent
-- by the receipt's id. A job the provider could not take waits and is tried again for as
-- long as it takes ('queued'); one it refused is 'failed' for finance staff to see.
CREATE TABLE receipt_jobs (
    receipt_id TEXT NOT NULL REFERENCES receipts (id),
    action TEXT NOT NULL CHECK (action IN ('issue', 'cancel')),
    provider TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'done', 'failed')),
    reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER,
    last_error TEXT,
    provider_series TEXT,
    provider_number TEXT,
    provider_code TEXT,
    provider_url TEXT,
    created_at INTEGER NOT NULL,
    done_at INTEGER,
    PRIMARY KEY (receipt_id, action)
);
CREATE INDEX receipt_jobs_due ON receipt_jobs (status, next_attempt_at);
