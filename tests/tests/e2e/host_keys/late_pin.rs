//! A worker honours a fingerprint pin made after dispatch.

use super::devices::{fingerprint, host_key, ok};
use netraven_tests::TestEnv;

/// A pin by fingerprint stored while a worker was connecting under `accept-new` (the task
/// carried no pin): the worker's own pin request returns the operator's fingerprint, which
/// accepts the matching key and refuses any other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_honours_a_fingerprint_pin_made_after_dispatch() -> anyhow::Result<()> {
    use netraven_worker::ssh::{pin_accepts, PresentedKey};
    let env = TestEnv::new().await?;
    let client = env.pool.get().await?;
    client
        .execute(
            "INSERT INTO devices (name, host, port, platform) VALUES ('late', '127.0.0.1', 25899, 'linux')",
            &[],
        )
        .await?;
    let line = |k: &str| format!("ssh-ed25519 {k}");
    let ours = line("AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl");
    let other = line("AAAAC3NzaC1lZDI1NTE5AAAAILM+rvN+ot98qgEN796jTiQfszSJ/4ObMqCRANc2dVQh");
    let presented = |l: &str| PresentedKey {
        algorithm: "ssh-ed25519".into(),
        public_key: l.to_string(),
        fingerprint: fingerprint(l),
    };
    ok(host_key(
        &env,
        &["pin", "late", "--fingerprint", &fingerprint(&ours)],
    )?);
    let id: i64 = client
        .query_one("SELECT id FROM devices WHERE name = 'late'", &[])
        .await?
        .get(0);
    let pinner = netraven_worker::persist::Pinner::start(env.pool.clone());
    let stored = pinner
        .pin(id, &presented(&ours))
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(stored, fingerprint(&ours), "the operator's pin stands");
    assert!(pin_accepts(&stored, &presented(&ours)).is_ok());
    assert!(pin_accepts(&stored, &presented(&other)).is_err());
    let again = pinner
        .pin(id, &presented(&other))
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(again, stored, "another key never replaces it");
    let row = ok(host_key(&env, &["list", "late"])?);
    assert_eq!(row[0]["source"], "fingerprint", "{row}");
    drop(client);
    Ok(())
}
