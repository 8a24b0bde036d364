-- Reviews: every time something about a payment needs a person (a late or second success,
-- a wrong amount, money in the wrong account, a refund that needs a look) is its own
-- record and its own case. Until now a payment held one `review_reason`, so a second
-- review on a paid payment was lost. `payments.review_reason` stays as the latest review
-- opened (the payment representation's `review`).
CREATE TABLE reviews (
    id TEXT PRIMARY KEY,
    payment_id TEXT NOT NULL REFERENCES payments(id),
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    -- The same fact reported again (a gateway's retry) is the same review, not a new one.
    dedupe_key TEXT NOT NULL,
    opened_by TEXT NOT NULL,
    opened_at BIGINT NOT NULL,
    UNIQUE (payment_id, dedupe_key)
);
CREATE INDEX reviews_opened ON reviews (opened_at);

-- Open reviews of older databases keep their case id (the payment's id), so a resolution
-- already written for them still applies.
INSERT INTO reviews (id, payment_id, reason, detail, dedupe_key, opened_by, opened_at)
SELECT id, id, review_reason, '', 'migrated:' || review_reason, 'migration:0007',
       COALESCE(review_opened_at, updated_at)
FROM payments WHERE review_reason IS NOT NULL;

-- The expiry worker puts off a due payment it could not expire (its gateway did not
-- answer) so that such payments cannot fill every batch and starve the others.
ALTER TABLE payments ADD COLUMN expiry_check_after BIGINT;
CREATE INDEX payments_expiry_due ON payments (expires_at, id) WHERE status IN ('created', 'pending');
