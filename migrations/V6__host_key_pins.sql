-- Host keys pinned by an operator (`netraven device host-key pin`), beside those a worker
-- pins on first contact under `accept-new`.
--
-- `source` says where a pin came from: `first-use` (a worker), `known-hosts` (an OpenSSH
-- known_hosts file) or `fingerprint`. A pin by fingerprint has no key: its `public_key`
-- is the fingerprint itself (`SHA256:...`), which is what the dispatcher puts in the task
-- and the worker compares with the fingerprint of the key the device presents; its
-- `algorithm` is unknown (NULL). Every other pin is an OpenSSH public key line.

ALTER TABLE host_keys ALTER COLUMN algorithm DROP NOT NULL;

ALTER TABLE host_keys ADD COLUMN source text NOT NULL DEFAULT 'first-use'
    CHECK (source IN ('first-use', 'known-hosts', 'fingerprint'));

ALTER TABLE host_keys ADD CONSTRAINT host_keys_pin_form CHECK (
    CASE WHEN source = 'fingerprint'
         THEN public_key = fingerprint AND public_key LIKE 'SHA256:%' AND algorithm IS NULL
         ELSE public_key NOT LIKE 'SHA256:%' AND algorithm IS NOT NULL
    END);
