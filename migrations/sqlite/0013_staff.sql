-- Staff: the people who sign in to the finance console (issue 10). A staff user has a role
-- (admin, finance, viewer) and optionally a list of agencies that scopes what they see and
-- do; no row in staff_agencies means every agency. Passwords are argon2id PHC strings.
CREATE TABLE staff_users (
    username TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'finance', 'viewer')),
    password_hash TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

CREATE TABLE staff_agencies (
    username TEXT NOT NULL REFERENCES staff_users (username),
    agency_code TEXT NOT NULL REFERENCES agencies (code),
    PRIMARY KEY (username, agency_code)
);

-- A console session: only the SHA-256 of its random 32-byte id is kept, so that a copy of
-- the database does not sign anybody in. Idle and absolute timeouts are checked against
-- last_seen_at and created_at.
CREATE TABLE staff_sessions (
    id_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL REFERENCES staff_users (username),
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
);
CREATE INDEX staff_sessions_username ON staff_sessions (username);

-- Wrong passwords per username typed, whether or not such a user exists (an unknown name
-- slows down and locks exactly like a known one, so the answers tell nothing apart).
CREATE TABLE staff_sign_in_throttle (
    username TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    locked_until INTEGER,
    updated_at INTEGER NOT NULL
);
