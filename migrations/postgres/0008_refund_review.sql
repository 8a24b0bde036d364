-- When a refund still pending after `refund_query_max_tries` status queries was raised for
-- review: set once, by a guarded update, so that finance gets one review per refund, not
-- one per resolver pass.
ALTER TABLE refunds ADD COLUMN review_opened_at BIGINT;
