-- A job request the submitter may not make (job type, command, host-key policy) or whose
-- commands hold control characters is recorded with its own final status.
ALTER TABLE jobs DROP CONSTRAINT jobs_status_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_status_check CHECK (status IN (
    'PENDING', 'RUNNING', 'FAILED_INVALID_REQUEST', 'COMPLETED_NO_DEVICES',
    'FAILED_CREDENTIAL_RESOLUTION', 'COMPLETED_NO_CREDENTIALS', 'FAILED_DISPATCHER_ERROR',
    'COMPLETED_SUCCESS', 'COMPLETED_FAILURE', 'COMPLETED_PARTIAL_FAILURE', 'FAILED_UNEXPECTED',
    'FAILED_NOT_PERMITTED'));
