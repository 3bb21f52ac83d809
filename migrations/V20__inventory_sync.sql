-- Inventory in sync (`inventory import --prune`, `inventory sync netbox`, `inventory
-- export`).
--
-- A device removed from the inventory is marked, not deleted: `removed_at` is set and
-- `enabled` cleared (the check below ties them), so the dispatcher, which targets only
-- enabled devices, never targets it again, while its results, login attempts, command
-- outputs, configuration versions, host key pin and the job views that join `devices`
-- for its name all stay readable. Deleting the row would take its configuration history
-- with it (V3's trigger) and leave the views without its name. A removed device's tags
-- and credential affinity go (nothing targets it by tag, nothing resumes it); its jump
-- host is cleared so that the jump host can be removed in turn.
--
-- Why not a tombstone table as V12 did for credentials: a device's history is much
-- larger (configurations, outputs) and every view reads it through `devices`; a
-- credential's secret had to go, a device holds no secret. The name stays taken by the
-- removed row: importing (or syncing) the same name again revives it, with the same id
-- and so its whole history, as one device that came back.
--
-- `source` is who wrote the device last: `file` (`inventory import`) or `netbox`
-- (`inventory sync netbox`). A prune removes only the devices of its own source, so a
-- NetBox sync never removes devices that a file owns, and the other way round.
--
-- `secret_refs` records, for `inventory export`, where an import read a credential's
-- secrets from: the names of the environment variables and files (`secret_env`,
-- `key_file`, ...), never a value. Empty for a secret written inline in the file, and
-- for credentials imported before this migration.

ALTER TABLE devices
    ADD COLUMN removed_at timestamptz,
    ADD COLUMN source text NOT NULL DEFAULT 'file' CHECK (source IN ('file', 'netbox')),
    ADD CONSTRAINT devices_removed_are_disabled CHECK (removed_at IS NULL OR NOT enabled);

ALTER TABLE credentials
    ADD COLUMN secret_refs jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(secret_refs) = 'object');
