-- Refunds of a duplicate collection (issue 9). A payment is paid by one attempt; another
-- attempt that also collected (a second credit for a paid reference, a late success on an
-- expired or cancelled payment, a second gateway's success) is money that is not the
-- payment's, and a refund of it is capped against that attempt, not the payment.

-- The attempt that paid the payment, set with the transition to `succeeded`. Paid payments
-- of older databases get the attempt their refunds went through, else (as refunds did)
-- their first succeeded attempt.
ALTER TABLE payments ADD COLUMN paid_attempt_id TEXT;
UPDATE payments SET paid_attempt_id = COALESCE(
    (SELECT r.attempt_id FROM refunds r WHERE r.payment_id = payments.id ORDER BY r.created_at, r.id LIMIT 1),
    (SELECT a.id FROM attempts a WHERE a.payment_id = payments.id AND a.status = 'succeeded'
     ORDER BY a.created_at, a.id LIMIT 1))
WHERE status IN ('succeeded', 'partially_refunded', 'refunded');

-- The sum of non-failed refunds of a duplicate attempt, reserved with a guarded update so
-- that it never exceeds the attempt's amount, whatever the concurrency.
ALTER TABLE attempts ADD COLUMN reserved_refunds BIGINT NOT NULL DEFAULT 0;

-- A second bank credit under a paid attempt's reference, recorded as its own attempt: the
-- attempt whose reference it carried. The statement proves it as a duplicate of that one,
-- never as a transfer of its own.
ALTER TABLE attempts ADD COLUMN second_of TEXT REFERENCES attempts(id);

-- The duplicate attempt a refund returns; NULL: the refund returns the payment's own
-- collection (through its paying attempt, `attempt_id`), as every older refund did.
ALTER TABLE refunds ADD COLUMN duplicate_attempt_id TEXT REFERENCES attempts(id);
