//! Refused rotation steps change nothing.

use super::keys::{
    first_key_id, install_key_file, key_ids, mode, sealing_key_ids, secrets, succeeded, text,
};
use anyhow::Result;
use netraven_tests::TestEnv;
use uuid::Uuid;

/// The refusals that need no job: `rotate` waiting for a worker that never loads the new
/// key, a reseal whose credentials cannot all be opened (the key file is put back), and
/// retiring the sealing key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_steps_change_nothing() -> Result<()> {
    let env = TestEnv::new().await?;
    let old_id = env
        .key_line
        .split(' ')
        .next()
        .unwrap_or_default()
        .to_string();
    let key_file = env.dir.path().join("ring.key");
    install_key_file(&key_file, &format!("{}\n", env.key_line))?;
    let client = env.pool.get().await?;
    let sealed = env.keyring.seal(&"s3cret-value".into())?;
    client
        .execute(
            "INSERT INTO credentials (name, username, sealed_secret) VALUES ('tacacs', 'netops', $1)",
            &[&sealed],
        )
        .await?;
    // A worker on a host nobody updates: it reports the old key only, every second.
    let stuck = Uuid::new_v4();
    client
        .execute(
            "INSERT INTO worker_key_reports (worker_id, worker, key_ids, report_interval_ms) \
             VALUES ($1, 'forgotten-host:4242', $2, 60000)",
            &[&stuck, &vec![old_id.clone()]],
        )
        .await?;

    let out = secrets(&env, &key_file, &["rotate", "--wait-secs", "1"])?;
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "rotate must stop: {stderr}");
    assert!(
        stderr.contains("forgotten-host:4242") && stderr.contains("netraven secrets reseal"),
        "{stderr}"
    );
    let ring = key_ids(&key_file)?;
    assert_eq!(ring.len(), 2, "the new key is in the ring: {ring:?}");
    assert_eq!(ring[0], old_id, "and does not seal");
    let new_id = ring[1].clone();
    assert_eq!(sealing_key_ids(&env).await?, vec![old_id.clone()]);

    // The worker goes away (its report is removed); a credential sealed with a key this
    // ring does not hold makes the reseal fail as a whole, and the file is put back.
    client
        .execute(
            "DELETE FROM worker_key_reports WHERE worker_id = $1",
            &[&stuck],
        )
        .await?;
    let stranger = netraven_shared::sealing::KeyRing::parse(
        &netraven_shared::sealing::KeyRing::generate_line()?,
    )?;
    client
        .execute(
            "INSERT INTO credentials (name, username, sealed_secret) VALUES ('elsewhere', 'x', $1)",
            &[&stranger.seal(&"0ther-plaintext-77".into())?],
        )
        .await?;
    let out = secrets(&env, &key_file, &["reseal"])?;
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "reseal must fail: {stderr}");
    assert!(
        stderr.contains("\"elsewhere\"") && stderr.contains("is as it was"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("s3cret-value") && !stderr.contains("0ther-plaintext-77"),
        "{stderr}"
    );
    assert_eq!(first_key_id(&key_file)?, old_id, "the file is put back");
    assert_eq!(mode(&key_file)?, 0o600);
    assert_eq!(
        client
            .query_one("SELECT count(*) FROM sealing_keys", &[])
            .await?
            .get::<_, i64>(0),
        0
    );

    client
        .execute("DELETE FROM credentials WHERE name = 'elsewhere'", &[])
        .await?;
    let out = succeeded(&secrets(&env, &key_file, &["reseal"])?, "reseal")?;
    assert!(out.contains("re-sealed 1 credentials"), "{out}");
    assert!(out.contains("no worker is running"), "{out}");
    assert_eq!(first_key_id(&key_file)?, new_id);

    let out = secrets(&env, &key_file, &["retire", &new_id])?;
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("is the sealing key"), "{stderr}");
    let out = secrets(&env, &key_file, &["retire", "no-such-key"])?;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("holds no key"),
        "{}",
        text(&out.stderr)
    );
    // No credential and no open job under the old key: it goes.
    let out = succeeded(&secrets(&env, &key_file, &["retire", &old_id])?, "retire")?;
    assert!(out.contains(&format!("retired key {old_id}")), "{out}");
    assert_eq!(key_ids(&key_file)?, vec![new_id]);
    assert_eq!(mode(&key_file)?, 0o600);
    drop(client);
    Ok(())
}
