-- Which copy of a device's task a worker is working on, so that a task published twice
-- (a dispatcher killed mid-publish, whose request is then dispatched again) contacts its
-- device once, and a worker that was stopped (SIGSTOP, a long pause) and resumes cannot
-- record a device another worker has taken over.
--
-- A worker claims (job, device) before it contacts the device, with a token new for each
-- delivery. Another copy of the task that finds the claim leaves the device alone: a first
-- delivery acks and does nothing (the holder reports the device), a redelivery (the
-- holder's channel is gone) takes the claim over with its own token. A batch records only
-- the devices whose claim still carries its token, and stores the result it reports in
-- the claim; a copy that comes after that reports the stored result again without
-- contacting the device.
--
-- `result` is the worker's result message as JSON text, not jsonb: jsonb refuses the
-- escaped NUL (\u0000) that a device's text may carry.
--
-- No foreign key, as in V3: a claim is written for every device of every job, and its job
-- takes it with it when deleted (the trigger below).

CREATE TABLE device_claims (
    job_id       uuid        NOT NULL,
    device_id    bigint      NOT NULL,
    token        uuid        NOT NULL,
    redelivered  boolean     NOT NULL,
    claimed_at   timestamptz NOT NULL DEFAULT now(),
    result       text,
    PRIMARY KEY (job_id, device_id)
);

CREATE FUNCTION netraven_jobs_deleted_claims() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
BEGIN
    DELETE FROM device_claims WHERE job_id IN (SELECT id FROM gone);
    RETURN NULL;
END $$;
CREATE TRIGGER jobs_deleted_claims AFTER DELETE ON jobs
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION netraven_jobs_deleted_claims();
