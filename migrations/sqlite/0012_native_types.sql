-- PostgreSQL's 0012 moves times to TIMESTAMPTZ and flags to BOOLEAN. SQLite keeps its own
-- types (INTEGER unix milliseconds, 0/1 flags), which the store reads and writes natively:
-- nothing to change here. The file keeps both migration folders at the same version.
SELECT 1;
