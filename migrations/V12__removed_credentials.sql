-- A credential removed (`netraven credential remove NAME`, or DELETE by hand) leaves a
-- tombstone: its id, name, username and counters, so that the history it leaves behind
-- still names it. Its row goes, and its sealed secret with it; its tags and the
-- affinities that name it go too (V1's cascade, V3's trigger). Its login attempts
-- (`credential_attempts`) and the results it logged in for (`job_results`) stay: neither
-- has a foreign key to `credentials` (attempts never had one, V3 dropped the results'),
-- so they keep the credential's id, which identity columns never hand out again. Before
-- this, nothing named that id any more.
--
-- Why a tombstone table rather than
--   - a soft delete (a `removed_at` column): the name would stay taken, so the next
--     `inventory import` of it would bring the removed credential back with its old
--     counters; `sealed_secret` would have to allow NULL (the secret must go); and every
--     reader of `credentials` (the dispatcher's resolution, `secrets reseal` and
--     `retire`, the views) would have to learn to skip removed rows, now and forever.
--   - ON DELETE SET NULL with the name copied into each attempt: the name would be
--     written into every login attempt of the fleet (the hottest insert) for the sake of
--     a rare removal, `job_results` would need the same, and the id, which ties the
--     attempts of one credential together across renames, would be lost.
-- The tombstone is written by the deletion's statement trigger, so a DELETE by hand keeps
-- the history named as well. A name removed can be imported again: it is a new
-- credential with a new id, and the views tell the two apart.

CREATE TABLE removed_credentials (
    id            bigint PRIMARY KEY,
    name          text NOT NULL,
    username      text NOT NULL,
    priority      integer NOT NULL,
    success_count bigint NOT NULL,
    failure_count bigint NOT NULL,
    last_used_at  timestamptz,
    created_at    timestamptz NOT NULL,
    removed_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX removed_credentials_by_name ON removed_credentials (name);

CREATE OR REPLACE FUNCTION netraven_credentials_deleted() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
BEGIN
    DELETE FROM device_credential_affinity WHERE credential_id IN (SELECT id FROM gone);
    INSERT INTO removed_credentials (id, name, username, priority, success_count,
                                     failure_count, last_used_at, created_at)
    SELECT id, name, username, priority, success_count, failure_count, last_used_at,
           created_at
    FROM gone
    ON CONFLICT (id) DO NOTHING;
    RETURN NULL;
END $$;
