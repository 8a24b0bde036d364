-- PostgreSQL stores what each column holds in its own type (issue 12): times become
-- TIMESTAMPTZ, 0/1 flags BOOLEAN, a portal's agencies JSONB (at the end). Money stays
-- BIGINT đồng. SQLite keeps its types (INTEGER unix milliseconds, 0/1, JSON as TEXT), so
-- its 0012 changes nothing.
--
-- Times convert exactly: unix milliseconds are added to the epoch as an interval (whole
-- microseconds, no float seconds as `to_timestamp` would take), NULL stays NULL and 0 is
-- the epoch. Every audit entry hashes its created_at as unix milliseconds; the store reads
-- it back as the same number, so every chain verifies as before. audit_log.payload, the
-- hashed text, stays TEXT (JSONB would reorder its keys).
--
-- Each table is rewritten once (one ALTER TABLE per table); its indexes, partial ones
-- included, are rebuilt on the new types.

ALTER TABLE agencies
    ALTER COLUMN created_at TYPE TIMESTAMPTZ USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 millisecond';

ALTER TABLE accounts
    ALTER COLUMN created_at TYPE TIMESTAMPTZ USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 millisecond',
    ALTER COLUMN active TYPE BOOLEAN USING active <> 0;

ALTER TABLE portals
    ALTER COLUMN created_at TYPE TIMESTAMPTZ USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 millisecond';

ALTER TABLE api_keys
    ALTER COLUMN created_at TYPE TIMESTAMPTZ USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 millisecond',
    ALTER COLUMN revoked_at TYPE TIMESTAMPTZ USING TIMESTAMPTZ 'epoch' + revoked_at * INTERVAL '1 millisecond';

ALTER TABLE payments
    ALTER COLUMN review_opened_at TYPE TIMESTAMPTZ USING TIMESTAMPTZ 'epoch' + review_opened_at * INTERVAL '1 millisecond',
    ALTER COLUMN created_at TYPE TIMESTAMPTZ USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 millisecond',
    ALTER COLUMN updated_at TYPE TIMESTAMPTZ USING TIMESTAMPTZ 'epoch' + updated_at * INTERVAL '1 millisecond',
    ALTER COLUMN expires_at TYPE TIMESTAMPTZ USING TIMESTAMPTZ 'epoch' + expires_at * INTERVAL '1 millisecond',
    ALTER COLUMN paid_at TYPE TIMESTAMPTZ USING TIMESTAMPTZ 'epoch' + paid_at * INTERVAL '1 millisecond',
    ALTER COLUMN expiry_check_after TYPE TIMESTAMPTZ USING TIMESTAMPTZ 'epoch' + expiry_check_after * INTERVAL '1 millisecond';

ALTER TABLE attempts
    ALTER COLUMN created_at TYPE TIMESTAMPTZ USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 millisecond',
    ALTER COLUMN updated_at TYPE TIMESTAMPTZ USING TIMESTAMPTZ 'epoch' + updated_at * INTERVAL '1 millisecond',
    ALTER COLUMN next_query_at TYPE TIMESTAMPTZ USING TIMESTAMPTZ 'epoch' + next_query_at * INTERVAL '1 millisecond';

ALTER TABLE callbacks
    ALTER COLUMN received_at TYPE TIMESTAMPTZ USING TIMESTAMPTZ 'epoch' + received_at * INTERVAL '1 millisecond',
    ALTER COLUMN verified TYPE BOOLEAN USING verified <> 0;

ALTER TABLE events
    ALTER COLUMN created_at TYPE TIMESTAMPTZ USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 millisecond',
    ALTER COLUMN next_attempt_at TYPE TIMESTAMPTZ USING TIMESTAMPTZ 'epoch' + next_attempt_at * INTERVAL '1 millisecond',
    ALTER COLUMN lease_until TYPE TIMESTAMPTZ USING TIMESTAMPTZ 'epoch' + lease_until * INTERVAL '1 millisecond',
    ALTER COLUMN delivered_at TYPE TIMESTAMPTZ USING TIMESTAMPTZ 'epoch' + delivered_at * INTERVAL '1 millisecond',
    ALTER COLUMN webhook TYPE BOOLEAN USING webhook <> 0;

ALTER TABLE deliveries
    ALTER COLUMN at TYPE TIMESTAMPTZ USING TIMESTAMPTZ 'epoch' + at * INTERVAL '1 millisecond';

ALTER TABLE idempotency
    ALTER COLUMN created_at TYPE TIMESTAMPTZ USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 millisecond';

ALTER TABLE audit_log
    ALTER COLUMN created_at TYPE TIMESTAMPTZ USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 millisecond';

ALTER TABLE node_lock
    ALTER COLUMN heartbeat_at TYPE TIMESTAMPTZ USING TIMESTAMPTZ 'epoch' + heartbeat_at * INTERVAL '1 millisecond';

ALTER TABLE refunds
    ALTER COLUMN next_query_at TYPE TIMESTAMPTZ USING TIMESTAMPTZ 'epoch' + next_query_at * INTERVAL '1 millisecond',
    ALTER COLUMN created_at TYPE TIMESTAMPTZ USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 millisecond',
    ALTER COLUMN updated_at TYPE TIMESTAMPTZ USING TIMESTAMPTZ 'epoch' + updated_at * INTERVAL '1 millisecond',
    ALTER COLUMN review_opened_at TYPE TIMESTAMPTZ USING TIMESTAMPTZ 'epoch' + review_opened_at * INTERVAL '1 millisecond';

ALTER TABLE recon_runs
    ALTER COLUMN created_at TYPE TIMESTAMPTZ USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 millisecond';

ALTER TABLE case_resolutions
    ALTER COLUMN resolved_at TYPE TIMESTAMPTZ USING TIMESTAMPTZ 'epoch' + resolved_at * INTERVAL '1 millisecond';

ALTER TABLE recon_days
    ALTER COLUMN closed_at TYPE TIMESTAMPTZ USING TIMESTAMPTZ 'epoch' + closed_at * INTERVAL '1 millisecond';

ALTER TABLE reviews
    ALTER COLUMN opened_at TYPE TIMESTAMPTZ USING TIMESTAMPTZ 'epoch' + opened_at * INTERVAL '1 millisecond';

ALTER TABLE recon_corrections
    ALTER COLUMN next_at TYPE TIMESTAMPTZ USING TIMESTAMPTZ 'epoch' + next_at * INTERVAL '1 millisecond',
    ALTER COLUMN lease_until TYPE TIMESTAMPTZ USING TIMESTAMPTZ 'epoch' + lease_until * INTERVAL '1 millisecond',
    ALTER COLUMN created_at TYPE TIMESTAMPTZ USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 millisecond',
    ALTER COLUMN done_at TYPE TIMESTAMPTZ USING TIMESTAMPTZ 'epoch' + done_at * INTERVAL '1 millisecond';

ALTER TABLE server_keys
    ALTER COLUMN created_at TYPE TIMESTAMPTZ USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 millisecond';

-- A portal's agencies (a JSON array of agency codes, checked when written) are a JSON
-- document nothing hashes or signs. The payer, metadata and event data stay TEXT: they
-- carry what a portal sent, and JSONB refuses some valid JSON text (a \u0000 escape), which
-- TEXT stores as sent. Idempotency responses, audit payloads, callback bodies and evidence
-- stay TEXT too: their exact bytes matter.
ALTER TABLE portals ALTER COLUMN agencies TYPE JSONB USING agencies::jsonb;

