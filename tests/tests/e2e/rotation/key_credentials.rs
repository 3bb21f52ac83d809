//! A rotation covers every sealed value of a credential: its password, its enable secret,
//! its private key and the key's passphrase are each re-sealed under the new key (and still open to what
//! they were), an absent one stays absent, and `retire` waits for a private key or a
//! passphrase still sealed with the old key as it waits for a password.

use super::keys::{first_key_id, install_key_file, key_ids, secrets, succeeded, text};
use anyhow::Result;
use netraven_shared::sealing::KeyRing;
use netraven_tests::TestEnv;
use secrecy::ExposeSecret;

const COLUMNS: [&str; 4] = [
    "sealed_secret",
    "sealed_enable",
    "sealed_key",
    "sealed_key_passphrase",
];

/// (name, the four sealed columns) of every credential, by name.
async fn sealed(env: &TestEnv) -> Result<Vec<(String, [Option<String>; 4])>> {
    let client = env.pool.get().await?;
    Ok(client
        .query(
            "SELECT name, sealed_secret, sealed_enable, sealed_key, sealed_key_passphrase \
             FROM credentials ORDER BY name",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), [r.get(1), r.get(2), r.get(3), r.get(4)]))
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reseal_and_retire_cover_keys_and_passphrases() -> Result<()> {
    let env = TestEnv::new().await?;
    let old_id = env
        .key_line
        .split(' ')
        .next()
        .unwrap_or_default()
        .to_string();
    let key_file = env.dir.path().join("ring.key");
    install_key_file(&key_file, &format!("{}\n", env.key_line))?;
    let seal = |s: &str| env.keyring.seal(&s.into());
    let client = env.pool.get().await?;
    // Key text stands in for a key: reseal opens and seals, it does not decode.
    client
        .execute(
            "INSERT INTO credentials (name, username, sealed_secret, sealed_key, \
             sealed_key_passphrase, key_fingerprint, sealed_enable) VALUES \
             ('key-only', 'a', NULL, $1, $2, 'ssh-ed25519 SHA256:x', NULL), \
             ('both', 'b', $3, $4, NULL, 'ssh-ed25519 SHA256:y', $6), \
             ('password', 'c', $5, NULL, NULL, NULL, NULL)",
            &[
                &seal("key-only-key-text")?,
                &seal("key-only-passphrase")?,
                &seal("both-password")?,
                &seal("both-key-text")?,
                &seal("password-password")?,
                &seal("both-enable")?,
            ],
        )
        .await?;
    let before = sealed(&env).await?;

    succeeded(&secrets(&env, &key_file, &["add-key"])?, "add-key")?;
    let new_id = key_ids(&key_file)?[1].clone();
    let out = succeeded(&secrets(&env, &key_file, &["reseal"])?, "reseal")?;
    assert!(out.contains("re-sealed 3 credentials"), "{out}");
    assert_eq!(first_key_id(&key_file)?, new_id);

    let ring = KeyRing::load(&key_file)?;
    let after = sealed(&env).await?;
    for ((name, was), (_, now)) in before.iter().zip(&after) {
        for (i, column) in COLUMNS.iter().enumerate() {
            match (&was[i], &now[i]) {
                (None, None) => {}
                (Some(was), Some(now)) => {
                    assert!(
                        now.starts_with(&format!("nrv1:{new_id}:")),
                        "{name}.{column} re-sealed"
                    );
                    assert_eq!(
                        ring.open(now)?.expose_secret(),
                        env.keyring.open(was)?.expose_secret(),
                        "{name}.{column} opens to what it was"
                    );
                }
                other => panic!("{name}.{column}: {other:?}"),
            }
        }
    }

    // A passphrase still sealed with the old key (a credential written by an old import)
    // keeps the old key: retire refuses and names the credential.
    client
        .execute(
            "UPDATE credentials SET sealed_key_passphrase = $1 WHERE name = 'key-only'",
            &[&seal("key-only-passphrase")?],
        )
        .await?;
    let refused = secrets(&env, &key_file, &["retire", &old_id])?;
    let stderr = text(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(stderr.contains("key-only"), "{stderr}");
    assert!(!stderr.contains("key-only-passphrase"), "{stderr}");
    // So does an enable secret.
    client
        .execute(
            "UPDATE credentials SET sealed_enable = $1 WHERE name = 'both'",
            &[&seal("both-enable")?],
        )
        .await?;
    let refused = secrets(&env, &key_file, &["retire", &old_id])?;
    let stderr = text(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("both"),
        "{stderr}"
    );
    assert!(!stderr.contains("both-enable"), "{stderr}");
    let out = succeeded(&secrets(&env, &key_file, &["reseal"])?, "reseal again")?;
    assert!(out.contains("re-sealed 2 credentials"), "{out}");
    succeeded(&secrets(&env, &key_file, &["retire", &old_id])?, "retire")?;
    assert_eq!(key_ids(&key_file)?, vec![new_id]);
    Ok(())
}
