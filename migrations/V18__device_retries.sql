-- Retries of transient device failures (TIMEOUT, UNREACHABLE).
--
-- A job keeps the retry limits it was dispatched with, so that the aggregator decides
-- with the job's own numbers whatever a dispatcher's defaults are now.
--
-- `device_tries` holds each try of a device that was retried (the try that failed, its
-- reason, which worker and how long): the final try is the device's `job_results` row,
-- whose `tries` says how many there were. A device that is never retried writes nothing
-- here, so a job without retries costs what it did.
--
-- `task_retries` holds the retries scheduled and not yet published: the dispatchers take
-- each due one once (FOR UPDATE SKIP LOCKED), publish its task and delete the row in one
-- transaction; a publish that fails rolls the row back.
--
-- No foreign keys, as for the other tables written per device (V3): the job's deletion
-- takes the rows with it through the trigger below.

ALTER TABLE jobs
    ADD COLUMN max_retries        integer NOT NULL DEFAULT 0,
    ADD COLUMN retry_backoff_ms   bigint  NOT NULL DEFAULT 0,
    ADD COLUMN device_deadline_ms bigint  NOT NULL DEFAULT 0;

ALTER TABLE job_results ADD COLUMN tries integer NOT NULL DEFAULT 1;

CREATE TABLE device_tries (
    job_id      uuid        NOT NULL,
    device_id   bigint      NOT NULL,
    try         integer     NOT NULL,
    outcome     text        NOT NULL,
    reason      text        NOT NULL DEFAULT '',
    worker      text,
    duration_ms bigint      NOT NULL DEFAULT 0,
    finished_at timestamptz NOT NULL,
    PRIMARY KEY (job_id, device_id, try)
);

CREATE TABLE task_retries (
    job_id    uuid        NOT NULL,
    device_id bigint      NOT NULL,
    try       integer     NOT NULL,
    due_at    timestamptz NOT NULL,
    PRIMARY KEY (job_id, device_id)
);
CREATE INDEX task_retries_by_due ON task_retries (due_at);

-- A device's claim remembers the try it was taken for: a later try takes it over, a late
-- copy of an earlier one leaves it alone.
ALTER TABLE device_claims ADD COLUMN try integer NOT NULL DEFAULT 1;

CREATE FUNCTION netraven_jobs_deleted_tries() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
BEGIN
    DELETE FROM device_tries WHERE job_id IN (SELECT id FROM gone);
    DELETE FROM task_retries WHERE job_id IN (SELECT id FROM gone);
    RETURN NULL;
END $$;
CREATE TRIGGER jobs_deleted_tries AFTER DELETE ON jobs
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION netraven_jobs_deleted_tries();
