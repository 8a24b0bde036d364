-- Receipt provider jobs that end without the provider (issue 11's gaps). A full refund
-- queues the job to cancel the provider's e-receipt; when the provider refused to issue
-- that e-receipt, there is nothing at the provider to cancel, and the cancellation is done
-- without asking it. `skip_reason` says why ("never issued at the provider"); it is NULL
-- for a job the provider did. Finance re-queueing the refused issue re-queues such a
-- cancellation too (it is then done for real once the issue is).
ALTER TABLE receipt_jobs ADD COLUMN skip_reason TEXT;
