-- API tokens (`netraven token create|list|revoke`): the api role's callers. A token is 256
-- random bits shown once; only its SHA-256 is kept, and a request's token is looked up by
-- that hash. `prefix` is its first characters, to tell tokens apart in a list.
CREATE TABLE api_tokens (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    prefix       text NOT NULL,
    sha256       bytea NOT NULL UNIQUE CHECK (octet_length(sha256) = 32),
    scope        text NOT NULL CHECK (scope IN ('read', 'submit', 'admin')),
    -- Whose permissions (dispatcher.submitters) its jobs and cancels run with.
    submitter    text NOT NULL CHECK (submitter <> ''),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz
);
