-- Statement items carry the currency of their amount (a non-VND credit is never matched as
-- đồng); a statement run lists each statement of its file with what became of it (imported,
-- refused with its reason, another account's); corrections a run proves (a credit or a
-- settlement line for an attempt feegate has not seen succeed) are queued durably and worked
-- off by a background worker under leases, so the import never waits on a gateway.
ALTER TABLE recon_items ADD COLUMN currency TEXT;
ALTER TABLE recon_runs ADD COLUMN statements TEXT;

CREATE TABLE recon_corrections (
    id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES recon_runs(id),
    item_id TEXT NOT NULL UNIQUE REFERENCES recon_items(id),
    attempt_id TEXT NOT NULL,
    actor TEXT NOT NULL,
    evidence TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done')),
    tries BIGINT NOT NULL DEFAULT 0,
    next_at BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    result TEXT,
    created_at BIGINT NOT NULL,
    done_at BIGINT
);
CREATE INDEX recon_corrections_due ON recon_corrections (status, next_at);
CREATE INDEX recon_corrections_run ON recon_corrections (run_id);
