-- Receipts for citizens (biên lai thu phí, lệ phí; issue 11). A receipt is issued in the
-- transaction that makes its payment succeeded, numbered per agency, template, series and
-- (when the series restarts yearly) year without gap or duplicate, and signed: `content` is
-- the canonical JSON that was signed, `signature` its Ed25519 signature by the key
-- `key_id` (receipt_keys keeps every public key ever used, so old receipts still verify
-- after a key changes). A receipt is never edited: a cancellation sets status and reason
-- only, outside the signed content.
CREATE TABLE receipt_keys (
    key_id TEXT PRIMARY KEY,
    public_key TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE receipt_counters (
    agency_code TEXT NOT NULL REFERENCES agencies (code),
    template TEXT NOT NULL,
    series TEXT NOT NULL,
    year INTEGER NOT NULL,
    last_number BIGINT NOT NULL,
    PRIMARY KEY (agency_code, template, series, year)
);

CREATE TABLE receipts (
    id TEXT PRIMARY KEY,
    token TEXT NOT NULL UNIQUE,
    payment_id TEXT NOT NULL REFERENCES payments (id),
    agency_code TEXT NOT NULL REFERENCES agencies (code),
    template TEXT NOT NULL,
    series TEXT NOT NULL,
    year INTEGER NOT NULL,
    number BIGINT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('original', 'adjustment')),
    refers_to TEXT REFERENCES receipts (id),
    amount BIGINT NOT NULL,
    content TEXT NOT NULL,
    signature TEXT NOT NULL,
    key_id TEXT NOT NULL REFERENCES receipt_keys (key_id),
    verification_code TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('issued', 'cancelled')),
    issued_at TIMESTAMPTZ NOT NULL,
    cancelled_at TIMESTAMPTZ,
    cancel_reason TEXT,
    UNIQUE (agency_code, template, series, year, number)
);
CREATE INDEX receipts_payment ON receipts (payment_id, issued_at);
