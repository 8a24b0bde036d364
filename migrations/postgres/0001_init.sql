-- feegate schema v1. Amounts are BIGINT đồng; times are BIGINT unix milliseconds (UTC).
CREATE TABLE agencies (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    parent_code TEXT REFERENCES agencies(code),
    created_at BIGINT NOT NULL
);

CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    agency_code TEXT NOT NULL REFERENCES agencies(code),
    bank_bin TEXT NOT NULL,
    bank_name TEXT NOT NULL,
    account_number TEXT NOT NULL,
    account_name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('treasury', 'bank')),
    receives TEXT NOT NULL,
    budget_chapter TEXT,
    budget_item TEXT,
    active BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (agency_code, bank_bin, account_number)
);

CREATE TABLE portals (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    webhook_url TEXT,
    webhook_secret TEXT NOT NULL,
    agencies TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('portal', 'finance', 'admin')),
    portal_id TEXT REFERENCES portals(id),
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE payments (
    id TEXT PRIMARY KEY,
    portal_id TEXT NOT NULL REFERENCES portals(id),
    agency_code TEXT NOT NULL REFERENCES agencies(code),
    dossier_code TEXT NOT NULL,
    procedure_code TEXT NOT NULL,
    description TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount BIGINT NOT NULL CHECK (amount > 0),
    refunded_amount BIGINT NOT NULL DEFAULT 0 CHECK (refunded_amount >= 0 AND refunded_amount <= amount),
    status TEXT NOT NULL CHECK (status IN ('created', 'pending', 'succeeded', 'expired', 'cancelled', 'partially_refunded', 'refunded')),
    payer TEXT NOT NULL,
    return_url TEXT NOT NULL,
    metadata TEXT NOT NULL,
    review_reason TEXT,
    review_opened_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    paid_at BIGINT
);
CREATE INDEX payments_portal_created ON payments (portal_id, created_at DESC, id DESC);
CREATE INDEX payments_created ON payments (created_at DESC, id DESC);
CREATE INDEX payments_dossier ON payments (dossier_code);
CREATE INDEX payments_due ON payments (status, expires_at);

CREATE TABLE payment_lines (
    payment_id TEXT NOT NULL REFERENCES payments(id),
    idx BIGINT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('fee', 'charge')),
    code TEXT NOT NULL,
    description TEXT NOT NULL,
    amount BIGINT NOT NULL CHECK (amount > 0),
    account_id TEXT NOT NULL REFERENCES accounts(id),
    PRIMARY KEY (payment_id, idx)
);

CREATE TABLE attempts (
    id TEXT PRIMARY KEY,
    payment_id TEXT NOT NULL REFERENCES payments(id),
    connector_id TEXT NOT NULL,
    reference TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'expired', 'unknown')),
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    gateway_ref TEXT,
    gateway_txn TEXT,
    failure_code TEXT,
    action TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX attempts_payment ON attempts (payment_id, created_at);
CREATE INDEX attempts_open ON attempts (status, updated_at);

CREATE TABLE callbacks (
    id TEXT PRIMARY KEY,
    connector_id TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    method TEXT NOT NULL,
    query TEXT NOT NULL,
    body TEXT NOT NULL,
    verified BIGINT NOT NULL,
    error TEXT,
    reference TEXT,
    attempt_id TEXT,
    disposition TEXT NOT NULL
);
CREATE INDEX callbacks_reference ON callbacks (reference);

CREATE TABLE events (
    id TEXT PRIMARY KEY,
    payment_id TEXT NOT NULL REFERENCES payments(id),
    type TEXT NOT NULL,
    status_from TEXT,
    status_to TEXT,
    data TEXT NOT NULL,
    webhook BIGINT NOT NULL,
    delivery_status TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX events_payment ON events (payment_id, created_at, id);

CREATE TABLE idempotency (
    scope TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status BIGINT NOT NULL,
    response TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (scope, idem_key)
);

CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    UNIQUE (scope, seq)
);

CREATE TABLE node_lock (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);
