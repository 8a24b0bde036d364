#!/usr/bin/env python3
# Usage: python3 bench/sqlite_items_floor.py [ROWS]   (Python 3 standard library only)
# How long SQLite itself takes to store 1M reconciliation items in one transaction, with the
# recon_items layout of migrations/sqlite (text PK, UNIQUE(run_id, idx), two indexes, FK),
# and without the secondary B-trees: the floor under feegate's "store+commit" phase.
import os, sqlite3, sys, time
N = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
SCHEMA_FULL = """
CREATE TABLE recon_runs (id TEXT PRIMARY KEY);
CREATE TABLE recon_items (
    id TEXT PRIMARY KEY, run_id TEXT NOT NULL REFERENCES recon_runs(id), idx BIGINT NOT NULL, line BIGINT,
    reference TEXT NOT NULL, gateway_txn TEXT,
    kind TEXT NOT NULL CHECK (kind IN ('pay', 'refund', 'credit', 'debit')),
    amount_file BIGINT, amount_feegate BIGINT, status_file TEXT, status_feegate TEXT,
    outcome TEXT NOT NULL CHECK (outcome IN ('matched', 'missing_in_file', 'missing_in_feegate',
        'amount_mismatch', 'status_mismatch', 'duplicate')),
    reason TEXT NOT NULL, payment_id TEXT, attempt_id TEXT, refund_id TEXT, content TEXT,
    booking_date TEXT, batch_source TEXT, fee BIGINT, UNIQUE (run_id, idx));
CREATE INDEX recon_items_outcome ON recon_items (run_id, outcome, idx);
CREATE INDEX recon_items_payment ON recon_items (payment_id);
"""
def run(label, schema, fk):
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"feegate-items-floor-{label.split()[0]}.db")
    for s in ("", "-wal", "-shm"):
        if os.path.exists(path + s): os.remove(path + s)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL"); db.execute("PRAGMA synchronous=FULL")
    db.execute(f"PRAGMA foreign_keys={'ON' if fk else 'OFF'}")
    db.executescript(schema)
    db.execute("INSERT INTO recon_runs VALUES ('rcr_x')")
    rows = ((f"rci_x_{i:07}", "rcr_x", i, i + 2, f"FG{i:010}", f"T{i}", "pay", 135000, 135000, "succeeded",
             "succeeded", "matched", "", f"pay_{i:016}", f"att_{i:016}", None, None, None, None, 0) for i in range(N))
    t = time.time()
    db.execute("BEGIN")
    db.executemany("INSERT INTO recon_items VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    db.execute("COMMIT")
    print(f"{label:32} {N} rows in {time.time() - t:.2f} s")
run("layout of main (5 B-trees, FK)", SCHEMA_FULL, True)
run("no secondary indexes, no FK", SCHEMA_FULL.split("CREATE INDEX")[0].replace("id TEXT PRIMARY KEY, run_id", "id TEXT, run_id").replace(", UNIQUE (run_id, idx)", ""), False)
