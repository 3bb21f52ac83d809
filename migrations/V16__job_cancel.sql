-- Cancelling a job (`netraven job cancel`, the `cancel` message): who asked, when and why,
-- and the final status CANCELLED. Devices a worker had not started when the cancel came
-- are recorded with the outcome CANCELLED (never contacted); devices in progress finish.

ALTER TABLE jobs
    ADD COLUMN cancel_requested_at timestamptz,
    -- The broker-validated AMQP user_id of the canceller (never a field of the message).
    ADD COLUMN cancelled_by        text,
    ADD COLUMN cancel_reason       text,
    ADD CONSTRAINT jobs_cancel_recorded
        CHECK ((cancel_requested_at IS NULL) = (cancelled_by IS NULL));

ALTER TABLE jobs DROP CONSTRAINT jobs_status_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_status_check CHECK (status IN (
    'PENDING', 'RUNNING', 'FAILED_INVALID_REQUEST', 'COMPLETED_NO_DEVICES',
    'FAILED_CREDENTIAL_RESOLUTION', 'COMPLETED_NO_CREDENTIALS', 'FAILED_DISPATCHER_ERROR',
    'COMPLETED_SUCCESS', 'COMPLETED_FAILURE', 'COMPLETED_PARTIAL_FAILURE', 'FAILED_UNEXPECTED',
    'FAILED_NOT_PERMITTED', 'CANCELLED'));

ALTER TABLE job_results DROP CONSTRAINT job_results_outcome_check;
ALTER TABLE job_results ADD CONSTRAINT job_results_outcome_check CHECK (outcome IN (
    'SUCCESS', 'AUTH_FAILED', 'UNREACHABLE', 'TIMEOUT', 'HOST_KEY_MISMATCH', 'COMMAND_FAILED',
    'NO_CREDENTIALS', 'DEAD_LETTERED', 'LOST', 'INTERNAL_ERROR', 'CANCELLED'));
