-- Key lifecycle: what each running worker can open, and when each key sealed.
--
-- A worker reports the ids of the sealing keys it holds at start, after every reload of its
-- key file and every worker.key_report_interval_ms; it deletes its row when it stops
-- cleanly. A row not refreshed for three of its own intervals is a worker that is gone;
-- workers delete rows unseen for a day when they start.
-- `netraven secrets reseal` reseals only when every running worker holds the new key.
CREATE TABLE worker_key_reports (
    worker_id           uuid PRIMARY KEY,         -- one worker process, new at each start
    worker              text NOT NULL,            -- its host name and process id
    key_ids             text[] NOT NULL,
    report_interval_ms  bigint NOT NULL CHECK (report_interval_ms > 0),
    started_at          timestamptz NOT NULL DEFAULT now(),
    seen_at             timestamptz NOT NULL DEFAULT now()
);

-- Written by `netraven secrets reseal`: when each key became the sealing key (NULL: it
-- sealed before this table was kept) and when another replaced it (NULL: it seals now).
-- Tasks of jobs opened before `sealing_until` may still carry secrets sealed with it, so
-- `netraven secrets retire` waits for those jobs to finish.
CREATE TABLE sealing_keys (
    key_id         text PRIMARY KEY,
    sealing_since  timestamptz,
    sealing_until  timestamptz
);
