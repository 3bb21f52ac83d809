-- One AAA budget per credential for the whole fleet. A credential may cap how many logins
-- run at once (max_concurrent_logins) and how many start in any one second
-- (max_logins_per_second) across every worker together, whether there are 2 workers or 30:
-- the TACACS or RADIUS server behind a credential sees the fleet, not one worker. NULL is
-- no fleet-wide cap (the workers' own per-worker caps still apply).
--
-- A worker takes a lease before it sends a credential's secret and releases it when the
-- device has answered. A lease that is never released (its worker died, or lost Postgres)
-- expires at expires_at, which the worker sets to the login's own timeout and a margin:
-- a dead worker keeps no share for longer than one login could have taken.
--
-- No foreign key, as for the other tables written once per login (V3): a lease lives for
-- seconds, and netraven_take_login deletes the ones that can no longer matter.
ALTER TABLE credentials
    ADD COLUMN max_concurrent_logins integer CHECK (max_concurrent_logins > 0),
    ADD COLUMN max_logins_per_second integer CHECK (max_logins_per_second > 0);

CREATE TABLE login_leases (
    token         uuid        PRIMARY KEY,
    credential_id bigint      NOT NULL,
    holder        text        NOT NULL,
    started_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    released_at   timestamptz
);
CREATE INDEX login_leases_by_credential ON login_leases (credential_id, started_at);

-- Takes a lease for one login of p_credential, or says how long to wait before asking
-- again: 0 when the lease `p_token` was taken, otherwise a wait in milliseconds (at least
-- 1). Serialised per credential by a transaction-scoped advisory lock (the two-key form,
-- whose key space the one-key locks of migrations never meet), so that two workers cannot
-- both take the last slot; other credentials do not wait for it.
--
-- Concurrency counts leases neither released nor expired. The rate is a sliding window:
-- at most p_max_per_second logins start in any one second.
CREATE FUNCTION netraven_take_login(
    p_credential bigint, p_token uuid, p_holder text,
    p_max_concurrent integer, p_max_per_second integer, p_lease_ms integer
) RETURNS integer LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    now_at timestamptz;
    live integer;
    soonest timestamptz;
    window_start timestamptz;
BEGIN
    PERFORM pg_advisory_xact_lock(7473, (p_credential % 2147483647)::integer);
    now_at := clock_timestamp();
    -- What no longer counts for either cap.
    DELETE FROM login_leases
    WHERE credential_id = p_credential
      AND started_at < now_at - interval '1 second'
      AND (released_at IS NOT NULL OR expires_at <= now_at);
    IF p_max_concurrent IS NOT NULL THEN
        SELECT count(*), min(expires_at) INTO live, soonest FROM login_leases
        WHERE credential_id = p_credential AND released_at IS NULL AND expires_at > now_at;
        IF live >= p_max_concurrent THEN
            -- Usually a lease is released long before it expires: ask again soon.
            RETURN greatest(1, least(50, ceil(extract(epoch FROM soonest - now_at) * 1000))::integer);
        END IF;
    END IF;
    IF p_max_per_second IS NOT NULL THEN
        -- The start that must leave the window before another may enter it.
        SELECT started_at INTO window_start FROM login_leases
        WHERE credential_id = p_credential AND started_at > now_at - interval '1 second'
        ORDER BY started_at DESC OFFSET p_max_per_second - 1 LIMIT 1;
        IF FOUND THEN
            RETURN greatest(1, ceil(extract(epoch FROM window_start + interval '1 second' - now_at) * 1000)::integer);
        END IF;
    END IF;
    INSERT INTO login_leases (token, credential_id, holder, started_at, expires_at)
    VALUES (p_token, p_credential, p_holder, now_at, now_at + p_lease_ms * interval '1 millisecond');
    RETURN 0;
END $$;
