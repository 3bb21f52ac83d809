-- Configuration history: each device's snapshots become numbered versions.
--
-- Before, a snapshot was keyed by (device, SHA-256): a configuration that went A → B → A
-- found its old row again, so the history read A, B and lost the return to A. Now a
-- version is a row per change: a backup whose SHA-256 equals the device's latest version
-- only marks that version seen (last_seen_at, last_job_id); any other stores version
-- latest + 1, even when an older version had the same text. Versions are numbered from 1
-- per device, in the order they were stored; the unique index finds a device's latest.
--
-- lines_added and lines_removed count the lines of a line diff against the version
-- before (NULL for a device's first version), computed by the worker that stores it.
--
-- job_results.config_change says what a backup did to the device's history: NEW (its
-- first version), CHANGED (a new version), UNCHANGED (the latest version seen again);
-- NULL for a job that stores no configuration. config_version is the version the device
-- is at after the job.
--
-- Apply it with the roles stopped: the unique constraint is replaced.

ALTER TABLE device_configs ADD COLUMN version integer;
ALTER TABLE device_configs ADD COLUMN last_job_id uuid;
ALTER TABLE device_configs ADD COLUMN lines_added integer;
ALTER TABLE device_configs ADD COLUMN lines_removed integer;

UPDATE device_configs c
SET version = n.version, last_job_id = c.first_job_id
FROM (SELECT id, row_number() OVER (PARTITION BY device_id ORDER BY first_seen_at, id) AS version
      FROM device_configs) n
WHERE n.id = c.id;

ALTER TABLE device_configs ALTER COLUMN version SET NOT NULL;
ALTER TABLE device_configs ADD CONSTRAINT device_configs_version_positive CHECK (version > 0);
ALTER TABLE device_configs DROP CONSTRAINT device_configs_device_id_sha256_key;
ALTER TABLE device_configs ADD CONSTRAINT device_configs_device_version UNIQUE (device_id, version);
DROP INDEX device_configs_latest;
-- The versions a job stored (git export, `job show`).
CREATE INDEX device_configs_by_job ON device_configs (first_job_id);

COMMENT ON COLUMN device_configs.version IS
    'The version number, from 1 per device, in the order versions were stored.';
COMMENT ON COLUMN device_configs.last_job_id IS
    'The last job whose backup found this version unchanged (or stored it).';
COMMENT ON COLUMN device_configs.lines_added IS
    'Lines added against the version before; NULL for a device''s first version.';
COMMENT ON COLUMN device_configs.lines_removed IS
    'Lines removed against the version before; NULL for a device''s first version.';

ALTER TABLE job_results ADD COLUMN config_change text
    CHECK (config_change IN ('NEW', 'CHANGED', 'UNCHANGED'));
ALTER TABLE job_results ADD COLUMN config_version integer;
