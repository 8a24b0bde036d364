-- Webhook outbox: each event's delivery schedule and lease, and a log of every delivery
-- attempt. Events are written in the transaction of the change they report; the outbox
-- worker claims the due ones under a lease, so a dead node's work is taken over.
ALTER TABLE events ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN next_attempt_at BIGINT;
ALTER TABLE events ADD COLUMN lease_until BIGINT;
ALTER TABLE events ADD COLUMN lease_owner TEXT;
ALTER TABLE events ADD COLUMN delivered_at BIGINT;

-- Insertion order of events, for delivery in order per payment: two events written in
-- one transaction share a created_at millisecond and ids are random. A payment's events
-- are written under its row lock, so the sequence follows their commit order. (SQLite's
-- migration uses the rowid instead.)
ALTER TABLE events ADD COLUMN seq BIGSERIAL;

CREATE INDEX events_outbox ON events (seq) WHERE delivery_status = 'pending';
CREATE INDEX events_payment_seq ON events (payment_id, seq);

CREATE TABLE deliveries (
    id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL REFERENCES events(id),
    attempt_no BIGINT NOT NULL,
    at BIGINT NOT NULL,
    http_status BIGINT,
    latency_ms BIGINT NOT NULL,
    error TEXT
);
CREATE INDEX deliveries_event ON deliveries (event_id, attempt_no);
