-- Jump hosts (bastions): a device, or every device with a tag, is reached through one or
-- more SSH jump hosts, by direct-tcpip channels over a connection to the last of them.
--
-- Each jump host has its own credential (a row of `credentials`, sealed like every other
-- secret; it cannot be removed while a jump host uses it) and its host key pinned by the
-- operator: a bastion is never trusted on first use. `via` makes a chain: the jump host
-- is itself reached through `via`, outermost first. A cycle is refused here (a trigger)
-- as well as at import, and a chain is at most four hops.
--
-- A device's own `jump_host_id` wins; else its tags' (`tags.jump_host_id`). Import refuses
-- a device whose tags name two different jump hosts; should one appear anyway (tags
-- edited by hand), the dispatcher takes the lowest jump host id, so a job never depends
-- on the order rows come in.

CREATE TABLE jump_hosts (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text NOT NULL UNIQUE CHECK (name <> ''),
    host          text NOT NULL CHECK (host <> ''),
    port          integer NOT NULL DEFAULT 22 CHECK (port BETWEEN 1 AND 65535),
    credential_id bigint NOT NULL REFERENCES credentials (id) ON DELETE RESTRICT,
    -- An OpenSSH public key line (`ssh-ed25519 AAAA...`): the key the jump host must
    -- present. A fingerprint is not enough: the key's algorithm is negotiated from it.
    host_key      text NOT NULL CHECK (host_key ~ '^[a-z0-9@.-]+ [A-Za-z0-9+/=]+( .*)?$'),
    via_id        bigint REFERENCES jump_hosts (id) ON DELETE RESTRICT,
    -- Device channels one worker keeps open at once over its connection to this host.
    max_channels  integer NOT NULL DEFAULT 10 CHECK (max_channels BETWEEN 1 AND 1000),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (via_id IS DISTINCT FROM id)
);
CREATE INDEX jump_hosts_by_credential ON jump_hosts (credential_id);

ALTER TABLE devices ADD COLUMN jump_host_id bigint REFERENCES jump_hosts (id) ON DELETE RESTRICT;
ALTER TABLE tags ADD COLUMN jump_host_id bigint REFERENCES jump_hosts (id) ON DELETE RESTRICT;
CREATE INDEX devices_by_jump_host ON devices (jump_host_id) WHERE jump_host_id IS NOT NULL;
CREATE INDEX tags_by_jump_host ON tags (jump_host_id) WHERE jump_host_id IS NOT NULL;

-- A chain that loops or is longer than four hops is refused, whatever writes it.
CREATE FUNCTION netraven_jump_chain_check() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
DECLARE
    hops integer;
    looped boolean;
BEGIN
    WITH RECURSIVE chain (id, via_id, depth, path) AS (
        SELECT j.id, j.via_id, 1, ARRAY[j.id] FROM jump_hosts j
        WHERE j.id IN (SELECT id FROM changed)
        UNION ALL
        SELECT j.id, j.via_id, c.depth + 1, c.path || j.id
        FROM chain c JOIN jump_hosts j ON j.id = c.via_id
        WHERE NOT j.id = ANY(c.path) AND c.depth <= 5
    )
    SELECT max(depth),
           bool_or(c.via_id IS NOT NULL AND c.via_id = ANY(c.path))
    INTO hops, looped FROM chain c;
    IF looped THEN
        RAISE EXCEPTION 'jump host chain loops back on itself' USING ERRCODE = 'check_violation';
    END IF;
    IF hops > 4 THEN
        RAISE EXCEPTION 'jump host chain longer than 4 hops' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER jump_hosts_chain_inserted AFTER INSERT ON jump_hosts
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION netraven_jump_chain_check();
CREATE TRIGGER jump_hosts_chain_updated AFTER UPDATE ON jump_hosts
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION netraven_jump_chain_check();
