-- Each portal's allowed return_url origins: a JSON array of "https://host[:port]" strings.
-- NULL (never set) and [] both refuse every return_url; an admin sets them through
-- PUT /v1/portals/{id}/return-origins.
ALTER TABLE portals ADD COLUMN return_origins TEXT;

-- Keys the server makes for itself (the checkout form token key), shared by every node.
CREATE TABLE server_keys (
    name TEXT PRIMARY KEY,
    secret TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
