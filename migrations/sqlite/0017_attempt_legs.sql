-- VietQR for a payment whose lines go to several beneficiary accounts (issue 11): one
-- bank transfer per account, each an attempt of its own (its own reference as transfer
-- content, its own amount: the lines routed to that account). The legs of one start share
-- `leg_group` (the first leg's id); the payment is paid when every leg of one group has
-- arrived. `leg_account_id` is the account a leg's transfer must land in: a leg is checked
-- against it, a statement of that account expects it, and a refund of an arrived leg
-- (its payment never paid) comes out of it.
ALTER TABLE attempts ADD COLUMN leg_group TEXT;
ALTER TABLE attempts ADD COLUMN leg BIGINT;
ALTER TABLE attempts ADD COLUMN leg_account_id TEXT REFERENCES accounts (id);
CREATE INDEX attempts_leg_group ON attempts (leg_group) WHERE leg_group IS NOT NULL;
