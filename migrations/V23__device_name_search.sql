-- The device name search (reads::device_list, the console's devices filter): names that
-- contain what was typed, case-insensitively (`edge-sw` finds `ams1-edge-sw01`), by a
-- trigram index. The unique index on `name` serves the list's order and its keyset, but
-- not a match inside a name: without this index a search reads every device (30-50 ms at
-- 50,000 devices; 0.2 ms with it). A match common enough to fill a page still walks the
-- unique index in name order, which stops at the page's end.
--
-- pg_trgm ships with PostgreSQL (contrib) and is a trusted extension, so the database's
-- owner may create it. Where it cannot be created (the role lacks CREATE on the database,
-- or contrib is not installed), the migration goes on without the index: the search works
-- the same and reads the devices, and the notice says why.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE INDEX devices_name_trgm ON devices USING gin (name gin_trgm_ops);
EXCEPTION WHEN insufficient_privilege OR undefined_file OR undefined_object OR feature_not_supported THEN
    RAISE NOTICE 'no trigram index on devices.name (%): the device name search reads every device', SQLERRM;
END
$$;
