-- A lease asked for again with its own token is granted. A worker whose take committed
-- but whose answer was lost (the connection dropped on the way back) asks again with the
-- same token: netraven_take_login (V19) counted that lease against its own caller, so
-- with the cap reached the login waited until its own lease expired (its login timeout
-- and 2 s), and then failed the INSERT on the token until the row was deleted. The
-- token is looked for only where the answer would otherwise be a wait or a conflict, so
-- a take that is granted at once costs what it did. Same function otherwise.
CREATE OR REPLACE FUNCTION netraven_take_login(
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
            IF EXISTS (SELECT 1 FROM login_leases WHERE token = p_token
                       AND released_at IS NULL AND expires_at > now_at) THEN
                RETURN 0; -- asked again for the lease it holds
            END IF;
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
            IF EXISTS (SELECT 1 FROM login_leases WHERE token = p_token
                       AND released_at IS NULL AND expires_at > now_at) THEN
                RETURN 0; -- asked again for the lease it holds
            END IF;
            RETURN greatest(1, ceil(extract(epoch FROM window_start + interval '1 second' - now_at) * 1000)::integer);
        END IF;
    END IF;
    INSERT INTO login_leases (token, credential_id, holder, started_at, expires_at)
    VALUES (p_token, p_credential, p_holder, now_at, now_at + p_lease_ms * interval '1 millisecond')
    ON CONFLICT (token) DO NOTHING; -- asked again for the lease it holds
    RETURN 0;
END $$;
