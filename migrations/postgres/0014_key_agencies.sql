-- The agencies a finance API key is bound to (issue 10): like staff_agencies, no row means
-- every agency. A bound key sees and acts on those agencies' payments, refunds, events
-- and reports only, and not on reconciliation runs or cases (per source, not per agency).
CREATE TABLE api_key_agencies (
    key_id TEXT NOT NULL REFERENCES api_keys (id),
    agency_code TEXT NOT NULL REFERENCES agencies (code),
    PRIMARY KEY (key_id, agency_code)
);
