-- Schedules: a job request on a calendar, run by the dispatchers (no process of its own).
--
-- A schedule is what a job request holds (job type, targets, commands, limits) plus a cron
-- expression (5 fields, or 6 with seconds first) read in an IANA time zone, an overlap
-- policy and a catch-up window. next_tick_at is the nominal time of the next tick, in
-- UTC; a dispatcher fires it at next_tick_at plus the schedule's spread offset
-- (dispatcher.schedule_spread_ms), so that schedules due at the same minute do not all
-- start at once.
--
-- Each tick a dispatcher takes is a schedule_runs row, keyed by (schedule, tick): the row
-- is inserted in the transaction that holds the schedule's row lock and moves
-- next_tick_at on, and a FIRED row's job request (request_id
-- "schedule:<name>:<tick, RFC 3339 UTC>") is confirmed by the broker before that
-- transaction commits. A dispatcher that dies in between leaves the tick due, and the one
-- that takes it over publishes the same request_id again, which the intake turns into
-- the one job. So each tick is one job, whatever number of dispatchers run.
--
-- Runs are FIRED (a job request sent), SKIPPED (overlap policy 'skip' and the previous
-- run's job still going) or MISSED (due longer ago than the catch-up window: every
-- dispatcher was down). ticks_missed counts the older ticks that came due in the same
-- downtime and were passed over for this one (never run, never a burst).

CREATE TABLE schedules (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL UNIQUE
                  CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$'),
    description   text NOT NULL DEFAULT '',
    cron          text NOT NULL,
    time_zone     text NOT NULL,
    job_type      text NOT NULL,
    -- The job request's targets, commands and limits, as the request carries them.
    targets       jsonb NOT NULL,
    commands      jsonb NOT NULL DEFAULT '[]',
    limits        jsonb NOT NULL DEFAULT '{}',
    overlap       text NOT NULL DEFAULT 'skip' CHECK (overlap IN ('skip', 'allow')),
    catch_up_ms   bigint NOT NULL CHECK (catch_up_ms >= 0),
    paused        boolean NOT NULL DEFAULT false,
    -- NULL only when the expression has no future tick (a date in the past).
    next_tick_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- What the dispatchers poll: the running schedules whose next tick has come.
CREATE INDEX schedules_due ON schedules (next_tick_at) WHERE NOT paused;

CREATE TABLE schedule_runs (
    schedule_id   bigint NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    tick_at       timestamptz NOT NULL,
    outcome       text NOT NULL CHECK (outcome IN ('FIRED', 'SKIPPED', 'MISSED')),
    -- The job request sent for a FIRED run; its job has this request_id.
    request_id    text,
    -- Older ticks of the same downtime passed over for this one.
    ticks_missed  integer NOT NULL DEFAULT 0,
    reason        text,
    -- The dispatcher that took the tick (its host and pid), and when.
    taken_by      text NOT NULL,
    taken_at      timestamptz NOT NULL,
    PRIMARY KEY (schedule_id, tick_at)
);

-- A schedule's latest runs, and its latest FIRED one (the overlap check, `schedule show`).
CREATE INDEX schedule_runs_latest ON schedule_runs (schedule_id, tick_at DESC);
