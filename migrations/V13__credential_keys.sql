-- Key credentials: a credential may hold an SSH private key instead of, or as well as, a
-- password.
--
-- `sealed_key` is the private key's text (OpenSSH, PEM or PKCS#8, as the operator gave it),
-- and `sealed_key_passphrase` the passphrase that decrypts it, each sealed with the key ring
-- like the password: `nrv1:<key id>:<base64>`, never plaintext. `key_fingerprint` is public
-- (the key's algorithm and its SHA256 fingerprint, `ssh-ed25519 SHA256:...`), for display
-- only: it is computed at import, when the key is decoded.
-- A credential holds a password, a key, or both; a passphrase only with a key.
ALTER TABLE credentials ALTER COLUMN sealed_secret DROP NOT NULL;
ALTER TABLE credentials
    ADD COLUMN sealed_key text CHECK (sealed_key LIKE 'nrv1:%'),
    ADD COLUMN sealed_key_passphrase text CHECK (sealed_key_passphrase LIKE 'nrv1:%'),
    ADD COLUMN key_fingerprint text,
    ADD CONSTRAINT credentials_password_or_key
        CHECK (sealed_secret IS NOT NULL OR sealed_key IS NOT NULL),
    ADD CONSTRAINT credentials_passphrase_with_key
        CHECK (sealed_key_passphrase IS NULL OR sealed_key IS NOT NULL),
    ADD CONSTRAINT credentials_fingerprint_with_key
        CHECK ((key_fingerprint IS NULL) = (sealed_key IS NULL));
