-- Web console sessions (api/src/console/session.rs): a login with an API token makes one.
-- The browser's cookie holds nothing but a random 256-bit session id; only its SHA-256 is
-- kept here, so a copy of this table opens no session. A session lives as long as its
-- token: a revoked or expired token ends every session made with it at the next request,
-- on every replica, since each request looks the session up here with its token.
CREATE TABLE console_sessions (
    sha256       bytea PRIMARY KEY CHECK (octet_length(sha256) = 32),
    token_id     bigint NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX console_sessions_by_token ON console_sessions (token_id);
CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at);
