-- A credential may carry its own privileged-mode (enable) secret, apart from the secret
-- that logs in: sealed with the key ring like every secret (nrv1:<key id>:<base64>),
-- NULL when the credential has none (the device's enable prompt, if it shows one, is
-- then answered with the login password, as before).
--
-- A login that was accepted but whose enable was refused is recorded as its own attempt
-- outcome, ENABLE_REFUSED: the username and password were right, the enable secret was
-- not. The views count it as a verdict against the credential, as REJECTED is.
ALTER TABLE credentials
    ADD COLUMN sealed_enable text CHECK (sealed_enable LIKE 'nrv1:%');

ALTER TABLE credential_attempts DROP CONSTRAINT credential_attempts_outcome_check;
ALTER TABLE credential_attempts
    ADD CONSTRAINT credential_attempts_outcome_check
    CHECK (outcome IN ('SUCCESS', 'REJECTED', 'ERROR', 'ENABLE_REFUSED'));
