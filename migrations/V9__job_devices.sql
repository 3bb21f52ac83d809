-- A job's devices in a table of their own, one row per job and device, instead of the
-- array jobs.device_ids. The dispatcher used to append each chunk of a job's devices to
-- that array: every append rewrote the whole array (and the job row with it), so a
-- 1,000,000-device job rewrote its membership 200 times over, up to 8 MB each time, and
-- each rewrite grew with the job. Rows are appended once and read by a key range, so
-- membership costs the same per device at any size.
--
-- No foreign key, as for the other tables written once per device (migration V3): the
-- job's deletion takes its rows through the jobs trigger below. Apply it with the roles
-- stopped: the column is dropped at the end.

CREATE TABLE job_devices (
    job_id    uuid NOT NULL,
    device_id bigint NOT NULL,
    PRIMARY KEY (job_id, device_id)
);

INSERT INTO job_devices (job_id, device_id)
SELECT j.id, t.device_id
FROM jobs j CROSS JOIN LATERAL unnest(j.device_ids) AS t(device_id)
ON CONFLICT DO NOTHING;

ALTER TABLE jobs DROP COLUMN device_ids;

CREATE OR REPLACE FUNCTION netraven_jobs_deleted() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
BEGIN
    DELETE FROM job_results WHERE job_id IN (SELECT id FROM gone);
    DELETE FROM job_devices WHERE job_id IN (SELECT id FROM gone);
    RETURN NULL;
END $$;
