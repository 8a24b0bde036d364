-- Refunds, and the resolver's schedule for attempts and refunds whose outcome is unknown.
CREATE TABLE refunds (
    id TEXT PRIMARY KEY,
    payment_id TEXT NOT NULL REFERENCES payments(id),
    attempt_id TEXT NOT NULL REFERENCES attempts(id),
    connector_id TEXT NOT NULL,
    reference TEXT NOT NULL UNIQUE,
    amount BIGINT NOT NULL CHECK (amount > 0),
    reason TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'pending_manual')),
    gateway_refund_ref TEXT,
    failure_code TEXT,
    bank_reference TEXT,
    requested_by TEXT NOT NULL,
    next_query_at BIGINT,
    queries BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX refunds_payment ON refunds (payment_id, created_at);
CREATE INDEX refunds_open ON refunds (status, next_query_at);

-- The sum of non-failed refunds, reserved with a guarded update so that it can never
-- exceed the amount paid, whatever the concurrency.
ALTER TABLE payments ADD COLUMN reserved_refunds BIGINT NOT NULL DEFAULT 0;

ALTER TABLE attempts ADD COLUMN next_query_at BIGINT;
ALTER TABLE attempts ADD COLUMN queries BIGINT NOT NULL DEFAULT 0;
