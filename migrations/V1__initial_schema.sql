-- NetRaven fleet: the whole data model of DESIGN.md.

CREATE TABLE tags (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    description text,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE devices (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    host       text NOT NULL,
    port       integer NOT NULL DEFAULT 22 CHECK (port BETWEEN 1 AND 65535),
    platform   text NOT NULL,
    enabled    boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE device_tags (
    device_id bigint NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    tag_id    bigint NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    PRIMARY KEY (device_id, tag_id)
);
CREATE INDEX device_tags_by_tag ON device_tags (tag_id, device_id);

CREATE TABLE credentials (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL UNIQUE,
    username        text NOT NULL,
    -- nrv1:<key id>:<base64>: sealed with the key ring, never plaintext.
    sealed_secret   text NOT NULL CHECK (sealed_secret LIKE 'nrv1:%'),
    priority        integer NOT NULL DEFAULT 100,
    enabled         boolean NOT NULL DEFAULT true,
    success_count   bigint NOT NULL DEFAULT 0,
    failure_count   bigint NOT NULL DEFAULT 0,
    -- successes / attempts, NULL until the first attempt.
    success_rate    double precision,
    last_used_at    timestamptz,
    last_success_at timestamptz,
    last_failure_at timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE credential_tags (
    credential_id bigint NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
    tag_id        bigint NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    PRIMARY KEY (credential_id, tag_id)
);
CREATE INDEX credential_tags_by_tag ON credential_tags (tag_id, credential_id);

-- The credential that last logged in to a device: tried first next time.
CREATE TABLE device_credential_affinity (
    device_id     bigint PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    credential_id bigint NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
    succeeded_at  timestamptz NOT NULL
);

CREATE TABLE host_keys (
    device_id     bigint PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    algorithm     text NOT NULL,
    public_key    text NOT NULL,
    fingerprint   text NOT NULL,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE jobs (
    id                    uuid PRIMARY KEY,
    request_id            text NOT NULL UNIQUE,
    job_type              text NOT NULL,
    request               jsonb NOT NULL,
    submitted_by          text,
    status                text NOT NULL CHECK (status IN (
        'PENDING', 'RUNNING', 'FAILED_INVALID_REQUEST', 'COMPLETED_NO_DEVICES',
        'FAILED_CREDENTIAL_RESOLUTION', 'COMPLETED_NO_CREDENTIALS', 'FAILED_DISPATCHER_ERROR',
        'COMPLETED_SUCCESS', 'COMPLETED_FAILURE', 'COMPLETED_PARTIAL_FAILURE', 'FAILED_UNEXPECTED')),
    total_devices         integer NOT NULL DEFAULT 0,
    completed_devices     integer NOT NULL DEFAULT 0,
    succeeded_devices     integer NOT NULL DEFAULT 0,
    no_credential_devices integer NOT NULL DEFAULT 0,
    published_tasks       integer NOT NULL DEFAULT 0,
    -- The devices the job resolved to: the sweeper marks those without a result LOST.
    device_ids            bigint[] NOT NULL DEFAULT '{}',
    error                 text,
    created_at            timestamptz NOT NULL DEFAULT now(),
    started_at            timestamptz,
    finished_at           timestamptz,
    deadline_at           timestamptz NOT NULL,
    CHECK (completed_devices <= total_devices)
);
CREATE INDEX jobs_open_by_deadline ON jobs (deadline_at) WHERE status IN ('PENDING', 'RUNNING');
CREATE INDEX jobs_by_created ON jobs (created_at DESC);

-- One row per job and device: a redelivered task cannot record twice.
CREATE TABLE job_results (
    job_id        uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    device_id     bigint NOT NULL,
    device_name   text NOT NULL,
    outcome       text NOT NULL CHECK (outcome IN (
        'SUCCESS', 'AUTH_FAILED', 'UNREACHABLE', 'TIMEOUT', 'HOST_KEY_MISMATCH', 'COMMAND_FAILED',
        'NO_CREDENTIALS', 'DEAD_LETTERED', 'LOST', 'INTERNAL_ERROR')),
    reason        text NOT NULL DEFAULT '',
    credential_id bigint,
    attempts      integer NOT NULL DEFAULT 0,
    duration_ms   bigint NOT NULL DEFAULT 0,
    config_sha256 text,
    worker        text,
    finished_at   timestamptz NOT NULL DEFAULT now(),
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, device_id)
);
CREATE INDEX job_results_by_device ON job_results (device_id, finished_at DESC);

CREATE TABLE credential_attempts (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id        uuid NOT NULL,
    device_id     bigint NOT NULL,
    credential_id bigint NOT NULL,
    attempt       smallint NOT NULL,
    -- SUCCESS, REJECTED (the device refused the secret) or ERROR (the attempt could not finish).
    outcome       text NOT NULL CHECK (outcome IN ('SUCCESS', 'REJECTED', 'ERROR')),
    duration_ms   integer NOT NULL,
    attempted_at  timestamptz NOT NULL
);
CREATE INDEX credential_attempts_by_job ON credential_attempts (job_id, device_id);
CREATE INDEX credential_attempts_by_credential ON credential_attempts (credential_id, attempted_at);

CREATE TABLE job_logs (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id     uuid NOT NULL,
    device_id  bigint,
    level      text NOT NULL CHECK (level IN ('DEBUG', 'INFO', 'WARN', 'ERROR')),
    message    text NOT NULL,
    data       jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX job_logs_by_job ON job_logs (job_id, id);
CREATE INDEX job_logs_by_created ON job_logs (created_at);

-- Outputs of `command` jobs, one row per command.
CREATE TABLE command_outputs (
    job_id      uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    device_id   bigint NOT NULL,
    seq         smallint NOT NULL,
    command     text NOT NULL,
    output      text NOT NULL,
    exit_status integer,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, device_id, seq)
);

-- Configuration snapshots keyed by SHA-256: an unchanged configuration adds no copy.
CREATE TABLE device_configs (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id     bigint NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    sha256        text NOT NULL,
    content       text NOT NULL,
    size_bytes    integer NOT NULL,
    first_job_id  uuid,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (device_id, sha256)
);
CREATE INDEX device_configs_latest ON device_configs (device_id, last_seen_at DESC);
