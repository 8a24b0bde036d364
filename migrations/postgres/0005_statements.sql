-- Agency bank statement runs (camt.053, MT940, CSV) beside gateway settlement runs: a run
-- says which kind it is and, for a statement, which agency account; statement items are
-- credits and debits with the transfer content as booked.
ALTER TABLE recon_runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'settlement' CHECK (kind IN ('settlement', 'statement'));
ALTER TABLE recon_runs ADD COLUMN account_id TEXT REFERENCES accounts(id);
CREATE INDEX recon_runs_account ON recon_runs (account_id, business_date, created_at);

ALTER TABLE recon_items DROP CONSTRAINT recon_items_kind_check;
ALTER TABLE recon_items ADD CONSTRAINT recon_items_kind_check CHECK (kind IN ('pay', 'refund', 'credit', 'debit'));
ALTER TABLE recon_items ADD COLUMN content TEXT;
ALTER TABLE recon_items ADD COLUMN booking_date TEXT;
ALTER TABLE recon_items ADD COLUMN batch_source TEXT;
ALTER TABLE recon_items ADD COLUMN fee BIGINT;
CREATE INDEX recon_items_payment ON recon_items (payment_id);
